"""Real cosign / containers-image signatures give their documented results (tests/fixtures/*/README.md).

The fixtures are loaded byte-for-byte into OCI layout directories (their image manifests reference
blobs that are not part of the fixtures, which a real registry would refuse on push; a layout keeps
the exact bytes, so every digest is the one the signatures name).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from core.context import open_context
from core.crypto.public_keys import load_public_key
from core.verify.policy import TrustArgs, TrustPolicy
from core.verify.verifier import Verifier
from core.verify.service import verify_image
from tests.support.oci import OCI_MANIFEST, SignatureLayer, digest_of, signature_manifest, signature_tag, write_layout

FIXTURES = Path(__file__).parent / "fixtures"
CONNAISSEUR = FIXTURES / "connaisseur-cosign-registry"
TESTIMAGE = CONNAISSEUR / "securesystemsengineering" / "testimage"
CIMAGE = FIXTURES / "containers-image-cosign"
ALICE_DIGEST = "sha256:071bf7a986f1ca9cb2a1f0bc8392822a7777f90d58f2d2c6f271913e08de7c81"
ABC_DIGEST = "sha256:bfec161fecb0a887df7cb85e4da327c65986ccda7060cf3cd92171c6c90d7533"
CIMAGE_DIGEST = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"


@pytest.fixture
def ctx(signet_home):
    context = open_context()
    yield context
    context.close()


def _media_type(raw: bytes) -> str:
    return json.loads(raw).get("mediaType", OCI_MANIFEST)


@pytest.fixture
def connaisseur(tmp_path) -> Path:
    manifests = {}
    for path in (TESTIMAGE / "manifests").glob("*.json"):
        raw = path.read_bytes()
        manifests[path.name.removesuffix(".json")] = (raw, _media_type(raw))
    blobs = [p.read_bytes() for p in (TESTIMAGE / "blobs").glob("*.json")]
    # A replay: alice's signature for 071bf7 placed where bfec16's signatures are looked up.
    replay = tmp_path / "replay"
    write_layout(replay, {"target": manifests["multi-cosigned-alice-bob-charlie"],
                          signature_tag(ABC_DIGEST): manifests[signature_tag(ALICE_DIGEST)]}, blobs)
    return write_layout(tmp_path / "connaisseur", manifests, blobs)


def _keys(*names: str) -> tuple:
    return tuple(load_public_key((CONNAISSEUR / "keys" / f"{n}.pub").read_bytes(), name=n) for n in names)


def test_connaisseur_layout_digests_are_the_documented_ones(ctx, connaisseur):
    policy = Verifier(TrustPolicy(keys=_keys("alice")))
    assert verify_image(ctx, f"oci:{connaisseur}:multi-cosigned-alice", policy).digest == ALICE_DIGEST
    assert verify_image(ctx, f"oci:{connaisseur}:multi-cosigned-alice-bob-charlie", policy).digest == ABC_DIGEST


@pytest.mark.parametrize("tag,keys,threshold,expected", [
    ("multi-cosigned-alice", ("alice",), 1, "verified"),
    ("multi-cosigned-alice", ("bob",), 1, "invalid"),
    ("multi-cosigned-alice-bob-charlie", ("alice", "bob"), 2, "verified"),
    ("multi-cosigned-alice", ("alice", "bob", "charlie"), 3, "invalid"),
    ("multi-cosigned-alice", ("alice", "bob"), 2, "invalid"),  # "required: bob" is missing
    ("co-unsigned", ("alice", "bob", "charlie", "default"), 1, "unsigned"),
])
def test_connaisseur_cases(ctx, connaisseur, tag, keys, threshold, expected):
    verifier = Verifier(TrustPolicy(keys=_keys(*keys), threshold=threshold))
    result = verify_image(ctx, f"oci:{connaisseur}:{tag}", verifier)
    assert result.result == expected, result.reason


def test_connaisseur_three_signers_are_told_apart(ctx, connaisseur):
    result = verify_image(ctx, f"oci:{connaisseur}:multi-cosigned-alice-bob-charlie",
                          Verifier(TrustPolicy(keys=_keys("alice", "bob", "charlie"), threshold=3)))
    assert result.result == "verified"
    by_layer = {c.index: c.key_fingerprint for c in result.signatures}
    assert [by_layer[i] for i in range(3)] == [k.fingerprint for k in _keys("alice", "bob", "charlie")]


def test_connaisseur_replayed_signature_names_another_digest(ctx, connaisseur):
    result = verify_image(ctx, f"oci:{connaisseur.parent / 'replay'}:target",
                          Verifier(TrustPolicy(keys=_keys("alice"))))
    assert result.result == "invalid" and ALICE_DIGEST in result.reason


# --- containers/image ------------------------------------------------------------------------


def _unwrap(path: Path) -> SignatureLayer:
    data = path.read_bytes()
    prefix = b"\x00sigstore-json\n"
    assert data.startswith(prefix)
    doc = json.loads(data[len(prefix):])
    return SignatureLayer(payload=base64.b64decode(doc["payload"]), signature=b"", media_type=doc["mimeType"],
                          annotations=doc["annotations"])


def _cimage_layout(tmp_path: Path, case: str, signature_files: list[Path] | None = None) -> str:
    folder = CIMAGE / case
    manifest = (folder / "manifest.json").read_bytes()
    layers = [_unwrap(p) for p in (signature_files or sorted(folder.glob("signature-*")))]
    sig_raw, blobs = signature_manifest(layers)
    root = write_layout(tmp_path / case, {"image": (manifest, _media_type(manifest)),
                                          signature_tag(digest_of(manifest)): (sig_raw, OCI_MANIFEST)}, blobs)
    return f"oci:{root}:image"


def _cosign_key(name: str = "cosign") -> Verifier:
    return Verifier(TrustPolicy(keys=(load_public_key((CIMAGE / "keys" / f"{name}.pub").read_bytes(), name=name),)))


def test_cimage_valid(ctx, tmp_path):
    result = verify_image(ctx, _cimage_layout(tmp_path, "dir-img-cosign-valid"), _cosign_key())
    assert result.result == "verified" and result.digest == CIMAGE_DIGEST


def test_cimage_two_valid_signatures_same_key(ctx, tmp_path):
    result = verify_image(ctx, _cimage_layout(tmp_path, "dir-img-cosign-valid-2"), _cosign_key())
    assert result.result == "verified" and [c.ok for c in result.signatures] == [True, True]
    assert len(result.matched_keys) == 1


def test_cimage_mixed_one_unknown_key_one_valid(ctx, tmp_path):
    result = verify_image(ctx, _cimage_layout(tmp_path, "dir-img-cosign-mixed"), _cosign_key())
    assert result.result == "verified"
    assert [c.ok for c in result.signatures] == [False, True]
    assert "does not verify with any trusted key" in result.signatures[0].reason


def test_cimage_unknown_key_alone_is_invalid(ctx, tmp_path):
    url = _cimage_layout(tmp_path, "dir-img-cosign-valid", [CIMAGE / "unknown-cosign-key.signature"])
    assert verify_image(ctx, url, _cosign_key()).result == "invalid"


def test_cimage_modified_manifest_is_a_digest_mismatch(ctx, tmp_path):
    result = verify_image(ctx, _cimage_layout(tmp_path, "dir-img-cosign-modified-manifest"), _cosign_key())
    assert result.result == "invalid" and result.digest.startswith("sha256:d9dcafdb")
    assert CIMAGE_DIGEST in result.signatures[0].reason and result.signatures[0].key_fingerprint


def test_cimage_other_attachment_is_not_a_signature(ctx, tmp_path):
    result = verify_image(ctx, _cimage_layout(tmp_path, "dir-img-cosign-other-attachment"), _cosign_key())
    assert result.result == "invalid" and "not a cosign signature layer" in result.reason


def test_cimage_skopeo_made_signature(ctx, tmp_path):
    result = verify_image(ctx, _cimage_layout(tmp_path, "dir-img-cosign-valid-with-tag"), _cosign_key())
    assert result.result == "verified"


def test_cimage_key_signature_with_rekor_bundle(ctx, tmp_path):
    url = _cimage_layout(tmp_path, "dir-img-cosign-key-rekor-valid")
    assert verify_image(ctx, url, _cosign_key("cosign2")).result == "verified"
    assert verify_image(ctx, url, _cosign_key("cosign")).result == "invalid"


def test_key_files_through_policy_for(ctx, tmp_path):
    policy = Verifier.for_args(ctx, TrustArgs(keys=[str(CIMAGE / "keys" / "cosign.pub")]))
    assert verify_image(ctx, _cimage_layout(tmp_path, "dir-img-cosign-valid"), policy).result == "verified"
