"""Shared fixtures: an isolated Signet home per test, a real registry, moto's server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.processes import RegistryProcess

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """No test reads the developer's real config, database, docker credentials or AWS profile."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("DOCKER_CONFIG", str(home / ".docker"))
    for var in ("SIGNET_DB", "SIGNET_CONFIG", "SIGNET_IDENTITY", "SIGNET_READ_ONLY", "SIGNET_PASSWORD",
                "SIGNET_KEY_STORE", "SIGNET_ENVIRONMENT", "KUBECONFIG", "AWS_PROFILE", "COSIGN_REPOSITORY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws/config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws/credentials"))
    # Loopback only: make sure no proxy variable sends test traffic elsewhere.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return home


@pytest.fixture
def signet_home(tmp_path, monkeypatch):
    """SIGNET_DB and SIGNET_CONFIG pointing into a temporary directory; returns that directory."""
    monkeypatch.setenv("SIGNET_DB", str(tmp_path / "signet.db"))
    monkeypatch.setenv("SIGNET_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("SIGNET_KEY_STORE", str(tmp_path / "keys"))
    return tmp_path


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL 15 server for the session (unix socket only), stopped at the end."""
    from tests.support.postgres import PostgresServer

    server = PostgresServer()
    previous = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = str(server.pgpass)  # test logins' passwords, for every process we start
    try:
        yield server
    finally:
        if previous is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = previous
        server.destroy()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request) -> str:
    """Runs the test once per store backend."""
    return request.param


@pytest.fixture
def store_target(store_backend, tmp_path, request) -> str | Path:
    """Where the test's store lives: a SQLite file path, or the URL of a fresh initialised team database."""
    if store_backend == "sqlite":
        return tmp_path / "signet.db"
    from tests.support.store import fresh_team_database

    return fresh_team_database(request.getfixturevalue("postgres_server"))


@pytest.fixture(scope="session")
def registry_binary() -> str:
    path = shutil.which("docker-registry")
    if path is None:
        pytest.fail("docker-registry is not installed; `make test` installs Debian's docker-registry package")
    return path


@pytest.fixture(scope="session")
def registry_session(registry_binary, tmp_path_factory):
    """One real registry for the whole session (tests use distinct repository names)."""
    proc = RegistryProcess(tmp_path_factory.mktemp("registry"))
    yield proc
    proc.stop()


@pytest.fixture
def registry(registry_binary, tmp_path):
    """A fresh real registry for one test."""
    proc = RegistryProcess(tmp_path / "registry")
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def moto_server():
    """moto's ThreadedMotoServer on a free loopback port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    from tests.support.processes import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_endpoint(moto_server, monkeypatch):
    """boto3 in this test talks to moto's server through the standard AWS_ENDPOINT_URL variable."""
    import httpx

    httpx.post(f"{moto_server}/moto-api/reset", timeout=10)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    return moto_server
