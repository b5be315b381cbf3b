"""Which AWS accounts and regions Signet looks at: every configured profile × region.

`[aws] profiles` (empty = the default credential chain) and `[aws] regions` (empty = the profile's
own region, e.g. AWS_DEFAULT_REGION or the profile's `region`). Endpoints follow boto3's usual
chain, so AWS_ENDPOINT_URL (moto, LocalStack) is honoured. Clients come from
`core.aws.client.aws_client` (connect/read timeouts, bounded retries); boto3 clients are
thread-safe once created, sessions are not, so callers create clients before fanning out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from core.aws.client import aws_client
from core.config.model import Config
from core.errors import AwsError, ConfigError

MAX_TARGETS = 200


@dataclass(frozen=True)
class AwsTarget:
    profile: str     # "" = the default credential chain
    region: str

    @property
    def label(self) -> str:
        return f"{self.profile or 'default'}/{self.region}"


def aws_targets(config: Config, *, profile: str | None = None, region: str | None = None) -> list[AwsTarget]:
    profiles = [profile] if profile is not None else list(config.aws.profiles) or [""]
    targets: list[AwsTarget] = []
    for name in profiles:
        regions = [region] if region else list(config.aws.regions) or [_default_region(name)]
        targets.extend(AwsTarget(name, r) for r in regions)
    if len(targets) > MAX_TARGETS:
        raise ConfigError(f"{len(targets)} profile/region pairs; at most {MAX_TARGETS}", field="aws")
    return targets


def client_for(config: Config, service: str, target: AwsTarget) -> Any:
    if service == "lambda" and config.aws.demo_lambda:  # the demo's functions, from a file, no network
        from core.demo.lambda_api import FileLambdaClient

        return FileLambdaClient(Path(config.aws.demo_lambda).expanduser(), target.region)
    return aws_client(service, config.limits, region=target.region, profile=target.profile or None)


def _default_region(profile: str) -> str:
    try:
        region: str | None = boto3.session.Session(profile_name=profile or None).region_name
    except BotoCoreError as exc:
        raise AwsError(f"AWS profile '{profile}': {exc}") from None
    if not region:
        raise ConfigError(f"no region for AWS profile '{profile or 'default'}': set [aws] regions or "
                          "AWS_DEFAULT_REGION", field="aws.regions")
    return region


def aws_reason(exc: Exception) -> str:
    """One line from a botocore error: the service's code and message when it answered."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error") or {}
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}"[:300]
    return str(exc)[:300]
