"""Generated verifier policies: both keys accepted during rotation, deterministic, PEM-pinned."""

from __future__ import annotations

import pytest
import yaml
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from core.crypto.public_keys import load_public_key, public_key_pem, verify_signature
from core.errors import InputError
from core.sign.service import LocalKeySigner
from core.policy.generate import (
    kyverno_cluster_policy,
    policy_key_fingerprints,
    sigstore_cluster_image_policy,
    to_yaml,
)


def _key(name):
    return load_public_key(public_key_pem(ec.generate_private_key(ec.SECP256R1()).public_key()), name=name)


def test_kyverno_policy_lists_both_keys_in_one_attestor_with_count_one():
    old, new = _key("old"), _key("new")
    doc = kyverno_cluster_policy([old, new], name="signet-verify-images", image_globs=["reg.example/*"])
    assert doc["apiVersion"] == "kyverno.io/v1" and doc["kind"] == "ClusterPolicy"
    verify = doc["spec"]["rules"][0]["verifyImages"][0]
    assert verify["imageReferences"] == ["reg.example/*"] and verify["failureAction"] == "Enforce"
    assert len(verify["attestors"]) == 1 and verify["attestors"][0]["count"] == 1
    entries = verify["attestors"][0]["entries"]
    assert {load_public_key(e["keys"]["publicKeys"].encode()).fingerprint for e in entries} == \
        {old.fingerprint, new.fingerprint}
    assert all(e["keys"]["rekor"]["ignoreTlog"] is True for e in entries)
    assert policy_key_fingerprints(doc) == {old.fingerprint, new.fingerprint}


def test_sigstore_policy_has_one_authority_per_key_in_one_cip():
    old, new = _key("old"), _key("new")
    doc = sigstore_cluster_image_policy([new, old, new], name="signet", image_globs=["reg.example/**"], mode="Audit")
    assert doc["apiVersion"] == "policy.sigstore.dev/v1beta1" and doc["kind"] == "ClusterImagePolicy"
    assert doc["spec"]["mode"] == "warn" and doc["spec"]["images"] == [{"glob": "reg.example/**"}]
    authorities = doc["spec"]["authorities"]
    assert len(authorities) == 2  # duplicates collapse
    assert [a["name"] for a in authorities] == sorted(a["name"] for a in authorities)
    assert policy_key_fingerprints(doc) == {old.fingerprint, new.fingerprint}
    assert doc["metadata"]["annotations"]["signet.dev/key-fingerprints"].count(",") == 1


def test_output_is_deterministic_and_valid_multi_document_yaml():
    old, new = _key("old"), _key("new")
    text_a = to_yaml([kyverno_cluster_policy([old, new], name="p", image_globs=["*"]),
                      sigstore_cluster_image_policy([old, new], name="p", image_globs=["*"])])
    text_b = to_yaml([kyverno_cluster_policy([new, old], name="p", image_globs=["*"]),
                      sigstore_cluster_image_policy([new, old], name="p", image_globs=["*"])])
    assert text_a == text_b
    docs = list(yaml.safe_load_all(text_a))
    assert [d["kind"] for d in docs] == ["ClusterPolicy", "ClusterImagePolicy"]
    pem = docs[1]["spec"]["authorities"][0]["key"]["data"]
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")


def test_embedded_key_still_verifies_signatures_of_its_private_key():
    private = ec.generate_private_key(ec.SECP256R1())
    trusted = load_public_key(public_key_pem(private.public_key()))
    doc = sigstore_cluster_image_policy([trusted], name="p", image_globs=["*"])
    embedded = load_public_key(doc["spec"]["authorities"][0]["key"]["data"].encode())
    assert verify_signature(embedded.key, private.sign(b"x", ec.ECDSA(hashes.SHA256())), b"x")


@pytest.mark.parametrize("curve, expected", [(ec.SECP256R1, "sha256"), (ec.SECP384R1, "sha384"),
                                             (ec.SECP521R1, "sha512")])
def test_each_key_names_the_digest_signet_signs_with(curve, expected):
    """Both verifiers default to sha256; a P-384 key signed by Signet (SHA-384, as cosign v3) must say so."""
    private = ec.generate_private_key(curve())
    signature = LocalKeySigner(private).sign(b"payload")
    trusted = load_public_key(public_key_pem(private.public_key()))
    kyverno = kyverno_cluster_policy([trusted], name="p", image_globs=["*"])
    sigstore = sigstore_cluster_image_policy([trusted], name="p", image_globs=["*"])
    assert kyverno["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["entries"][0]["keys"][
        "signatureAlgorithm"] == expected
    assert sigstore["spec"]["authorities"][0]["key"]["hashAlgorithm"] == expected
    # the named digest is the one the signature is over (what the admission verifier will check)
    private.public_key().verify(signature, b"payload", ec.ECDSA(getattr(hashes, expected.upper())()))


def test_a_local_layout_glob_may_have_spaces():
    """The demo's cluster runs `oci:` images from a local directory, whose path may have spaces."""
    policy = kyverno_cluster_policy([_key("k")], name="ok", image_globs=["oci:/home/D with space/registry/*"])
    assert policy["spec"]["rules"][0]["verifyImages"][0]["imageReferences"] == ["oci:/home/D with space/registry/*"]


@pytest.mark.parametrize("kwargs, message", [
    ({"keys": [], "image_globs": ["*"]}, "at least one trusted key"),
    ({"image_globs": []}, "image globs"),
    ({"image_globs": ["a b"]}, "whitespace"),
    ({"image_globs": ["oci:/D\twith tab/*"]}, "whitespace"),
    ({"image_globs": ["oci:/D\u00a0with nbsp/*"]}, "whitespace"),
    ({"mode": "enforce"}, "mode must be"),
    ({"name": "Bad_Name"}, "Kubernetes object name"),
])
def test_bad_arguments_are_refused(kwargs, message):
    args = {"keys": [_key("k")], "name": "ok", "image_globs": ["*"], **kwargs}
    with pytest.raises(InputError, match=message):
        kyverno_cluster_policy(args.pop("keys"), **args)


def test_keys_given_by_reference_are_not_counted_as_pinned():
    doc = {"kind": "ClusterImagePolicy", "spec": {"authorities": [{"key": {"kms": "awskms:///alias/x"}}]}}
    assert policy_key_fingerprints(doc) == set()
