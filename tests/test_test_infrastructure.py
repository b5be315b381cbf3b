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


def test_postgres_server_is_throwaway_socket_only_and_not_root(postgres_server):
    """The session's PostgreSQL listens on no TCP address, only on a socket in its own temp dir, and
    its processes belong to the `postgres` OS user when the tests run as root (initdb refuses root)."""
    import os
    import pwd

    with postgres_server.admin() as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""
        assert conn.execute("SHOW unix_socket_directories").fetchone()[0] == postgres_server.socket_dir
        assert conn.execute("SELECT split_part(version(), ' ', 2)").fetchone()[0].startswith("15.")
    assert postgres_server.socket_dir.startswith("/tmp/signet-pg-")
    owner = (postgres_server.data / "PG_VERSION").stat().st_uid
    expected = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()
    assert owner == expected
