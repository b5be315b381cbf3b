"""Admission policies in the clusters (Kyverno verifyImages and ImageValidatingPolicy, Sigstore
ClusterImagePolicy, Gatekeeper + Ratify constraints in core/clusters/ratify.py): which keys they trust,
which images and namespaces they cover, in which mode, and how that drifts from Signet's key inventory
(keys-bypass-anchors.md §1).

Semantics followed:
- Kyverno: `attestors[].entries[]` are keys/certs/keyless; `attestors[].count` is how many entries
  must verify and defaults to all of them (so an unset count with two keys breaks rotation).
  The mode is `verifyImages[].failureAction`, else `spec.validationFailureAction`, default Audit.
  `imageReferences` are wildcards where `*` also crosses '/'. A namespaced `Policy` only acts in
  its namespace; `match`/`exclude` namespaces narrow a rule.
- Kyverno ImageValidatingPolicy (policies.kyverno.io, Kyverno 1.14+; NamespacedImageValidatingPolicy
  acts in its namespace): `attestors[].cosign.key` are the keys, `matchImageReferences[].glob` the
  images, `validationActions` containing Deny means enforce. Which attestors must verify is decided by
  CEL `validations`, which are not evaluated here: the attestors are read as alternatives (one must
  verify), and images matched only by a CEL expression count as not covered (reported, never assumed).
- policy-controller: authorities inside one CIP are OR; `spec.mode` is enforce (default) or warn;
  it acts only in namespaces labelled `policy.sigstore.dev/include=true`; globs use `*` within a
  path segment and `**` across segments, matched on the normalised name (index.docker.io/...).
Keys given by reference (Secret, KMS URI) cannot be fingerprinted here: they are listed as such
and reported, since what they trust can change without the policy changing.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from core.clusters.admission import (MAX_POLICIES, AdmissionPolicy, DriftIssue, PolicyKey, keys_from_pem_text,
                                     list_served)
from core.clusters.inventory import ClusterInventory, ClusterTarget, read_cluster
from core.kube.api import KubeApi, resource_path
from core.kube.connect import open_kube_api
from core.clusters.ratify import read_ratify_policies
from core.errors import ClusterRefused, SignetError
from core.keys.inventory import KeyRecord
from core.registry.reference import parse_reference

KYVERNO = ("kyverno.io", "v1")
KYVERNO_IVP_GROUP = "policies.kyverno.io"
KYVERNO_IVP_VERSIONS = ("v1", "v1beta1", "v1alpha1")
KYVERNO_IVP_PLURALS = ("imagevalidatingpolicies", "namespacedimagevalidatingpolicies")
SIGSTORE_VERSIONS = ("v1beta1", "v1alpha1")
MAX_EXAMPLES = 3


@dataclass(frozen=True)
class ClusterPolicies:
    cluster: str
    context: str
    reachable: bool
    error: str = ""
    policies: tuple[AdmissionPolicy, ...] = ()
    issues: tuple[DriftIssue, ...] = ()

    @property
    def drifted(self) -> bool:
        return not self.reachable or any(i.severity == "error" for i in self.issues)

    def as_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "context": self.context, "reachable": self.reachable, "error": self.error,
                "drifted": self.drifted, "policies": [p.as_dict() for p in self.policies],
                "issues": [i.as_dict() for i in self.issues]}


# --- reading --------------------------------------------------------------------------------------


def read_policies(config: Any, targets: Sequence[ClusterTarget], keys: Sequence[KeyRecord]) -> list[ClusterPolicies]:
    """Policies and drift for every target, concurrently (one ApiClient per thread)."""
    timeout = (config.limits.connect_timeout, config.limits.read_timeout)
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(targets)), thread_name_prefix="policies") as pool:
        return list(pool.map(lambda t: _read_one(t, keys, timeout), targets))


def _read_one(target: ClusterTarget, keys: Sequence[KeyRecord], timeout: tuple[float, float]) -> ClusterPolicies:
    inventory = read_cluster(target, timeout=timeout)
    if not inventory.reachable:
        return ClusterPolicies(target.context, target.context, reachable=False, error=inventory.error)
    try:
        with open_kube_api(target.context, target.kubeconfig, timeout=timeout) as api:
            policies, unreadable = list_policies(api)
            labels = namespace_labels(api)
    except SignetError as exc:
        return ClusterPolicies(target.context, target.context, reachable=False, error=str(exc))
    issues = unreadable + find_policy_drift(policies, keys, inventory, labels)
    return ClusterPolicies(target.context, target.context, reachable=True, policies=tuple(policies),
                           issues=tuple(issues))


def list_policies(api: KubeApi) -> tuple[list[AdmissionPolicy], list[DriftIssue]]:
    found: list[AdmissionPolicy] = []
    unreadable: list[DriftIssue] = []
    sources = [(KYVERNO[0], KYVERNO[1], "clusterpolicies"), (KYVERNO[0], KYVERNO[1], "policies")]
    for group, version, plural in sources:
        try:
            for doc in api.list(resource_path(group, version, plural), max_items=MAX_POLICIES):
                found.extend(kyverno_rules(doc))
        except ClusterRefused as exc:
            if exc.status != 404:  # 404: Kyverno is not installed, which is not an error by itself
                unreadable.append(DriftIssue("error", "unreadable", plural, str(exc)))
    for plural in KYVERNO_IVP_PLURALS:
        found.extend(image_validating_policy(doc) for doc in
                     list_served(api, KYVERNO_IVP_GROUP, KYVERNO_IVP_VERSIONS, plural, unreadable))
    found.extend(sigstore_policy(doc) for doc in
                 list_served(api, "policy.sigstore.dev", SIGSTORE_VERSIONS, "clusterimagepolicies", unreadable))
    found.extend(read_ratify_policies(api, unreadable))
    return found, unreadable


def namespace_labels(api: KubeApi) -> dict[str, dict[str, str]]:
    try:
        return {(n.get("metadata") or {}).get("name", ""): dict((n.get("metadata") or {}).get("labels") or {})
                for n in api.list(resource_path("", "v1", "namespaces"))}
    except ClusterRefused:
        return {}


# --- parsing --------------------------------------------------------------------------------------


def _kyverno_entry_keys(entry: dict[str, Any]) -> tuple[list[PolicyKey], int]:
    keys_spec = entry.get("keys")
    if isinstance(keys_spec, dict):
        if keys_spec.get("publicKeys"):
            return keys_from_pem_text(str(keys_spec["publicKeys"])), 0
        if isinstance(keys_spec.get("secret"), dict):
            s = keys_spec["secret"]
            return [PolicyKey(None, reference=f"secret:{s.get('namespace', '')}/{s.get('name', '')}")], 0
        if keys_spec.get("kms"):
            return [PolicyKey(None, reference=str(keys_spec["kms"])[:200])], 0
    return [], 1 if ("keyless" in entry or "certificates" in entry) else 0


def kyverno_rules(doc: dict[str, Any]) -> list[AdmissionPolicy]:
    """One AdmissionPolicy per verifyImages entry of a Kyverno ClusterPolicy or Policy."""
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    kind = str(doc.get("kind", "ClusterPolicy"))
    namespace = str(meta.get("namespace", "")) if kind == "Policy" else ""
    default_mode = str(spec.get("validationFailureAction") or "Audit")
    found = []
    for rule in spec.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        include, exclude = _rule_namespaces(rule)
        for index, verify in enumerate(rule.get("verifyImages") or []):
            if not isinstance(verify, dict):
                continue
            globs = [str(g) for g in verify.get("imageReferences") or []] or (
                [str(verify["image"])] if verify.get("image") else [])
            keys: list[PolicyKey] = []
            keyless = 0
            required: int | None = None
            counts: list[int | None] = []
            for attestor in verify.get("attestors") or []:
                entries = [e for e in (attestor or {}).get("entries") or [] if isinstance(e, dict)]
                for entry in entries:
                    entry_keys, entry_keyless = _kyverno_entry_keys(entry)
                    keys.extend(entry_keys)
                    keyless += entry_keyless
                counts.append((attestor or {}).get("count") if len(entries) > 1 else 1)
            if verify.get("key"):  # the pre-attestors form: one key on the entry itself
                keys.extend(keys_from_pem_text(str(verify["key"])))
                counts.append(1)
            if counts:
                known = [int(c) for c in counts if c is not None]
                required = sum(known) if len(known) == len(counts) else None
            mode = str(verify.get("failureAction") or (rule.get("validate") or {}).get("failureAction")
                       or default_mode)
            found.append(AdmissionPolicy(
                engine="kyverno", kind=kind, namespace=namespace, name=str(meta.get("name", "")),
                rule=str(rule.get("name", "")) + (f"[{index}]" if index else ""), mode=mode.lower(),
                image_globs=tuple(globs), keys=tuple(keys), keyless=keyless, required=required,
                namespaces=(namespace,) if namespace else include, excluded=exclude))
    return found


def _rule_namespaces(rule: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    def namespaces_of(block: Any) -> list[str]:
        if not isinstance(block, dict):
            return []
        filters = [block] + list(block.get("any") or []) + list(block.get("all") or [])
        return [str(ns) for f in filters if isinstance(f, dict)
                for ns in ((f.get("resources") or {}).get("namespaces") or [])]

    include = namespaces_of(rule.get("match"))
    return (tuple(include) or ("*",)), tuple(namespaces_of(rule.get("exclude")))


def image_validating_policy(doc: dict[str, Any]) -> AdmissionPolicy:
    """A Kyverno [Namespaced]ImageValidatingPolicy (see the module docstring for what is not evaluated)."""
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    kind = str(doc.get("kind", "ImageValidatingPolicy"))
    namespace = str(meta.get("namespace", "")) if kind.startswith("Namespaced") else ""
    keys: list[PolicyKey] = []
    others = 0  # keyless, certificate and notary attestors: not pinned to a key
    for attestor in spec.get("attestors") or []:
        cosign = (attestor or {}).get("cosign") if isinstance(attestor, dict) else None
        key = cosign.get("key") if isinstance(cosign, dict) else None
        if isinstance(key, dict) and key.get("data"):
            keys.extend(keys_from_pem_text(str(key["data"])))
        elif isinstance(key, dict) and (key.get("kms") or key.get("expression")):
            keys.append(PolicyKey(None, reference=str(key.get("kms") or f"cel:{key['expression']}")[:200]))
        elif isinstance(key, dict) and isinstance(key.get("secretRef"), dict):
            ref = key["secretRef"]
            keys.append(PolicyKey(None, reference=f"secret:{ref.get('namespace', '')}/{ref.get('name', '')}"))
        elif isinstance(attestor, dict):
            others += 1
    # v1alpha1 called them imageRules; only globs can be matched here (CEL expressions are not evaluated)
    matches = spec.get("matchImageReferences") or spec.get("imageRules") or []
    globs = [str(m["glob"]) for m in matches if isinstance(m, dict) and m.get("glob")]
    actions = {str(a).lower() for a in spec.get("validationActions") or []}
    mode = "enforce" if "deny" in actions else "warn" if "warn" in actions else "audit"
    return AdmissionPolicy(engine="kyverno", kind=kind, namespace=namespace, name=str(meta.get("name", "")),
                           rule="", mode=mode, image_globs=tuple(globs), keys=tuple(keys), keyless=others,
                           required=1 if keys or others else None, namespaces=(namespace,) if namespace else ("*",))


def sigstore_policy(doc: dict[str, Any]) -> AdmissionPolicy:
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    keys: list[PolicyKey] = []
    keyless = 0
    for authority in spec.get("authorities") or []:
        key = (authority or {}).get("key")
        if isinstance(key, dict):
            if key.get("data"):
                keys.extend(keys_from_pem_text(str(key["data"])))
            elif isinstance(key.get("secretRef"), dict):
                keys.append(PolicyKey(None, reference=f"secret:{key['secretRef'].get('name', '')}"))
            elif key.get("kms"):
                keys.append(PolicyKey(None, reference=str(key["kms"])[:200]))
        elif isinstance(authority, dict) and "keyless" in authority:
            keyless += 1
    globs = [str((i or {}).get("glob")) for i in spec.get("images") or [] if (i or {}).get("glob")]
    return AdmissionPolicy(engine="sigstore", kind="ClusterImagePolicy", namespace="", name=str(meta.get("name", "")),
                           rule="", mode=str(spec.get("mode") or "enforce").lower(), image_globs=tuple(globs),
                           keys=tuple(keys), keyless=keyless, required=1 if keys or keyless else None,
                           namespaces=("*",))


# --- drift ----------------------------------------------------------------------------------------


def find_policy_drift(policies: Sequence[AdmissionPolicy], keys: Sequence[KeyRecord], inventory: ClusterInventory,
                      namespace_labels: dict[str, dict[str, str]]) -> list[DriftIssue]:
    """Issues of one cluster's policies against the key inventory and what runs there."""
    by_fingerprint = {k.fingerprint: k for k in keys}
    active = [k for k in keys if k.state == "active"]
    if not policies:
        return [DriftIssue("error", "no-policy", "", "no Kyverno verifyImages rule or ImageValidatingPolicy, no "
                           "Sigstore ClusterImagePolicy and no Ratify constraint: nothing checks signatures at "
                           "admission")]
    issues: list[DriftIssue] = []
    for p in policies:
        issues.extend(_key_issues(p, by_fingerprint, active))
        if p.mode not in ("enforce",):
            issues.append(DriftIssue("warning", "not-enforced", p.label,
                                     f"mode is {p.mode}: unsigned images are reported, not refused"))
    issues.extend(_coverage_issues(policies, inventory, namespace_labels))
    return issues


def _key_issues(p: AdmissionPolicy, by_fingerprint: dict[str, KeyRecord], active: Sequence[KeyRecord]
                ) -> Iterable[DriftIssue]:
    for key in p.keys:
        if key.error:
            yield DriftIssue("error", "bad-key", p.label, f"a key in the policy does not parse: {key.error}")
        elif key.fingerprint is None:
            yield DriftIssue("warning", "key-by-reference", p.label,
                             f"key given by reference ({key.reference}); its fingerprint cannot be checked here")
        elif key.fingerprint not in by_fingerprint:
            yield DriftIssue("warning", "unknown-key", p.label,
                             f"trusts key {key.fingerprint[:16]}, which is not in Signet's key inventory")
        elif by_fingerprint[key.fingerprint].state in ("retired", "revoked"):
            record = by_fingerprint[key.fingerprint]
            yield DriftIssue("error", f"{record.state}-key", p.label,
                             f"still trusts {record.state} key {record.name} ({record.fingerprint[:16]})")
    for record in active:
        if record.fingerprint not in p.fingerprints:
            yield DriftIssue("error", "missing-active-key", p.label,
                             f"does not trust active key {record.name} ({record.fingerprint[:16]}): images it "
                             "signs are refused here")
    if p.required is None and len(p.keys) + p.keyless > 1:
        yield DriftIssue("warning", "all-keys-required", p.label,
                         f"attestor count is unset, so all {len(p.keys) + p.keyless} entries must verify "
                         "(set count: 1 to accept any one key during rotation)")


def _coverage_issues(policies: Sequence[AdmissionPolicy], inventory: ClusterInventory,
                     labels: dict[str, dict[str, str]]) -> list[DriftIssue]:
    uncovered_by_ns: dict[str, list[str]] = {}
    uncovered_registries: dict[str, list[str]] = {}
    images = sorted({(pod.namespace, c.image) for pod in inventory.pods for c in pod.containers})
    for namespace, image in images:
        if any(p.acts_in(namespace, labels) and p.covers_image(image) for p in policies):
            continue
        uncovered_by_ns.setdefault(namespace, []).append(image)
        try:
            registry = parse_reference(image).registry
        except SignetError:
            registry = image.split("/", 1)[0]
        uncovered_registries.setdefault(registry, []).append(image)
    issues = [DriftIssue("error", "uncovered-namespace", "", f"namespace {ns}: {len(imgs)} running image(s) no "
                         f"policy checks, e.g. {', '.join(imgs[:MAX_EXAMPLES])}")
              for ns, imgs in sorted(uncovered_by_ns.items())]
    covered_registries = set()
    for _namespace, image in images:
        if any(p.covers_image(image) for p in policies):
            try:
                covered_registries.add(parse_reference(image).registry)
            except SignetError:
                pass
    issues += [DriftIssue("error", "uncovered-registry", "", f"registry {reg}: no policy glob matches its images, "
                          f"e.g. {', '.join(imgs[:MAX_EXAMPLES])}")
               for reg, imgs in sorted(uncovered_registries.items()) if reg not in covered_registries]
    return issues
