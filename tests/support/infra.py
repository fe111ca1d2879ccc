"""Helpers of the infrastructure tests: the tables as the PynamoDB models declare them (read from the
models' own attributes, not through chalicelib/resources.py), the same shape from CloudFormation,
from a CreateTable call and from DescribeTable, and a tiny `awslocal` for LocalStack's init hook."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _keys(attributes) -> dict:
    keys = {}
    for name, attribute in attributes:
        if attribute.is_hash_key:
            keys["HASH"] = (attribute.attr_name or name, attribute.attr_type)
        elif attribute.is_range_key:
            keys["RANGE"] = (attribute.attr_name or name, attribute.attr_type)
    return keys


def _index_attributes(index) -> list:
    from pynamodb.attributes import Attribute

    found = {}
    for klass in reversed(type(index).__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Attribute):
                found[name] = value
    return list(found.items())


def model_tables(stage: str) -> dict[str, dict]:
    """{table name: {"keys": {HASH|RANGE: (attr, type)}, "indexes": {name: {"keys", "projection"}}}}"""
    from chalicelib.adapters.dynamodb.tables import TABLE_MODELS
    from chalicelib.config import load_settings

    settings = load_settings({"STAGE": stage})
    tables = {}
    for logical, owner in TABLE_MODELS.items():
        keys = _keys(owner.get_attributes().items())
        for companion in getattr(owner.Meta, "companions", ()):
            assert _keys(companion.get_attributes().items()) == keys, f"{companion.__name__} shares {logical}'s keys"
        indexes = {
            index.Meta.index_name: {
                "keys": _keys(_index_attributes(index)),
                "projection": index.Meta.projection.projection_type,
            }
            for model in (owner, *getattr(owner.Meta, "companions", ()))
            for index in model._indexes.values()
        }
        tables[settings.table_name(logical)] = {"keys": keys, "indexes": indexes}
    return tables


def from_create_table(definition: dict) -> dict:
    """The same shape from CreateTable arguments or CloudFormation AWS::DynamoDB::Table properties."""
    types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}

    def keys(schema):
        return {k["KeyType"]: (k["AttributeName"], types[k["AttributeName"]]) for k in schema}

    used = {k["AttributeName"] for k in definition["KeySchema"]}
    indexes = {}
    for index in definition.get("GlobalSecondaryIndexes", []):
        used |= {k["AttributeName"] for k in index["KeySchema"]}
        indexes[index["IndexName"]] = {
            "keys": keys(index["KeySchema"]),
            "projection": index["Projection"]["ProjectionType"],
        }
    name = definition["TableName"]
    assert set(types) == used, f"{name}: attribute definitions {sorted(types)} != keys {sorted(used)}"
    assert not definition.get("LocalSecondaryIndexes"), "no LSIs: the models declare none"
    return {"keys": keys(definition["KeySchema"]), "indexes": indexes}


def from_described(table: dict) -> dict:
    """The same shape from a DescribeTable answer."""
    return from_create_table(
        {
            "TableName": table["TableName"],
            "AttributeDefinitions": table["AttributeDefinitions"],
            "KeySchema": table["KeySchema"],
            "GlobalSecondaryIndexes": table.get("GlobalSecondaryIndexes", []),
        }
    )


def localstack_table_definitions(script: str) -> list[dict]:
    """The CreateTable JSON of every `table NAME JSON` line of the LocalStack init hook."""
    definitions = []
    for line in script.splitlines():
        if line.startswith("table "):
            _, name, document = shlex.split(line)
            definition = json.loads(document)
            assert definition["TableName"] == name
            definitions.append(definition)
    return definitions


# A few lines standing in for LocalStack's `awslocal` (the AWS CLI pointed at the emulator), enough
# for the commands the init hook uses: `SERVICE OPERATION --flag value...`, `--cli-input-json`,
# `--query` (JMESPath) and `--output text`, and `dynamodb wait table-exists`.
AWSLOCAL = '''#!{python}
import json, os, sys
import boto3, jmespath
from botocore.exceptions import ClientError

service, operation, *rest = sys.argv[1:]
client = boto3.client(service, endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
waiter = None
if operation == "wait":
    waiter, rest = rest[0].replace("-", "_"), rest[1:]
params, query, output = {{}}, None, "json"
for flag, value in zip(rest[::2], rest[1::2]):
    name = flag[2:]
    if name == "cli-input-json":
        params.update(json.loads(value))
    elif name == "query":
        query = value
    elif name == "output":
        output = value
    else:
        key = "".join(part.capitalize() for part in name.split("-"))
        if value.startswith("{{"):
            value = json.loads(value)
        elif name == "attribute-names":
            value = value.split()
        params[key] = value
try:
    if waiter:
        client.get_waiter(waiter).wait(**params, WaiterConfig={{"Delay": 0.2}})
        sys.exit(0)
    answer = getattr(client, operation.replace("-", "_"))(**params)
except ClientError as error:
    print(error, file=sys.stderr)
    sys.exit(255)
answer.pop("ResponseMetadata", None)
result = jmespath.search(query, answer) if query else answer
print(result if output == "text" else json.dumps(result, default=str))
'''


def write_awslocal(bin_dir: Path) -> Path:
    path = bin_dir / "awslocal"
    path.write_text(AWSLOCAL.format(python=sys.executable))
    path.chmod(0o755)
    return path
