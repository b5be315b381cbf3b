"""AWS clients and error text for the profile × region pairs core/aws/regions.py resolves.

Endpoints follow boto3's usual chain, so AWS_ENDPOINT_URL (moto, LocalStack) is honoured. Clients come from
`core.aws.client.aws_client` (connect/read timeouts, bounded retries); boto3 clients are
thread-safe once created, sessions are not, so callers create clients before fanning out.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from core.aws.client import aws_client
from core.aws.regions import AwsTarget
from core.config.model import Config


def client_for(config: Config, service: str, target: AwsTarget) -> Any:
    return aws_client(service, config.limits, region=target.region, profile=target.profile or None)


def aws_reason(exc: Exception) -> str:
    """One line from a botocore error: the service's code and message when it answered."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error") or {}
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}"[:300]
    return str(exc)[:300]
