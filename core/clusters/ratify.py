"""OPA Gatekeeper + Ratify as an admission policy: which namespaces a Ratify constraint enforces, and with
which cosign keys and Notary Project certificates Ratify verifies.

How the pieces fit (Ratify's library template and config samples):
- a Gatekeeper ConstraintTemplate (templates.gatekeeper.sh) whose Rego calls `external_data` with a
  provider named `ratify…` is a Ratify template; its `spec.crd.spec.names.kind` names the constraint kind;
- each constraint of that kind (constraints.gatekeeper.sh) acts in `spec.match.namespaces` (all when unset)
  minus `excludedNamespaces`; `enforcementAction` deny (the default) enforces, dryrun audits, warn warns;
- Ratify's Verifier resources (config.ratify.deislabs.io v1beta1, v1alpha1; Namespaced* in v1beta1) say
  what is trusted: `cosign` verifiers name keys through `trustPolicies[].keys[].provider` (a
  KeyManagementProvider), `notation` verifiers name certificate stores through `verificationCertStores`
  (KeyManagementProviders or, before them, CertificateStores) and carry a notation trust policy.
Ratify's own Policy resource decides how verifier results combine; it is read as "any one trusted
verifier suffices" (its default for signatures), so keys and certificates are alternatives here.
Keys held in a cloud KMS/Key Vault are listed by reference: their fingerprint cannot be checked here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from core.clusters.admission import AdmissionPolicy, DriftIssue, PolicyKey, keys_from_pem_text, list_served
from core.kube.api import KubeApi

GATEKEEPER_TEMPLATES = ("templates.gatekeeper.sh", ("v1", "v1beta1", "v1alpha1"), "constrainttemplates")
GATEKEEPER_CONSTRAINTS = ("constraints.gatekeeper.sh", ("v1beta1", "v1alpha1"))
RATIFY_GROUP = "config.ratify.deislabs.io"
RATIFY_VERSIONS = ("v1beta1", "v1alpha1")
_PROVIDER = re.compile(r'"provider"\s*:\s*"([^"]+)"')
_MODES = {"deny": "enforce", "dryrun": "audit", "warn": "warn"}
MAX_CERTS = 200


def read_ratify_policies(api: KubeApi, unreadable: list[DriftIssue]) -> list[AdmissionPolicy]:
    """One AdmissionPolicy per Ratify constraint in the cluster ([] when Gatekeeper or Ratify is absent)."""
    group, versions, plural = GATEKEEPER_TEMPLATES
    kinds = [kind for t in list_served(api, group, versions, plural, unreadable) if (kind := ratify_template_kind(t))]
    if not kinds:
        return []
    constraints = [doc for kind in kinds for doc in
                   list_served(api, GATEKEEPER_CONSTRAINTS[0], GATEKEEPER_CONSTRAINTS[1], kind.lower(), unreadable)]
    resources = {plural: list_served(api, RATIFY_GROUP, RATIFY_VERSIONS, plural, unreadable)
                 for plural in ("verifiers", "namespacedverifiers", "keymanagementproviders",
                                "namespacedkeymanagementproviders", "certificatestores")}
    providers = {**trust_material(resources["keymanagementproviders"] + resources["namespacedkeymanagementproviders"]),
                 **trust_material(resources["certificatestores"])}
    verifiers = resources["verifiers"] + resources["namespacedverifiers"]
    if constraints and not verifiers:
        unreadable.append(DriftIssue("error", "ratify-no-verifier", "", "Ratify constraints exist but no Ratify "
                                     "Verifier resource: nothing says which signatures Ratify trusts"))
    return [ratify_constraint(doc, verifiers, providers) for doc in constraints]


def ratify_template_kind(template: dict[str, Any]) -> str:
    """The constraint kind of a ConstraintTemplate whose Rego asks a Ratify external-data provider, else ""."""
    spec = template.get("spec") or {}
    rego = " ".join(str((t or {}).get("rego", "")) for t in spec.get("targets") or [] if isinstance(t, dict))
    if "external_data" not in rego or not any("ratify" in p.lower() for p in _PROVIDER.findall(rego)):
        return ""
    kind = (((spec.get("crd") or {}).get("spec") or {}).get("names") or {}).get("kind")
    return str(kind) if kind else ""


def trust_material(docs: list[dict[str, Any]]) -> dict[str, tuple[list[PolicyKey], list[str]]]:
    """Provider/certificate-store name -> (cosign keys, certificate fingerprints) from inline values;
    anything held elsewhere (Key Vault, KMS) becomes a key by reference."""
    found: dict[str, tuple[list[PolicyKey], list[str]]] = {}
    for doc in docs:
        meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
        name = str(meta.get("name", ""))
        kind = str(spec.get("type") or spec.get("provider") or "")
        params = spec.get("parameters") or {}
        value = str(params.get("value", "")) if isinstance(params, dict) else ""
        if kind != "inline":
            found[name] = ([PolicyKey(None, reference=f"{kind or 'provider'}:{name}")], [])
        elif isinstance(params, dict) and params.get("contentType") == "key":
            found[name] = (keys_from_pem_text(value), [])
        else:
            found[name] = ([], certificate_fingerprints(value))
    return found


def certificate_fingerprints(pem_text: str) -> list[str]:
    try:
        certs = x509.load_pem_x509_certificates(pem_text.encode())[:MAX_CERTS]
    except ValueError:
        return []
    return [hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest() for c in certs]


def ratify_constraint(doc: dict[str, Any], verifiers: list[dict[str, Any]],
                      providers: dict[str, tuple[list[PolicyKey], list[str]]]) -> AdmissionPolicy:
    meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
    match = spec.get("match") or {}
    action = str(spec.get("enforcementAction") or "deny").lower()
    if action == "scoped":  # Gatekeeper 3.16+: per enforcement point; the webhook's action decides admission
        scoped = [str(a.get("action", "")).lower() for a in spec.get("scopedEnforcementActions") or []
                  if isinstance(a, dict)]
        action = "deny" if "deny" in scoped else "warn" if "warn" in scoped else "dryrun"
    keys: list[PolicyKey] = []
    certificates: list[str] = []
    globs: list[str] = []
    keyless = 0
    for verifier in verifiers:
        vspec = verifier.get("spec") or {}
        params = vspec.get("parameters") or {}
        if not isinstance(params, dict):
            continue
        kind = str(vspec.get("name") or vspec.get("type") or "").lower()
        if kind == "cosign":
            for policy in params.get("trustPolicies") or []:
                if not isinstance(policy, dict):
                    continue
                globs.extend(str(s) for s in policy.get("scopes") or [])
                for key in policy.get("keys") or []:
                    provider = (key or {}).get("provider") if isinstance(key, dict) else None
                    if provider in providers:
                        keys.extend(providers[provider][0])
                    elif isinstance(key, dict):
                        keys.append(PolicyKey(None, reference=str(provider or key.get("file") or "unnamed key")[:200]))
                keyless += 1 if policy.get("keyless") else 0
            if params.get("key"):  # before trustPolicies: one key file mounted into Ratify
                keys.append(PolicyKey(None, reference=f"file:{str(params['key'])[:200]}"))
                globs.append("*")
        elif kind in ("notation", "notaryv2", "notary"):
            stores = params.get("verificationCertStores") or {}
            for names in _store_entries(stores):
                for name in names:
                    certificates.extend(providers.get(str(name), ([], []))[1])
            for statement in ((params.get("trustPolicyDoc") or {}).get("trustPolicies") or []):
                if isinstance(statement, dict):
                    globs.extend(str(s) for s in statement.get("registryScopes") or [])
    return AdmissionPolicy(
        engine="ratify", kind=str(doc.get("kind", "Constraint")), namespace="", name=str(meta.get("name", "")),
        rule="", mode=_MODES.get(action, action), image_globs=tuple(dict.fromkeys(globs)), keys=tuple(keys),
        keyless=keyless + len(certificates), certificates=tuple(dict.fromkeys(certificates)),
        required=1 if keys or certificates or keyless else None,
        namespaces=tuple(str(n) for n in match.get("namespaces") or []) or ("*",),
        excluded=tuple(str(n) for n in match.get("excludedNamespaces") or []))


def _store_entries(stores: Any) -> list[list[Any]]:
    """`verificationCertStores` as lists of provider names: v1beta1 nests them by type (ca/tsa/...),
    the older form lists store -> names directly (all of type ca)."""
    if not isinstance(stores, dict):
        return []
    entries: list[list[Any]] = []
    for key, value in stores.items():
        if isinstance(value, list):
            entries.append(value)
        elif isinstance(value, dict) and key != "tsa":  # tsa stores vouch for timestamps, not signers
            entries.extend(v for v in value.values() if isinstance(v, list))
    return entries
