"""Merkle inclusion proofs, signed checkpoints, trusted-root parsing and DSSE PAE, against reference
constructions and the real fixtures."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from core.errors import CheckFailed, InputError
from core.sigstore.bundle import parse_bundle
from core.sigstore.checkpoint import verify_checkpoint
from core.sigstore.dsse import pae
from core.sigstore.encoding import b64
from core.sigstore.merkle import leaf_hash, verify_inclusion
from core.sigstore.trusted_root import ALWAYS, LogInstance, load_trusted_root, parse_trusted_root
from tests.support.sigstore_factory import FakeSigstore
from tests.support.sigstore_fixtures import CONFORMANCE, OCI_BUNDLE


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 Merkle Tree Hash, written from the RFC's recursive definition."""
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n])."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if m < k:
        return _path(m, leaves[:k]) + [_mth(leaves[k:])]
    return _path(m - k, leaves[k:]) + [_mth(leaves[:k])]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 13])
def test_inclusion_proofs_for_every_leaf_of_small_trees(size):
    leaves = [bytes([i]) * (i + 1) for i in range(size)]
    root = _mth(leaves)
    for index in range(size):
        proof = tuple(_path(index, leaves))
        verify_inclusion(index=index, tree_size=size, leaf=leaf_hash(leaves[index]), proof=proof, root=root)
        with pytest.raises(CheckFailed):
            verify_inclusion(index=index, tree_size=size, leaf=leaf_hash(b"other"), proof=proof, root=root)
        if size > 1:
            with pytest.raises(CheckFailed):
                verify_inclusion(index=(index + 1) % size, tree_size=size, leaf=leaf_hash(leaves[index]),
                                 proof=proof, root=root)
            with pytest.raises(CheckFailed):
                verify_inclusion(index=index, tree_size=size, leaf=leaf_hash(leaves[index]), proof=proof[:-1],
                                 root=root)


def test_inclusion_proof_rejects_index_outside_tree():
    with pytest.raises(CheckFailed, match="outside a tree"):
        verify_inclusion(index=5, tree_size=5, leaf=b"\0" * 32, proof=(), root=b"\0" * 32)


def test_real_checkpoint_verifies_and_a_changed_one_does_not():
    bundle = parse_bundle((OCI_BUNDLE / "oci-attestation.sigstore.json").read_bytes())
    root = load_trusted_root(OCI_BUNDLE / "trusted_root_pgi.json")
    entry = bundle.tlog_entries[0]
    log = root.tlog(entry.log_id)
    checkpoint = verify_checkpoint(entry.inclusion_proof.checkpoint, log)
    assert checkpoint.tree_size == entry.inclusion_proof.tree_size == 53604735
    assert checkpoint.origin.startswith("rekor.sigstore.dev")
    lines = entry.inclusion_proof.checkpoint.split("\n")
    lines[1] = str(int(lines[1]) + 1)
    with pytest.raises(CheckFailed, match="no valid signature"):
        verify_checkpoint("\n".join(lines), log)
    with pytest.raises(CheckFailed, match="no signature block"):
        verify_checkpoint(lines[0] + "\n", log)


def test_checkpoint_signed_by_another_key_is_refused():
    ours, theirs = FakeSigstore(), FakeSigstore()
    log = parse_trusted_root(ours.trusted_root()).tlogs[0]
    with pytest.raises(CheckFailed, match="no valid signature"):
        verify_checkpoint(theirs.checkpoint(1, b"\1" * 32), log)
    assert verify_checkpoint(ours.checkpoint(1, b"\1" * 32), log).root_hash == b"\1" * 32


def test_production_trusted_root_has_every_instance_with_windows():
    root = load_trusted_root(CONFORMANCE / "trusted_root.production.json")
    assert len(root.tlogs) == 2 and len(root.certificate_authorities) == 2
    assert len(root.ctlogs) == 2 and len(root.timestamp_authorities) == 1
    first_ca = root.certificate_authorities[0]
    assert first_ca.validity.contains(datetime(2022, 6, 1, tzinfo=timezone.utc))
    assert not first_ca.validity.contains(datetime(2023, 1, 1, tzinfo=timezone.utc))
    assert root.tlogs[0].log_id.hex().startswith("c0d23d6a")
    with pytest.raises(CheckFailed, match="not in the trusted root"):
        root.tlog(b"\0" * 32)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(mediaType="application/json"), "unsupported mediaType"),
    (lambda d: d["tlogs"][0]["publicKey"].update(rawBytes="bm90IGEga2V5"), "not a PEM or DER public key"),
    (lambda d: d["certificateAuthorities"][0]["validFor"].update(start="yesterday"), "RFC 3339"),
    (lambda d: d["certificateAuthorities"][0]["certChain"].update(certificates=[]), "certChain must hold"),
])
def test_malformed_trusted_root_is_an_input_error_naming_the_file(tmp_path, change, message):
    doc = json.loads((CONFORMANCE / "trusted_root.production.json").read_text())
    change(doc)
    path = tmp_path / "root.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=message) as info:
        load_trusted_root(path)
    assert str(path) in str(info.value)


def test_dsse_pae_matches_the_spec_example():
    # secure-systems-lab/dsse protocol.md example.
    assert pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_base64_with_line_breaks_is_accepted_like_go_but_junk_is_not():
    assert b64("aGVs\nbG8=", "x") == b"hello"
    with pytest.raises(CheckFailed, match="not valid base64"):
        b64("aGVs*bG8=", "x")


def test_ed25519_checkpoint_key_hint_follows_signed_note_spec():
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    hint = hashlib.sha256(b"log.test\n\x01" + raw).digest()[:4]
    body = "log.test\n3\n" + base64.b64encode(b"\2" * 32).decode() + "\n"
    note = body + "\n\u2014 log.test " + base64.b64encode(hint + key.sign(body.encode())).decode() + "\n"
    log = LogInstance(log_id=b"\x09" * 32, key=key.public_key(), validity=ALWAYS)
    assert verify_checkpoint(note, log).tree_size == 3
