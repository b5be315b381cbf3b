"""Property tests: whatever single byte an attacker flips in the payload, the signature or the image
manifest (re-pointing every descriptor and tag so only the cryptography can object), the image never
verifies. A baseline example shows the unflipped layout does verify."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.context import open_context
from core.crypto.public_keys import load_public_key
from core.verify.policy import TrustPolicy
from core.verify.verifier import Verifier
from core.verify.service import verify_image
from tests.support.oci import (OCI_MANIFEST, SignatureLayer, build_image, digest_of, new_key, public_pem,
                               signature_layer, signature_manifest, signature_tag, write_layout)

KEY = new_key()
IMAGE = build_image(b"property layer")
GOOD = signature_layer(KEY, "registry.example/app", IMAGE.digest)
POLICY = Verifier(TrustPolicy(keys=(load_public_key(public_pem(KEY)),)))
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    home = tmp_path_factory.mktemp("props")
    (home / "config.toml").write_text("")
    context = open_context(db=str(home / "db"), config=str(home / "config.toml"))
    yield context
    context.close()


def _verify(ctx, manifest: bytes, layer: SignatureLayer) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        sig_raw, blobs = signature_manifest([layer])
        root = write_layout(Path(tmp), {"v1": (manifest, OCI_MANIFEST),
                                        signature_tag(digest_of(manifest)): (sig_raw, OCI_MANIFEST)}, blobs)
        return verify_image(ctx, f"oci:{root}:v1", POLICY, record=False).result


def _flip(data: bytes, index: int, bit: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([data[index] ^ (1 << bit)]) + data[index + 1:]


def test_unflipped_layout_verifies(ctx):
    assert _verify(ctx, IMAGE.manifest, GOOD) == "verified"


@SETTINGS
@given(index=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_flipped_payload_never_verifies(ctx, index, bit):
    layer = SignatureLayer(_flip(GOOD.payload, index, bit), GOOD.signature)
    assert _verify(ctx, IMAGE.manifest, layer) != "verified"


@SETTINGS
@given(index=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_flipped_signature_never_verifies(ctx, index, bit):
    assert _verify(ctx, IMAGE.manifest, SignatureLayer(GOOD.payload, _flip(GOOD.signature, index, bit))) != "verified"


@SETTINGS
@given(index=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_flipped_manifest_never_verifies(ctx, index, bit):
    # the good signature is copied to the flipped manifest's .sig tag: only the digest claim can object
    assert _verify(ctx, _flip(IMAGE.manifest, index, bit), GOOD) != "verified"
