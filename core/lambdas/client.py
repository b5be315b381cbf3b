"""The Lambda client for one profile × region: boto3's (`core.aws.accounts.client_for`), or the demo's
functions file when `[aws] demo_lambda` is set (core/lambdas/file_client.py, no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.aws.accounts import client_for
from core.aws.regions import AwsTarget
from core.config.model import Config
from core.lambdas.file_client import FileLambdaClient


def lambda_client(config: Config, target: AwsTarget) -> Any:
    if config.aws.demo_lambda:  # the demo's functions, from a file, no network
        return FileLambdaClient(Path(config.aws.demo_lambda).expanduser(), target.region)
    return client_for(config, "lambda", target)
