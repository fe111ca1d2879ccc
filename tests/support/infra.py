"""Helpers of the infrastructure tests: the tables as the PynamoDB models declare them (read from the
models' own attributes, not through chalicelib/resources.py), the same shape from CloudFormation,
from a CreateTable call and from DescribeTable, and a tiny `awslocal` for LocalStack's init hook."""

from __future__ import annotations

import contextlib
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


# LocalStack's `awslocal` (the AWS CLI pointed at LocalStack), as far as the init hook uses it:
# `SERVICE OPERATION --flag value...`, `--cli-input-json`, `--query` (JMESPath), `--output text` and
# `dynamodb wait table-exists`. The command on PATH is a stdlib-only client that hands its arguments
# to AwsLocal, which runs them in the test process with one set of boto3 clients: starting boto3 in
# a new process for each of the hook's twenty commands would take most of a minute on a busy machine.


class AwsLocal:
    def __init__(self, endpoint_url: str):
        import boto3

        self._session = boto3.session.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1"
        )
        self._endpoint = endpoint_url
        self._clients: dict = {}

    def _client(self, service: str):
        if service not in self._clients:
            self._clients[service] = self._session.client(service, endpoint_url=self._endpoint)
        return self._clients[service]

    def __call__(self, argv: list[str]) -> tuple[int, str, str]:
        import jmespath
        from botocore.exceptions import ClientError

        service, operation, *rest = argv
        client = self._client(service)
        waiter = None
        if operation == "wait":
            waiter, rest = rest[0].replace("-", "_"), rest[1:]
        params: dict = {}
        query, output = None, "json"
        for flag, value in zip(rest[::2], rest[1::2], strict=True):
            name = flag.removeprefix("--")
            if name == "cli-input-json":
                params.update(json.loads(value))
            elif name == "query":
                query = value
            elif name == "output":
                output = value
            else:
                key = "".join(part.capitalize() for part in name.split("-"))
                if value.startswith("{"):
                    value = json.loads(value)
                elif name == "attribute-names":
                    value = value.split()
                params[key] = value
        try:
            if waiter:
                client.get_waiter(waiter).wait(**params, WaiterConfig={"Delay": 0.2})
                return 0, "", ""
            answer = getattr(client, operation.replace("-", "_"))(**params)
        except ClientError as error:
            return 255, "", f"{error}\n"
        answer.pop("ResponseMetadata", None)
        result = jmespath.search(query, answer) if query else answer
        return 0, (f"{result}\n" if output == "text" else json.dumps(result, default=str) + "\n"), ""


AWSLOCAL_CLIENT = """#!{python} -S
import json, os, socket, sys
with socket.socket(socket.AF_UNIX) as connection:
    connection.connect(os.environ["AWSLOCAL_SOCKET"])
    connection.sendall(json.dumps(sys.argv[1:]).encode() + b"\\n")
    answer = json.loads(connection.makefile("rb").readline())
sys.stdout.write(answer["stdout"])
sys.stderr.write(answer["stderr"])
sys.exit(answer["code"])
"""


@contextlib.contextmanager
def awslocal_on_path(endpoint_url: str, bin_dir: Path):
    """Puts `awslocal` in bin_dir; yields the environment (PATH, AWSLOCAL_SOCKET) to run the hook in."""
    import os
    import socketserver
    import threading

    awslocal = AwsLocal(endpoint_url)

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            code, out, err = awslocal(json.loads(self.rfile.readline()))
            self.wfile.write(json.dumps({"code": code, "stdout": out, "stderr": err}).encode() + b"\n")

    path = bin_dir / "awslocal"
    path.write_text(AWSLOCAL_CLIENT.format(python=sys.executable))
    path.chmod(0o755)
    socket_path = str(bin_dir / "awslocal.sock")
    server = socketserver.UnixStreamServer(socket_path, Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "AWSLOCAL_SOCKET": socket_path}
    finally:
        server.shutdown()
        server.server_close()
