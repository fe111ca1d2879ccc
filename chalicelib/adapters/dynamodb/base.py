"""PynamoDB plumbing shared by every table: binding models to the stage, endpoint and region.

Models are declared without a table name; `bind_models` gives them one from the settings, so the same
classes serve every stage and the emulator as well as AWS. Nothing connects at import time.
"""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib.adapters.dynamodb.retry import BOTOCORE_TOTAL_ATTEMPTS
from chalicelib.config import Settings

# Each table's model registers itself here; the bootstrap, infra/ and localstack/ read this list.
TABLE_MODELS: dict[str, type[Model]] = {}


def table(name: str):
    """Class decorator: registers a model as the owner of the table `name` (stage-independent)."""

    def register(model: type[Model]) -> type[Model]:
        TABLE_MODELS[name] = model
        model.Meta.logical_name = name
        return model

    return register


def all_models() -> list[type[Model]]:
    """Every model class bound to a table, including extra item types sharing a table."""
    models = list(TABLE_MODELS.values())
    for owner in list(models):
        models.extend(getattr(owner.Meta, "companions", ()))
    return models


def bind_models(settings: Settings) -> None:
    for name, owner in TABLE_MODELS.items():
        for model in (owner, *getattr(owner.Meta, "companions", ())):
            model.Meta.table_name = settings.table_name(name)
            model.Meta.region = settings.region
            model.Meta.host = settings.aws_endpoint_url
            model.Meta.connect_timeout_seconds = 2
            model.Meta.read_timeout_seconds = 5
            # PynamoDB turns this into botocore's "standard" retry mode with 1 + n attempts in all.
            model.Meta.max_retry_attempts = BOTOCORE_TOTAL_ATTEMPTS - 1
            model.Meta.max_pool_connections = 32
            model._connection = None


