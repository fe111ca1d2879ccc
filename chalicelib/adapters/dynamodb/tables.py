"""Imports every table module so that TABLE_MODELS is complete."""

from chalicelib.adapters.dynamodb import catalog, customers, notifications, orders  # noqa: F401
from chalicelib.adapters.dynamodb.base import TABLE_MODELS, all_models, bind_models

__all__ = ["TABLE_MODELS", "all_models", "bind_models"]
