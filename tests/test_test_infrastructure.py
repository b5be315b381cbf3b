"""The real parts the rest of the suite relies on actually run here."""

from __future__ import annotations

import boto3
import httpx


def test_registry_fixture_serves_distribution_v2(registry):
    response = httpx.get(f"{registry.url}/v2/", timeout=5)
    assert response.status_code == 200
    assert response.headers.get("Docker-Distribution-Api-Version") == "registry/2.0"
    assert registry.host.startswith("127.0.0.1:")


def test_moto_server_answers_real_boto3_calls(aws_endpoint):
    assert aws_endpoint.startswith("http://127.0.0.1:")
    client = boto3.client("secretsmanager", region_name="us-east-1")
    client.create_secret(Name="probe", SecretString="x")
    assert client.describe_secret(SecretId="probe")["Name"] == "probe"
    assert client.meta.endpoint_url == aws_endpoint
