"""The one way Signet makes a boto3 client: connect/read timeouts from `[limits]`, bounded retries, a
named profile and region when given. Used for Lambda, ECR, KMS and Secrets Manager alike."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError

from core.config.model import LimitsConfig
from core.errors import AwsError


def aws_client(service: str, limits: LimitsConfig, *, region: str | None = None, profile: str | None = None) -> Any:
    """A boto3 client for `service` (typed Any: boto3's clients are generated at run time)."""
    config = BotoConfig(connect_timeout=limits.connect_timeout, read_timeout=limits.read_timeout,
                        retries={"max_attempts": 3, "mode": "standard"})
    try:
        session = boto3.session.Session(profile_name=profile or None)
        return session.client(service, region_name=region or None, config=config)
    except BotoCoreError as exc:
        raise AwsError(f"cannot create the AWS {service} client: {exc}") from None
