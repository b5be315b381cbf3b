"""Verifier policies generated from trusted keys: Kyverno ClusterPolicy and Sigstore ClusterImagePolicy.

Rotation needs verifiers that accept either key for a while (keys-bypass-anchors.md §1):
Kyverno gets one attestor listing every key with `count: 1` (the default is "all must verify");
policy-controller gets one ClusterImagePolicy with one authority per key (authorities inside one
CIP are OR; separate CIPs for the same images are AND, so never split keys across CIPs).
Keys are always embedded as PEM, never as a KMS alias, so moving an alias cannot change what a
cluster trusts. Each key names the digest its signatures use: both verifiers assume sha256, but
Signet (like cosign v3) signs with SHA-384 for P-384 keys and SHA-512 for P-521 keys. Output is
deterministic (keys sorted by fingerprint) so drift checks can diff it.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

import yaml

from core.crypto.public_keys import TrustedKey, load_public_key, signing_hash_name
from core.errors import InputError

KYVERNO_API = "kyverno.io/v1"
SIGSTORE_API = "policy.sigstore.dev/v1beta1"
FINGERPRINTS_ANNOTATION = "signet.dev/key-fingerprints"
GENERATED_BY_LABEL = "app.kubernetes.io/managed-by"
MODES = ("Enforce", "Audit")
MAX_KEYS = 16
MAX_GLOBS = 64
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def kyverno_cluster_policy(keys: Sequence[TrustedKey], *, name: str, image_globs: Sequence[str],
                           mode: str = "Enforce", rule_name: str = "verify-signature",
                           ignore_tlog: bool = True) -> dict[str, Any]:
    """A ClusterPolicy whose verifyImages rule admits an image signed by any one of `keys`."""
    ordered = _checked(keys, image_globs, mode)
    entries = [{"keys": {"publicKeys": key.pem().decode().strip(),
                         "signatureAlgorithm": signing_hash_name(key.key),
                         "rekor": {"ignoreTlog": ignore_tlog}, "ctlog": {"ignoreSCT": ignore_tlog}}}
               for key in ordered]
    return {
        "apiVersion": KYVERNO_API,
        "kind": "ClusterPolicy",
        "metadata": _metadata(name, ordered),
        "spec": {
            "background": False,
            "webhookTimeoutSeconds": 30,
            "rules": [{
                "name": rule_name,
                "match": {"any": [{"resources": {"kinds": ["Pod"]}}]},
                "verifyImages": [{
                    "imageReferences": list(image_globs),
                    "failureAction": mode,
                    "mutateDigest": True,
                    "verifyDigest": True,
                    "required": True,
                    "attestors": [{"count": 1, "entries": entries}],
                }],
            }],
        },
    }


def sigstore_cluster_image_policy(keys: Sequence[TrustedKey], *, name: str, image_globs: Sequence[str],
                                  mode: str = "Enforce") -> dict[str, Any]:
    """One policy-controller ClusterImagePolicy with one `key` authority per trusted key."""
    ordered = _checked(keys, image_globs, mode)
    return {
        "apiVersion": SIGSTORE_API,
        "kind": "ClusterImagePolicy",
        "metadata": _metadata(name, ordered),
        "spec": {
            "images": [{"glob": glob} for glob in image_globs],
            "mode": "enforce" if mode == "Enforce" else "warn",
            "authorities": [{"name": f"key-{key.fingerprint[:16]}",
                             "key": {"data": key.pem().decode().strip(),
                                     "hashAlgorithm": signing_hash_name(key.key)}}
                            for key in ordered],
        },
    }


def to_yaml(docs: Iterable[dict[str, Any]]) -> str:
    """Multi-document YAML, ready for `kubectl apply -f`."""
    return yaml.safe_dump_all(list(docs), sort_keys=False, default_flow_style=False, width=1000)


def policy_key_fingerprints(doc: dict[str, Any]) -> set[str]:
    """Fingerprints of the keys a Kyverno ClusterPolicy or Sigstore ClusterImagePolicy embeds (for drift
    checks). Keys given by reference (secret, KMS URI) are not counted: they are not pinned here."""
    pems: list[str] = []
    spec = doc.get("spec") or {}
    if doc.get("kind") == "ClusterImagePolicy":
        pems = [((a or {}).get("key") or {}).get("data", "") for a in spec.get("authorities") or []]
    else:
        for rule in spec.get("rules") or []:
            for verify in rule.get("verifyImages") or []:
                for attestor in verify.get("attestors") or []:
                    pems += [((e or {}).get("keys") or {}).get("publicKeys", "") for e in attestor.get("entries") or []]
    return {load_public_key(pem.encode()).fingerprint for pem in pems if pem and "BEGIN PUBLIC KEY" in pem}


def _checked(keys: Sequence[TrustedKey], image_globs: Sequence[str], mode: str) -> list[TrustedKey]:
    if not keys:
        raise InputError("a verifier policy needs at least one trusted key")
    if len(keys) > MAX_KEYS:
        raise InputError(f"more than {MAX_KEYS} keys in one policy")
    if not image_globs or len(image_globs) > MAX_GLOBS:
        raise InputError(f"give 1-{MAX_GLOBS} image globs the policy applies to")
    if any(not _usable_glob(g) for g in image_globs):
        raise InputError("image globs must be non-empty and contain no whitespace (an oci: path may have spaces)")
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}")
    unique = {key.fingerprint: key for key in keys}
    return [unique[fp] for fp in sorted(unique)]


def _usable_glob(glob: str) -> bool:
    """No image a registry serves has whitespace in its reference, so a glob with some is a paste error
    that would silently match nothing; only a local `oci:` layout path (the demo's cluster runs those)
    may have plain spaces, as parse_reference accepts."""
    if not glob:
        return False
    spaced = glob.replace(" ", "") if glob.startswith("oci:") else glob
    return not any(c.isspace() for c in spaced)


def _metadata(name: str, keys: Sequence[TrustedKey]) -> dict[str, Any]:
    if not _DNS_NAME.match(name) or len(name) > 253:
        raise InputError(f"policy name '{name[:80]}' is not a valid Kubernetes object name")
    return {"name": name, "labels": {GENERATED_BY_LABEL: "signet"},
            "annotations": {FINGERPRINTS_ANNOTATION: ",".join(k.fingerprint for k in keys)}}
