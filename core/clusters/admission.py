"""What an admission policy says about image signatures, whatever engine enforces it (Kyverno,
policy-controller, Gatekeeper + Ratify): the keys it pins, the images and namespaces it covers, its mode,
and the drift issues found against Signet's key inventory. Readers per engine: core/clusters/policies.py,
core/clusters/ratify.py.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from core.kube.api import KubeApi, resource_path
from core.crypto.public_keys import load_public_key
from core.errors import ClusterRefused, SignetError
from core.registry.reference import DOCKER_HUB, parse_reference

SIGSTORE_INCLUDE_LABEL = "policy.sigstore.dev/include"
MAX_POLICIES = 1000
_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.S)


@dataclass(frozen=True)
class PolicyKey:
    """One key a policy names: pinned by PEM (fingerprint known) or by reference."""

    fingerprint: str | None
    reference: str = "inline"        # inline | secret:<ns>/<name> | kms URI | k8s:// URI
    error: str = ""                  # an inline key that does not parse

    def as_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "reference": self.reference, "error": self.error}


@dataclass(frozen=True)
class AdmissionPolicy:
    """One image-verification rule: a Kyverno verifyImages entry or a Sigstore ClusterImagePolicy."""

    engine: str                      # kyverno | sigstore
    kind: str                        # ClusterPolicy | Policy | [Namespaced]ImageValidatingPolicy | ClusterImagePolicy
    namespace: str                   # "" for cluster-scoped kinds
    name: str
    rule: str
    mode: str                        # enforce | audit | warn
    image_globs: tuple[str, ...]
    keys: tuple[PolicyKey, ...]
    keyless: int = 0                 # keyless / certificate entries (not key-pinned)
    certificates: tuple[str, ...] = ()  # Notary Project certificates trusted (sha256 of DER), Ratify
    required: int | None = None      # Kyverno attestor count; None = every entry must verify
    namespaces: tuple[str, ...] = ()  # namespace patterns it acts in ("*" = all)
    excluded: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{where}{self.name}" + (f"#{self.rule}" if self.rule else "")

    @functools.cached_property  # the what-if asks for every workload the policy covers
    def fingerprints(self) -> frozenset[str]:
        return frozenset(k.fingerprint for k in self.keys if k.fingerprint)

    def acts_in(self, namespace: str, namespace_labels: Mapping[str, Mapping[str, str]]) -> bool:
        if self.engine == "sigstore" and namespace_labels.get(namespace, {}).get(SIGSTORE_INCLUDE_LABEL) != "true":
            return False
        if any(fnmatch.fnmatchcase(namespace, p) for p in self.excluded):
            return False
        return any(fnmatch.fnmatchcase(namespace, p) for p in self.namespaces)

    def covers_image(self, image: str) -> bool:
        candidates = _match_forms(image, sigstore=self.engine == "sigstore")
        if self.engine == "sigstore":
            return any(_sigstore_glob(g).match(c) for g in self.image_globs for c in candidates)
        return any(fnmatch.fnmatchcase(c, g) for g in self.image_globs for c in candidates)

    def as_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "kind": self.kind, "namespace": self.namespace, "name": self.name,
                "rule": self.rule, "mode": self.mode, "image_globs": list(self.image_globs),
                "keys": [k.as_dict() for k in self.keys], "keyless": self.keyless, "required": self.required,
                "certificates": list(self.certificates),
                "namespaces": list(self.namespaces), "excluded_namespaces": list(self.excluded)}


@dataclass(frozen=True)
class DriftIssue:
    severity: str                    # error | warning
    kind: str                        # no-policy | retired-key | revoked-key | unknown-key | missing-active-key
    #                                  | key-by-reference | bad-key | all-keys-required | not-enforced
    #                                  | uncovered-namespace | uncovered-registry | unreadable
    policy: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "kind": self.kind, "policy": self.policy, "detail": self.detail}


def keys_from_pem_text(text: str) -> list[PolicyKey]:
    blocks = _PEM_BLOCK.findall(text or "")
    if not blocks:
        return [PolicyKey(None, reference=text.strip()[:200])] if text.strip() else []
    keys = []
    for block in blocks:
        try:
            keys.append(PolicyKey(load_public_key(block.encode()).fingerprint))
        except SignetError as exc:
            keys.append(PolicyKey(None, error=str(exc)))
    return keys


@functools.lru_cache(maxsize=65536)  # the what-if matches the same images against policies on every recount
def _match_forms(image: str, *, sigstore: bool) -> tuple[str, ...]:
    """The image as written and normalised (with and without tag/digest), as each engine sees it."""
    try:
        ref = parse_reference(image)
    except SignetError:
        return (image,)
    host = "index.docker.io" if sigstore and ref.registry == DOCKER_HUB else ref.registry
    name = f"{host}/{ref.repository}"
    return (image, name, str(ref).replace(ref.name, name, 1))


def _sigstore_glob(glob: str) -> re.Pattern[str]:
    parts = re.split(r"(\*\*|\*|\?)", glob)
    pattern = "".join({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(p, re.escape(p)) for p in parts)
    return re.compile(f"^{pattern}(?::[^/@]*)?(?:@sha256:[a-f0-9]{{64}})?$")


def list_served(api: KubeApi, group: str, versions: Sequence[str], plural: str,
                unreadable: list[DriftIssue]) -> list[dict[str, Any]]:
    """The objects of `plural` from the first of `versions` the server serves (one served version holds
    every object); [] when none is (the CRD is not installed, not an error by itself)."""
    for version in versions:
        try:
            return list(api.list(resource_path(group, version, plural), max_items=MAX_POLICIES))
        except ClusterRefused as exc:
            if exc.status != 404:
                unreadable.append(DriftIssue("error", "unreadable", plural, str(exc)))
                return []
    return []
