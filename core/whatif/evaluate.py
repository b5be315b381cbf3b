"""Judge each running workload under a trust state: allowed or denied, and why.

- A cluster workload is checked by every admission policy that acts in its namespace and covers its
  image (core/clusters/admission.py). A policy is satisfied when the digest carries valid signatures from
  its required number of pinned keys (Kyverno's attestor count; all entries when unset) and, when an
  attestation is required, an attestation by one of its keys meeting every condition. An unsatisfied
  policy in Enforce denies; in Audit/Warn it is reported and the workload is allowed. Offline (no
  policies known), cluster workloads are judged by `[trust]`, as the sweep judged them.
- A Lambda function is checked by `[trust]` (the release gate): signatures from `threshold` of its keys,
  and the required attestation by one of them.
- Keys a policy names by reference or keyless entries cannot be checked here: they never count (fail
  closed), and the reason says so. A digest whose verification failed is denied with the failure.
- A denied workload covered by an active bypass (exactly its place and digest) is allowed as bypassed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

from core.clusters.admission import AdmissionPolicy
from core.whatif.change import TrustState
from core.whatif.facts import AttestationFacts, SignatureFacts
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


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    failures: tuple[Failure, ...] = ()
    bypass_id: str | None = None


@dataclass(frozen=True)
class Facts:
    signatures: Mapping[str, SignatureFacts]
    attestations: Mapping[str, AttestationFacts]   # for the state's required attestation, if any


def judge(w: RunningWorkload, state: TrustState, facts: Facts, labels: Mapping[str, dict[str, dict[str, str]]],
          bypass_for: Callable[[RunningWorkload], str | None], *, offline: bool = False) -> Verdict:
    failures = _failures(w, state, facts, labels, offline)
    blocking = [f for f in failures if f.enforced]
    if not blocking:
        audit = [f for f in failures if not f.enforced]
        reason = "allowed" + (f"; reported by {audit[0].gate} (not enforced): {audit[0].reason}" if audit else "")
        return Verdict(True, reason, tuple(failures))
    bypass = bypass_for(w) if w.digest else None
    first = f"{blocking[0].gate}: {blocking[0].reason}"
    if bypass:
        return Verdict(True, f"bypassed by {bypass} (otherwise denied by {first})", tuple(failures), bypass)
    more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
    return Verdict(False, first + more, tuple(failures))


def _failures(w: RunningWorkload, state: TrustState, facts: Facts,
              labels: Mapping[str, dict[str, dict[str, str]]], offline: bool) -> list[Failure]:
    if w.place == "lambda" or offline:
        return _check(w, facts, "[trust]", True, state.trust_keys, state.threshold, 0, state, False)
    found: list[Failure] = []
    ns_labels = labels.get(w.cluster, {})
    for p in state.policies.get(w.cluster, ()):
        if p.acts_in(w.namespace, ns_labels) and p.covers_image(w.image):
            found += _policy_failures(w, p, state, facts)
    return found


def _policy_failures(w: RunningWorkload, p: AdmissionPolicy, state: TrustState, facts: Facts) -> list[Failure]:
    unpinned = len(p.keys) - len(p.fingerprints) + p.keyless + len(p.certificates)
    required = p.required if p.required is not None else len(p.keys) + p.keyless + len(p.certificates)
    return _check(w, facts, p.label, p.mode == "enforce", p.fingerprints, max(required, 1), unpinned,
                  state, True)


def _check(w: RunningWorkload, facts: Facts, gate: str, enforced: bool, keys: frozenset[str], required: int,
           unpinned: int, state: TrustState, scoped: bool) -> list[Failure]:
    if not w.reference:
        return [Failure(gate, enforced, "unknown", NO_DIGEST, keys, scoped)]
    sig = facts.signatures.get(w.reference)
    if sig is None or sig.failed:
        why = sig.reason if sig else "not verified"
        return [Failure(gate, enforced, "unknown", f"could not verify: {why}", keys, scoped)]
    failures = []
    have = sig.signers & keys
    if len(have) < required:
        if not keys:
            reason = "it trusts no key Signet can check"
            reason += f" ({unpinned} by reference or keyless)" if unpinned else ""
        elif have:
            reason = f"signed by {len(have)} of the {required} required trusted keys"
        elif sig.signers:
            reason = "signed only by keys it does not trust"
        else:
            reason = f"not signed by a trusted key ({sig.result}: {sig.reason[:160]})"
        if unpinned and keys:
            reason += f"; {unpinned} key(s) given by reference or keyless are not checked here"
        failures.append(Failure(gate, enforced, "signature", reason, keys, scoped))
    if state.attestation is not None:
        att = facts.attestations.get(w.reference)
        if att is None or not (att.attested_by & keys):
            missing = "unknown" if att is not None and att.failed else (
                "attestation-condition" if att is not None and att.attested_by == frozenset() and
                _names_condition(att.reason) else "attestation")
            why = att.reason if att is not None and att.reason else "attested only by keys it does not trust"
            failures.append(Failure(gate, enforced, missing, f"{state.attestation.label}: {why[:200]}", keys, scoped))
    return failures


def _names_condition(reason: str) -> bool:
    """The attestation exists and verified but a condition does not hold (vs none of the type at all)."""
    return not reason.startswith("no attestation of type")
