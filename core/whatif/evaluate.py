"""Judge each running workload under a trust state: allowed or denied, and why.

- A cluster workload is checked by every admission policy that acts in its namespace and covers its
  image (core/clusters/admission.py). A policy is satisfied when the digest carries valid signatures from
  its required number of pinned keys (Kyverno's attestor count; all entries when unset) and, when an
  attestation is required, an attestation by one of its keys meeting every condition. An unsatisfied
  policy in Enforce denies; in Audit/Warn it is reported and the workload is allowed. Offline (no
  policies known), cluster workloads are judged by `[trust]`, as the sweep judged them.
- A Lambda function is checked by `[trust]` (the release gate): signatures from `threshold` distinct
  trusted signers, its keys and the signers the notation trust policy in force trusts (notation, AWS
  Signer: core/verify/notation_signatures.py), and each `[[trust.attestations]]` entry and the required
  attestation by one of its keys.
- Keys a policy names by reference or keyless entries cannot be checked here: they never count (fail
  closed), and the reason says so. A digest whose verification failed is denied with the failure.
- A running platform child that fails a gate on its own passes it through the index it was deployed
  from (found as the sweep finds it: core/verify/index_coverage.py) when that index lists it, passes the
  same gate, and `[trust] index_signature_covers_children` is on, as the sweep and the Lambda gate
  decide. The setting applies to the clusters' policies too, so the what-if says what the sweep will
  report; Kyverno and policy-controller verify what the deployed tag resolves to (the index), so with
  the setting off a denial may be one they would admit: the reason says so.
- A denied workload covered by an active bypass (exactly its place and digest) is allowed as bypassed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from core.clusters.admission import AdmissionPolicy
from core.verify.index_coverage import ListedChild
from core.verify.platforms import covered_by_index_reason
from core.whatif.change import TrustState
from core.whatif.facts import AttestationFacts, NotationFacts, SignatureFacts
from core.whatif.world import RunningWorkload

NO_DIGEST = "the running digest is not known (no registry digest reported)"


@dataclass(frozen=True)
class Failure:
    """One check a workload does not pass."""

    gate: str                  # "[trust]" or the policy's label
    enforced: bool
    missing: str               # signature | attestation | attestation-condition | unknown
    reason: str
    keys: frozenset[str] = frozenset()   # the keys that would satisfy it
    namespace_scoped: bool = False       # a policy (its scope can be narrowed), not [trust]
    predicate_type: str = ""             # the attestation missing, when one is
    notation_fix: str = ""               # how the notation trust policy would trust its notation signer


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    failures: tuple[Failure, ...] = ()
    bypass_id: str | None = None
    covered_by: str | None = None    # "index sha256:..." when its index passed a gate it failed alone


@dataclass(frozen=True)
class Facts:
    signatures: Mapping[str, SignatureFacts]       # running digests and the indexes they came from
    attestations: Mapping[str, Mapping[str, AttestationFacts]]   # requirement key -> reference -> facts
    indexes: Mapping[tuple[str, str], ListedChild | str] = field(default_factory=dict)  # (deployed, digest)
    notation: Mapping[str, Mapping[str, NotationFacts]] = field(default_factory=dict)  # notation key -> ref -> facts


def judge(w: RunningWorkload, state: TrustState, facts: Facts, labels: Mapping[str, dict[str, dict[str, str]]],
          bypass_for: Callable[[RunningWorkload], str | None], *, offline: bool = False) -> Verdict:
    failures, covered_by = _failures(w, state, facts, labels, offline)
    blocking = [f for f in failures if f.enforced]
    if not blocking:
        audit = [f for f in failures if not f.enforced]
        reason = "allowed" + (f" ({covered_by})" if covered_by else "") + (
            f"; reported by {audit[0].gate} (not enforced): {audit[0].reason}" if audit else "")
        index = facts.indexes.get((w.image, w.digest or "")) if covered_by else None
        return Verdict(True, reason, tuple(failures),
                       covered_by=f"index {index.digest}" if isinstance(index, ListedChild) else None)
    bypass = bypass_for(w) if w.digest else None
    first = f"{blocking[0].gate}: {blocking[0].reason}"
    if bypass:
        return Verdict(True, f"bypassed by {bypass} (otherwise denied by {first})", tuple(failures), bypass)
    more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
    return Verdict(False, first + more, tuple(failures))


def _failures(w: RunningWorkload, state: TrustState, facts: Facts,
              labels: Mapping[str, dict[str, dict[str, str]]], offline: bool) -> tuple[list[Failure], str]:
    """The checks it fails, and how its index covered it where it passed only through the index."""
    gates = [_Gate("[trust]", True, state.trust_keys, state.threshold, 0, False, state.notation)] \
        if w.place == "lambda" or offline \
        else [_policy_gate(p) for p in state.policies.get(w.cluster, ())
              if p.acts_in(w.namespace, labels.get(w.cluster, {})) and p.covers_image(w.image)]
    found: list[Failure] = []
    covered = ""
    for gate in gates:
        failures, through = _check(w, facts, gate, state)
        found += failures
        covered = covered or through
    return found, covered


@dataclass(frozen=True)
class _Gate:
    """One check a workload must pass: [trust] or one admission policy."""

    label: str
    enforced: bool
    keys: frozenset[str]
    required: int
    unpinned: int        # keys it names that cannot be checked here (by reference, keyless)
    scoped: bool
    notation: str = ""   # [trust]: the notation trust in force (its signers count too)


def _policy_gate(p: AdmissionPolicy) -> _Gate:
    unpinned = len(p.keys) - len(p.fingerprints) + p.keyless + len(p.certificates)
    required = p.required if p.required is not None else len(p.keys) + p.keyless + len(p.certificates)
    return _Gate(p.label, p.mode == "enforce", p.fingerprints, max(required, 1), unpinned, True)


def _check(w: RunningWorkload, facts: Facts, gate: _Gate, state: TrustState) -> tuple[list[Failure], str]:
    """The digest's own failures at the gate; none when it fails alone but its index passes (and may
    cover it), with how the index covered it."""
    if not w.reference:
        return [Failure(gate.label, gate.enforced, "unknown", NO_DIGEST, gate.keys, gate.scoped)], ""
    own = _subject_failures(w.reference, facts, gate, state)
    index = facts.indexes.get((w.image, w.digest or "")) if own else None
    if index is None:
        return own, ""
    if isinstance(index, str):
        return _also(own, index), ""
    through = _subject_failures(index.reference, facts, gate, state)
    if through:
        return _also(own, f"its index {index.digest}: {through[0].reason}"), ""
    if not state.index_covers_children:
        admission = " (an admission controller resolving its tag would admit it)" if gate.scoped else ""
        return _also(own, f"signed on the index {index.digest} for {index.platform}, but [trust] "
                          f"index_signature_covers_children = false{admission}"), ""
    return [], covered_by_index_reason(index.digest, index.platform)


def _also(failures: list[Failure], why: str) -> list[Failure]:
    return [replace(f, reason=f"{f.reason}; {why}"[:1000]) for f in failures]


def _subject_failures(reference: str, facts: Facts, gate: _Gate, state: TrustState) -> list[Failure]:
    """What `reference` (a running digest, or the index it came from) lacks at the gate."""
    sig = facts.signatures.get(reference)
    if sig is None or sig.failed:
        why = sig.reason if sig else "not verified"
        return [Failure(gate.label, gate.enforced, "unknown", f"could not verify: {why}", gate.keys, gate.scoped)]
    failures = []
    have = sig.signers & gate.keys
    notation = facts.notation.get(gate.notation, {}).get(reference) if gate.notation else None
    trusted = len(have) + (len(notation.signers) if notation is not None else 0)
    if trusted < gate.required:
        if notation is not None and notation.failed:
            why = f"could not verify: notation: {notation.reason}"[:1000]
            return [Failure(gate.label, gate.enforced, "unknown", why, gate.keys, gate.scoped)]
        notation_fix = ""
        if not gate.keys and not gate.notation:
            reason = "it trusts no key Signet can check"
            reason += f" ({gate.unpinned} by reference or keyless)" if gate.unpinned else ""
        elif trusted:
            what = "trusted signers (keys and notation)" if gate.notation else "trusted keys"
            reason = f"signed by {trusted} of the {gate.required} required {what}"
        elif notation is not None and notation.refused:
            reason, notation_fix = _notation_refused(notation, state.notation_label)
        elif sig.signers:
            reason = "signed only by keys it does not trust"
        elif not gate.notation and gate.label == "[trust]" and _has_notation_signatures(reference, facts):
            reason = "signed only with notation, and no notation trust policy is in force"
            notation_fix = "set [trust] notation_config to a notation trust policy that trusts its signer"
        elif notation is not None and notation.found:
            reason = f"{state.notation_label} trusts none of its notation signatures ({notation.reason[:200]})"
        else:
            reason = f"not signed by a trusted key ({sig.result}: {sig.reason[:160]})"
        if gate.unpinned and gate.keys:
            reason += f"; {gate.unpinned} key(s) given by reference or keyless are not checked here"
        failures.append(Failure(gate.label, gate.enforced, "signature", reason[:1000], gate.keys, gate.scoped,
                                notation_fix=notation_fix))
    required = ([] if gate.scoped else list(state.trust_attestations)) + \
        ([state.attestation] if state.attestation is not None else [])
    for requirement in required:
        att = facts.attestations.get(requirement.key, {}).get(reference)
        if att is None or not (att.attested_by & gate.keys):
            missing = "unknown" if att is not None and att.failed else (
                "attestation-condition" if att is not None and att.attested_by == frozenset() and
                _names_condition(att.reason) else "attestation")
            why = att.reason if att is not None and att.reason else "attested only by keys it does not trust"
            failures.append(Failure(gate.label, gate.enforced, missing, f"{requirement.label}: {why[:200]}",
                                    gate.keys, gate.scoped, requirement.predicate_type))
    return failures


def _notation_refused(notation: NotationFacts, label: str) -> tuple[str, str]:
    """Why its notation signature does not count under the notation trust in force, and how that policy
    would trust it (the signer's identity added to the statement's trustedIdentities)."""
    identity, statement, fmt, why = notation.refused[0]
    reason = f"{label} refuses its {fmt} signature: {why[:300]}"
    where = f"statement {statement!r} of {label}" if statement else label
    if fmt == "aws-signer" and why.startswith("trustedIdentity"):
        fix = f"add the signing profile's ARN to trustedIdentities of {where}"
    elif why.startswith("trustedIdentity"):
        fix = f"add \"x509.subject: {identity[:200]}\" to trustedIdentities of {where}"
    else:
        fix = f"make {where} trust its signer ({why[:120]})"
    return reason, fix


def _has_notation_signatures(reference: str, facts: Facts) -> bool:
    """Some notation trust looked at the digest and found notation signatures (so none counts here)."""
    return any(found.found for by_reference in facts.notation.values()
               if (found := by_reference.get(reference)) is not None)


def _names_condition(reason: str) -> bool:
    """The attestation exists and verified but a condition does not hold (vs none of the type at all)."""
    return not reason.startswith("no attestation of type")
