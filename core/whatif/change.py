"""Candidate changes to what is trusted, and the trust state they act on.

A `TrustState` is everything that decides admission, as the what-if models it: Signet's `[trust]`
(keys by fingerprint, threshold, `[[trust.attestations]]`, and the notation trust policy + trust store in
force, whose trusted signers count toward the threshold next to the keys, as core/verify counts them: what
the Lambda gate and sweeps apply) and each cluster's admission policies. A `Change` turns one state into
another (`apply_change`); the console toggles several, applied in order. What each kind means:

- `policy`: a Kyverno ClusterPolicy/Policy/[Namespaced]ImageValidatingPolicy or Sigstore
  ClusterImagePolicy file; its rules replace those of the same kind, namespace and name in every
  cluster (or are added).
- `enforce`: an existing policy (by name or `Kind/name`) goes from Audit/Warn to Enforce.
- `drop-key` / `add-key`: the key leaves (joins) `[trust] keys` and every policy that pins keys by
  fingerprint, as retiring (publishing) a key does.
- `require-attestation`: `[trust]` and every policy demand a verified attestation of the type, by one of
  their keys, on which every condition holds (as a Kyverno `attestations` entry would).
- `trust`: a TOML file's `[trust]` table replaces Signet's trust (keys, threshold,
  `[[trust.attestations]]` and notation trust: the Lambda gate; policies unchanged), and its
  `index_signature_covers_children` applies to every gate, as the configured one does. Replaced whole,
  as Signet would read it: its `notation_config` (with its `aws_signer_revocation`) is the notation trust;
  a file without one gets notation's default directory, as `[trust]` without it does (the label says which).
- `notation`: a notation trust policy (a notation config directory holding trustpolicy.oci.json /
  trustpolicy.json and truststore/, as `[trust] notation_config` names; or a trust policy file, read with
  the configured trust store) replaces the configured notation trust for `[trust]`. Admission policies
  are unchanged (a Ratify verifier's certificates are not checked here).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml

from core.clusters.admission import AdmissionPolicy, PolicyKey
from core.clusters.policies import image_validating_policy, kyverno_rules, sigstore_policy
from core.conditions import attestation_conditions
from core.conditions.outcome import AttestationCondition
from core.config.loader import parse_config_text, read_config_text
from core.context import SignetContext
from core.crypto.public_keys import TrustedKey
from core.errors import ConfigError, InputError
from core.notation.config import NotationTrust, config_directory, load_notation_policy_file, load_notation_trust
from core.notation.trust_policy import find_policy_file
from core.policy.files import MAX_POLICY_DOCUMENTS, MAX_POLICY_FILE_BYTES
from core.sigstore.attestation import predicate_type_for
from core.verify.policy import RequiredAttestation, required_attestations, resolve_key_reference

KINDS = ("policy", "enforce", "drop-key", "add-key", "require-attestation", "trust", "notation")


def _one_ivp(doc: dict[str, Any]) -> list[AdmissionPolicy]:
    return [image_validating_policy(doc)]


def _one_cip(doc: dict[str, Any]) -> list[AdmissionPolicy]:
    return [sigstore_policy(doc)]


_PARSERS: dict[str, Callable[[dict[str, Any]], list[AdmissionPolicy]]] = {
    "ClusterPolicy": kyverno_rules, "Policy": kyverno_rules, "ImageValidatingPolicy": _one_ivp,
    "NamespacedImageValidatingPolicy": _one_ivp, "ClusterImagePolicy": _one_cip}


@dataclass(frozen=True)
class AttestationRequirement:
    """A verified attestation of `predicate_type` on which every condition holds."""

    predicate_type: str
    conditions: tuple[AttestationCondition, ...] = ()
    label: str = ""

    @property
    def key(self) -> str:
        """Names the requirement in caches: the type and the conditions' texts."""
        return hashlib.sha256("\n".join([self.predicate_type, *(c.label for c in self.conditions)]).encode()
                              ).hexdigest()[:24]


@dataclass(frozen=True)
class TrustState:
    trust_keys: frozenset[str]                   # fingerprints in [trust] keys
    threshold: int
    attestation: AttestationRequirement | None
    policies: Mapping[str, tuple[AdmissionPolicy, ...]]  # kube context -> its admission policies
    index_covers_children: bool                  # [trust] index_signature_covers_children, for every gate
    trust_attestations: tuple[AttestationRequirement, ...] = ()  # [[trust.attestations]]: the [trust] gate's
    notation: str = ""                           # the notation trust in force (`notation_key`); "" = none
    notation_label: str = ""                     # names it in reasons ("the notation trust policy PATH")


def notation_key(trust: NotationTrust | None) -> str:
    """Names a notation trust in caches and states: its policy file and trust store contents, scope and
    revocation setting (what its verdicts depend on); "" for none."""
    if trust is None:
        return ""
    return hashlib.sha256(json.dumps([trust.fingerprint, trust.policy.path, trust.scope, trust.signer_revocation]
                                     ).encode()).hexdigest()[:24]


def notation_label(trust: NotationTrust | None) -> str:
    """"the notation trust policy DIR/FILE" (its directory and file name: the change's label has the path)."""
    if trust is None:
        return ""
    path = Path(trust.policy.path)
    return f"the notation trust policy {path.parent.name}/{path.name}"[:200]


@dataclass(frozen=True)
class Change:
    kind: str
    label: str                                   # one line saying what it is (shown and in --json)
    policies: tuple[AdmissionPolicy, ...] = ()   # policy
    documents: tuple[dict[str, Any], ...] = ()   # policy: the documents, for applying them
    policy_name: str = ""                        # enforce
    fingerprint: str = ""                        # drop-key / add-key
    attestation: AttestationRequirement | None = None
    trust_keys: frozenset[str] = field(default_factory=frozenset)  # trust
    threshold: int = 1                           # trust
    index_covers_children: bool = True           # trust
    trust_attestations: tuple[AttestationRequirement, ...] = ()  # trust
    notation_trust: NotationTrust | None = None  # trust / notation: the notation trust it puts in force
    keys: tuple[TrustedKey, ...] = ()            # the public keys it names (to check signatures with)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "label": self.label}


def apply_change(state: TrustState, change: Change) -> TrustState:
    if change.kind == "policy":
        return replace(state, policies={c: _replace_policies(ps, change.policies) for c, ps in state.policies.items()})
    if change.kind == "enforce":
        found = False
        policies = {}
        for cluster, ps in state.policies.items():
            updated = []
            for p in ps:
                if _names(p, change.policy_name):
                    found = True
                    p = replace(p, mode="enforce")
                updated.append(p)
            policies[cluster] = tuple(updated)
        if not found:
            raise InputError(f"no admission policy named {change.policy_name[:120]!r} in any cluster "
                             "(see `signet cluster policy show`)")
        return replace(state, policies=policies)
    if change.kind in ("drop-key", "add-key"):
        drop = change.kind == "drop-key"
        keys = state.trust_keys - {change.fingerprint} if drop else state.trust_keys | {change.fingerprint}
        return replace(state, trust_keys=keys,
                       policies={c: tuple(_rekey(p, change.fingerprint, drop) for p in ps)
                                 for c, ps in state.policies.items()})
    if change.kind == "require-attestation":
        return replace(state, attestation=change.attestation)
    if change.kind == "trust":
        return replace(state, trust_keys=change.trust_keys, threshold=change.threshold,
                       index_covers_children=change.index_covers_children,
                       trust_attestations=change.trust_attestations, notation=notation_key(change.notation_trust),
                       notation_label=notation_label(change.notation_trust))
    if change.kind == "notation":
        return replace(state, notation=notation_key(change.notation_trust),
                       notation_label=notation_label(change.notation_trust))
    raise InputError(f"unknown change kind {change.kind[:40]!r}")


def apply_changes(state: TrustState, changes: Sequence[Change]) -> TrustState:
    for change in changes:
        state = apply_change(state, change)
    return state


def _names(p: AdmissionPolicy, wanted: str) -> bool:
    return wanted in (p.name, f"{p.kind}/{p.name}", p.label) or (
        bool(p.namespace) and wanted == f"{p.kind}/{p.namespace}/{p.name}")


def _replace_policies(existing: tuple[AdmissionPolicy, ...], new: tuple[AdmissionPolicy, ...]
                      ) -> tuple[AdmissionPolicy, ...]:
    replaced = {(p.kind, p.namespace, p.name) for p in new}
    return tuple(p for p in existing if (p.kind, p.namespace, p.name) not in replaced) + new


def _rekey(p: AdmissionPolicy, fingerprint: str, drop: bool) -> AdmissionPolicy:
    if not any(k.fingerprint for k in p.keys):
        return p  # keyless or keys by reference only: nothing pinned to change
    if drop:
        if fingerprint not in p.fingerprints:
            return p
        keys = tuple(k for k in p.keys if k.fingerprint != fingerprint)
        required = None if p.required is None else min(p.required, max(1, len(keys) + p.keyless))
        return replace(p, keys=keys, required=required)
    if fingerprint in p.fingerprints:
        return p
    return replace(p, keys=p.keys + (PolicyKey(fingerprint),))


# --- building changes from what a person gave --------------------------------------------------------


def policy_file_change(path: str) -> Change:
    """The admission policies in a YAML file (one or more documents)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_POLICY_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read policy file {path}: {exc.strerror}") from None
    if len(data) > MAX_POLICY_FILE_BYTES:
        raise InputError(f"policy file {path} is larger than {MAX_POLICY_FILE_BYTES} bytes")
    try:
        docs = [d for d in yaml.safe_load_all(data.decode("utf-8")) if d is not None]
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        raise InputError(f"policy file {path} is not readable YAML: {str(exc).splitlines()[0][:200]}") from None
    if not docs or len(docs) > MAX_POLICY_DOCUMENTS:
        raise InputError(f"policy file {path} must hold 1 to {MAX_POLICY_DOCUMENTS} documents")
    policies: list[AdmissionPolicy] = []
    for doc in docs:
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind not in _PARSERS:
            raise InputError(f"policy file {path}: a {str(kind)[:60] if kind else 'document without kind'} is not "
                             f"an admission policy Signet reads ({', '.join(_PARSERS)})")
        try:
            policies.extend(_PARSERS[kind](doc))
        except (AttributeError, TypeError, ValueError) as exc:
            raise InputError(f"policy file {path}: {kind} has an unexpected shape: {str(exc)[:200]}") from None
    if not policies:
        raise InputError(f"policy file {path} holds no image-verification rule")
    names = ", ".join(sorted({f"{p.kind}/{p.name}" for p in policies}))
    return Change("policy", f"apply {Path(path).name} ({names[:200]})", policies=tuple(policies),
                  documents=tuple(docs))


def file_change(ctx: SignetContext, path: str) -> Change:
    """The change a file given in the console names: a notation trust policy (a directory, or a `.json`
    trust policy file: `notation_change`), else admission policies (`policy_file_change`)."""
    given = Path(path).expanduser()
    if given.is_dir() or given.suffix.lower() == ".json":
        return notation_change(ctx, path)
    return policy_file_change(path)


def enforce_change(name: str) -> Change:
    if not name.strip():
        raise InputError("--enforce needs a policy name")
    return Change("enforce", f"enforce {name}", policy_name=name.strip())


def key_change(ctx: SignetContext, kind: str, ref: str) -> Change:
    key, record = resolve_key_reference(ctx, ref)
    if kind == "add-key" and record is not None and record.state == "revoked":
        raise InputError(f"key '{record.name}' is revoked and cannot be trusted")
    name = record.name if record is not None else key.fingerprint[:16]
    verb = "drop" if kind == "drop-key" else "add"
    return Change(kind, f"{verb} key {name} ({key.fingerprint[:16]})", fingerprint=key.fingerprint, keys=(key,))


def attestation_change(type_name: str, *, conditions: Sequence[str] = (), max_severity: str | None = None) -> Change:
    predicate_type = predicate_type_for(type_name)
    compiled = attestation_conditions(conditions, max_severity=max_severity)
    label = f"require {type_name} attestation" + "".join(f", {c.label}" for c in compiled)
    return Change("require-attestation", label[:300],
                  attestation=AttestationRequirement(predicate_type, compiled, label[:300]))


def trust_change(ctx: SignetContext, path: str) -> Change:
    """A TOML file whose `[trust]` table replaces the configured one (its notation trust included: see the
    module docstring)."""
    trust = parse_config_text(path, read_config_text(Path(path))).trust
    notation = load_notation_trust(trust.notation_config or None, signer_revocation=trust.aws_signer_revocation)
    if not trust.keys and notation is None:
        raise InputError(f"{path}: its [trust] table names no keys and no notation trust policy (the what-if "
                         "models keys and notation trust, not keyless identities)")
    keys = tuple(resolve_key_reference(ctx, ref)[0] for ref in trust.keys)
    fingerprints = frozenset(k.fingerprint for k in keys)
    if notation is None and trust.threshold > len(fingerprints):
        raise InputError(f"{path}: threshold {trust.threshold} is more than its {len(fingerprints)} key(s)")
    attestations = trust_requirements(required_attestations(trust))
    where = "notation_config" if trust.notation_config else "notation's default directory"
    notation_text = f", notation trust from {where}" if notation is not None else ", no notation trust"
    return Change("trust", f"[trust] from {Path(path).name} ({len(fingerprints)} key(s), threshold "
                  f"{trust.threshold}" + "".join(f", {a.label}" for a in attestations) + notation_text + ")",
                  trust_keys=fingerprints, threshold=trust.threshold, keys=keys,
                  index_covers_children=trust.index_signature_covers_children, trust_attestations=attestations,
                  notation_trust=notation)


def notation_change(ctx: SignetContext, path: str) -> Change:
    """A notation trust policy that would replace the configured one: a notation config directory (its
    trust policy and trust store), or a trust policy file read with the configured trust store (`[trust]
    notation_config`, else notation's default directory). Refused as the verifier refuses it (InputError)."""
    given = Path(path).expanduser()
    if given.is_dir():
        policy_file, store = find_policy_file(given), given
    elif given.is_file():
        policy_file, store = given, config_directory(ctx.config.trust.notation_config or None)
    else:
        raise InputError(f"--notation-config {path[:200]}: no such directory or trust policy file")
    if policy_file is None:
        raise InputError(f"candidate notation trust policy: {given}: no trustpolicy.oci.json or trustpolicy.json "
                         "(notation's trust policy)")
    try:
        trust = load_notation_policy_file(policy_file, store, signer_revocation=ctx.config.trust.aws_signer_revocation)
    except ConfigError as exc:
        raise InputError(f"candidate notation trust policy: {exc}") from None
    statements = ", ".join(s.name for s in trust.policy.statements)
    return Change("notation", f"notation trust policy {trust.policy.path} (statements: {statements})"[:300],
                  notation_trust=trust)


def trust_requirements(required: Sequence[RequiredAttestation]) -> tuple[AttestationRequirement, ...]:
    """`[[trust.attestations]]` (as the verifier compiled them) as what-if requirements."""
    return tuple(AttestationRequirement(r.predicate_type, r.conditions, f"[[trust.attestations]] {r.label}")
                 for r in required)
