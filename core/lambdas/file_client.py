"""The demo's Lambda: the three calls Signet makes, answered from a JSON file, without AWS.

`[aws] demo_lambda = FILE` makes `core.lambdas.client.lambda_client(config, target)` return this
instead of a boto3 client, so the inventory, verification and the release gate run their ordinary
code over it. Answers are shaped like boto3's, and refusals are botocore `ClientError`s with Lambda's
error codes. `update_function_code` takes digest-pinned image URIs only (the gate always deploys
one); the file is rewritten atomically under a lock.

File: {"functions": [{"FunctionName", "FunctionArn", "Region", "PackageType", "ImageUri",
"ResolvedImageUri", "RevisionId"}, ...]}.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterator

from botocore.exceptions import ClientError

from core.locked_json_file import load_json_file, locked_update, save_json_file
from core.errors import AwsError, InputError
from core.registry.reference import parse_reference

MAX_FILE_BYTES = 16 * 1024 * 1024


def write_functions_file(path: Path, functions: list[dict[str, Any]]) -> None:
    save_json_file(Path(path), {"functions": functions})


class FileLambdaClient:
    """A Lambda client for one region over the demo's functions file."""

    def __init__(self, path: Path, region: str) -> None:
        self.path = Path(path)
        self.region = region

    def get_paginator(self, operation: str) -> "_Paginator":
        if operation != "list_functions":
            raise AwsError(f"the demo Lambda does not answer {operation}")
        return _Paginator(self)

    def get_function(self, FunctionName: str) -> dict[str, Any]:  # noqa: N803 (boto3's argument names)
        found = self._find(self._load(), FunctionName, "GetFunction")
        return {"Configuration": _configuration(found),
                "Code": {"RepositoryType": "ECR", "ImageUri": found["ImageUri"],
                         "ResolvedImageUri": found.get("ResolvedImageUri", "")}}

    def update_function_code(self, FunctionName: str, ImageUri: str) -> dict[str, Any]:  # noqa: N803
        try:
            pinned = parse_reference(ImageUri, default_tag=None).digest
        except InputError as exc:
            raise _error("InvalidParameterValueException", str(exc), "UpdateFunctionCode") from None
        if not pinned:
            raise _error("InvalidParameterValueException", "the demo Lambda deploys digest-pinned image URIs only",
                         "UpdateFunctionCode")
        with locked_update(self.path, self._load) as doc:
            found = self._find(doc, FunctionName, "UpdateFunctionCode")
            found.update(ImageUri=ImageUri, ResolvedImageUri=ImageUri, RevisionId=str(uuid.uuid4()))
        return {**_configuration(found), "RevisionId": found["RevisionId"]}

    def functions(self) -> list[dict[str, Any]]:
        return [f for f in self._load()["functions"] if f.get("Region") == self.region]

    def _find(self, doc: dict[str, Any], name: str, operation: str) -> dict[str, Any]:
        functions: list[dict[str, Any]] = doc["functions"]
        for function in functions:
            if function.get("Region") == self.region and name in (function.get("FunctionName"),
                                                                  function.get("FunctionArn")):
                return function
        raise _error("ResourceNotFoundException", f"Function not found: {name}", operation)

    def _load(self) -> dict[str, Any]:
        doc = load_json_file(self.path, max_bytes=MAX_FILE_BYTES, error=lambda why: AwsError(f"demo Lambda: {why}"))
        if not isinstance(doc.get("functions"), list):
            raise AwsError(f"demo Lambda: {self.path} is not a functions file")
        return doc


class _Paginator:
    def __init__(self, client: FileLambdaClient) -> None:
        self.client = client

    def paginate(self) -> Iterator[dict[str, Any]]:
        yield {"Functions": [_configuration(f) for f in self.client.functions()]}


def _configuration(function: dict[str, Any]) -> dict[str, Any]:
    return {key: function.get(key, "") for key in ("FunctionName", "FunctionArn", "PackageType", "RevisionId")}


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)

