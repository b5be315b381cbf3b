"""pytest fixtures shared by the registry-level Sigstore tests (import them into a test module):
our own Fulcio-like CA and log, its trusted_root.json on disk, a context whose clock is months after
every test certificate expired, and the session registry."""

from __future__ import annotations

import pytest

from core.clock import FixedClock
from core.context import open_context
from core.sigstore.certificate_identity import CertificateIdentity
from tests.support.sigstore_factory import T0, FakeSigstore

ALICE = CertificateIdentity(identity="alice@example.com", issuer="https://issuer.example")


@pytest.fixture(scope="module")
def sigstore():
    return FakeSigstore()


@pytest.fixture
def registry(registry_session):
    """One registry for the module: every test uses its own repository."""
    return registry_session


@pytest.fixture
def ctx(signet_home):
    context = open_context()
    context.clock = FixedClock(T0.replace(month=6))  # only signed times can make the test leaves valid
    yield context
    context.close()


@pytest.fixture
def root_file(tmp_path, sigstore):
    path = tmp_path / "trusted_root.json"
    path.write_bytes(sigstore.trusted_root())
    return str(path)
