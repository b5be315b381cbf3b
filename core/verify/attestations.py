"""`verify-attestation`: in-toto attestations of one predicate type for an image, from the classic
`sha256-<hex>.att` tag and from Sigstore bundle referrers (cosign-formats.md §4, §3).

The predicate type is filtered on the *verified* statement, before anything counts (CVE-2022-35929):
an image is `verified` only when at least `policy.threshold` distinct signers attested the requested
type for this digest; `unsigned` when no attestation even claims that type; `invalid` when some do
but none verifies; `error` when the registry failed. Nothing here raises for a failed check.
Every call writes one verification-history row (source = the context's interface).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Sequence

from core.conditions.outcome import AttestationCondition, ConditionOutcome
from core.context import SignetContext
from core.errors import CheckFailed, DigestMismatch, LimitExceeded, NotFound, SignetError
from core.history.records import append_verifications
from core.registry.reference import ImageReference, parse_reference
from core.sigstore.attestation import AttestationSummary, parse_statement, summarize
from core.sigstore.dsse import MAX_ENVELOPE_BYTES, load_envelope
from core.sigstore.verifier import SigstoreTrust, VerifiedSignature, verify_bundle, verify_cosign_attestation
from core.verify.cosign_signatures import signature_repository
from core.verify.platforms import select_platform
from core.verify.policy import TrustPolicy
from core.verify.session import VerifySession
from core.verify.sigstore_bundles import FoundBundle, find_bundles
from core.verify.verifier import Verifier

ATTESTATION_LAYER = "application/vnd.dsse.envelope.v1+json"
SOURCE_ATT = "cosign-att"
SOURCE_BUNDLE = "sigstore-bundle"


@dataclass(frozen=True)
class AttestationCheck:
    source: str             # cosign-att | sigstore-bundle
    index: int
    ok: bool
    reason: str             # empty when ok
    predicate_type: str = ""  # as claimed (verified when ok)
    key_fingerprint: str | None = None
    identity: str | None = None
    issuer: str | None = None
    summary: AttestationSummary | None = None
    conditions: tuple[ConditionOutcome, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "index": self.index, "ok": self.ok, "reason": self.reason,
                "predicate_type": self.predicate_type, "key_fingerprint": self.key_fingerprint,
                "identity": self.identity, "issuer": self.issuer,
                "summary": _summary_dict(self.summary) if self.summary else None,
                "conditions": [{"condition": c.label, "status": c.status, "reason": c.reason}
                               for c in self.conditions]}


@dataclass(frozen=True)
class AttestationResult:
    reference: str
    digest: str | None
    predicate_type: str
    result: str   # verified | unsigned | invalid | error
    reason: str
    checks: tuple[AttestationCheck, ...] = ()
    duration_ms: float = 0.0

    @property
    def matched_keys(self) -> tuple[str, ...]:
        """Fingerprints of the keys (keyless: certificate keys) of the attestations that verified."""
        return tuple(sorted({c.key_fingerprint for c in self.checks if c.ok and c.key_fingerprint}))

    @property
    def summaries(self) -> tuple[AttestationSummary, ...]:
        return tuple(c.summary for c in self.checks if c.ok and c.summary is not None)

    def as_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "predicate_type": self.predicate_type,
                "result": self.result, "reason": self.reason, "attestations": [c.as_dict() for c in self.checks],
                "duration_ms": round(self.duration_ms, 3)}


def verify_attestations(ctx: SignetContext, reference: str | ImageReference, verifier: Verifier, *,
                        predicate_type: str, allow_http: bool = False,
                        conditions: Sequence[AttestationCondition] = (), record: bool = True,
                        platform: str | None = None) -> AttestationResult:
    """Verify the attestations of `predicate_type` (a full URI: see attestation.predicate_type_for)
    and record the outcome in the verification history. With `conditions`, an attestation counts only
    when every condition holds on its verified statement (core/conditions). `record=False`: a question about
    a hypothetical policy (the what-if), not a verification, so no history row. `platform`
    (os/arch[/variant]): when the reference is an index, the attestations of that child are checked
    (each platform image carries its own, e.g. buildx provenance), and `digest` is the child's."""
    result = _verify(ctx, reference, verifier, predicate_type, allow_http, tuple(conditions), platform)
    if record:
        _record(ctx, result)
    return result


def _verify(ctx: SignetContext, reference: str | ImageReference, verifier: Verifier, predicate_type: str,
            allow_http: bool, conditions: tuple[AttestationCondition, ...], platform: str | None) -> AttestationResult:
    started = time.perf_counter()
    text, digest = str(reference), None
    session = VerifySession(ctx, allow_http=allow_http)
    try:
        ref = reference if isinstance(reference, ImageReference) else parse_reference(reference)
        text = str(ref)
        manifest = session.source_for(ref).resolve(ref)
        digest = manifest.digest
        if platform:
            digest = select_platform(manifest, platform, session.limits.max_layers)
        return attestation_verdict(session, ref, digest, verifier, predicate_type, conditions)
    except SignetError as exc:
        return AttestationResult(text, digest, predicate_type, "error", str(exc),
                                 duration_ms=(time.perf_counter() - started) * 1000)
    except Exception as exc:  # fail closed on anything unexpected, and say what it was
        return AttestationResult(text, digest, predicate_type, "error",
                                 f"internal error: {type(exc).__name__}: {exc}"[:300],
                                 duration_ms=(time.perf_counter() - started) * 1000)
    finally:
        session.close()


def attestation_verdict(session: VerifySession, ref: ImageReference, digest: str, verifier: Verifier,
                        predicate_type: str, conditions: Sequence[AttestationCondition]) -> AttestationResult:
    """The attestations of `predicate_type` on `digest`, within a verification already under way (its
    session and caches; nothing recorded). Raises SignetError for a registry failure."""
    started = time.perf_counter()
    policy, trust = verifier.policy, verifier.attestation_trust
    now = session.ctx.clock()
    wanted = _Wanted(predicate_type, tuple(conditions))
    checks, transient = _classic(session, ref, digest, policy, trust, now, wanted)
    bundle_checks, bundle_transient = _bundles(session, ref, digest, trust, now, wanted)
    checks += bundle_checks
    return _decide(str(ref), digest, predicate_type, checks, transient or bundle_transient, policy, started)


def _record(ctx: SignetContext, result: AttestationResult) -> None:
    details = {"predicate_type": result.predicate_type,
               "attestations": [{"index": c.index, "source": c.source, "ok": c.ok, "reason": c.reason[:200],
                                 "key": c.key_fingerprint, "identity": c.identity,
                                 "conditions": [o.describe()[:200] for o in c.conditions[:10]]}
                                for c in result.checks[:20]]}
    append_verifications(ctx.store, [dict(at=ctx.clock(), actor=ctx.actor, source=ctx.interface,
                                          reference=result.reference, digest=result.digest, result=result.result,
                                          reason=f"attestation: {result.reason}", matched_keys=result.matched_keys,
                                          duration_ms=result.duration_ms, details=details)])


def _decide(text: str, digest: str, predicate_type: str, checks: list[AttestationCheck], transient: bool,
            policy: TrustPolicy, started: float) -> AttestationResult:
    duration = (time.perf_counter() - started) * 1000
    of_type = [c for c in checks if c.predicate_type == predicate_type]
    signers = {c.identity or c.key_fingerprint for c in of_type if c.ok}
    if len(signers) >= policy.threshold:
        reason = f"{len(signers)} signer(s) attested {predicate_type}"
        return AttestationResult(text, digest, predicate_type, "verified", reason, tuple(checks), duration)
    if not of_type:
        found = sorted({c.predicate_type for c in checks if c.predicate_type})
        reason = f"no attestation of type {predicate_type}" + (f" (found: {', '.join(found)[:300]})" if found else "")
        return AttestationResult(text, digest, predicate_type, "error" if transient else "unsigned", reason,
                                 tuple(checks), duration)
    reasons = list(dict.fromkeys(c.reason for c in of_type if not c.ok))
    reason = (f"only {len(signers)} of {policy.threshold} required signers" if signers else
              "no valid attestation: " + "; ".join(reasons[:3]))
    return AttestationResult(text, digest, predicate_type, "error" if transient else "invalid", reason,
                             tuple(checks), duration)


@dataclass(frozen=True)
class _Wanted:
    """What makes a verified attestation count: its predicate type, and every condition holding on it."""

    predicate_type: str
    conditions: tuple[AttestationCondition, ...]


def _classic(session: VerifySession, ref: ImageReference, digest: str, policy: TrustPolicy, trust: SigstoreTrust,
             now: datetime, wanted: _Wanted) -> tuple[list[AttestationCheck], bool]:
    att_ref = signature_repository(ref, policy)
    source = session.source_for(att_ref)
    try:
        manifest = source.get_manifest(att_ref.repository, digest.replace(":", "-", 1) + ".att")
    except NotFound:
        return [], False
    limits = session.limits
    checks: list[AttestationCheck] = []
    transient = False
    for index, layer in enumerate(manifest.descriptors("layers", max_count=limits.max_layers)[:limits.max_signatures]):
        if layer.media_type != ATTESTATION_LAYER:
            continue
        claimed = layer.annotations.get("predicateType", "")
        try:
            cap = min(MAX_ENVELOPE_BYTES, limits.max_blob_bytes)
            if layer.size > cap:
                raise CheckFailed(f"limit exceeded: attestation of {layer.size} bytes (at most {cap})")
            blob = source.get_blob(att_ref.repository, layer.digest, max_bytes=layer.size)
            claimed = _claimed(load_envelope(blob, "attestation envelope").payload, claimed)
            verified = verify_cosign_attestation(blob, layer.annotations, digest=digest, trust=trust, now=now)
        except (CheckFailed, DigestMismatch, LimitExceeded, NotFound) as exc:
            checks.append(AttestationCheck(SOURCE_ATT, index, False, str(exc), claimed))
            continue
        except SignetError as exc:
            checks.append(AttestationCheck(SOURCE_ATT, index, False, f"registry: {exc}", claimed))
            transient = True
            continue
        checks.append(_passed(SOURCE_ATT, index, verified, wanted))
    return checks, transient


def _bundles(session: VerifySession, ref: ImageReference, digest: str, trust: SigstoreTrust, now: datetime,
             wanted: _Wanted) -> tuple[list[AttestationCheck], bool]:
    found: list[FoundBundle] = find_bundles(session.source_for(ref), ref.repository, digest, limits=session.limits)
    checks = []
    for item in found[:session.limits.max_signatures]:
        if item.bundle is None or item.bundle.envelope is None:
            if item.bundle is None:
                checks.append(AttestationCheck(SOURCE_BUNDLE, item.index, False, item.error))
            continue  # message signatures are not attestations
        claimed = _claimed(item.bundle.envelope.payload)
        try:
            verified = verify_bundle(item.bundle, digest=digest, trust=trust, now=now)
        except CheckFailed as exc:
            checks.append(AttestationCheck(SOURCE_BUNDLE, item.index, False, str(exc), claimed))
            continue
        checks.append(_passed(SOURCE_BUNDLE, item.index, verified, wanted))
    return checks, any(b.transient for b in found)


def _passed(source: str, index: int, verified: VerifiedSignature, wanted: _Wanted) -> AttestationCheck:
    statement = verified.statement
    if statement is None:  # a message signature attests nothing
        return AttestationCheck(source, index, False, "not an attestation (a message signature)")
    refused = AttestationCheck(source, index, False, f"predicate type {statement.predicate_type[:120]} is not "
                               f"the requested {wanted.predicate_type[:120]}", statement.predicate_type,
                               key_fingerprint=verified.key_fingerprint, identity=verified.identity or None,
                               issuer=verified.issuer or None)
    if statement.predicate_type != wanted.predicate_type:
        return refused
    outcomes = tuple(condition.evaluate(statement) for condition in wanted.conditions)
    unmet = [o.describe() for o in outcomes if o.status != "passed"]
    return replace(refused, ok=not unmet, reason="; ".join(unmet), summary=summarize(statement), conditions=outcomes)


def _claimed(payload: bytes, fallback: str = "") -> str:
    """The predicate type an attestation claims, before verification: only to sort failures into
    "none of that type" and "of that type but invalid"; success always uses the verified statement."""
    try:
        return parse_statement(payload).predicate_type
    except CheckFailed:
        return fallback


def _summary_dict(summary: AttestationSummary) -> dict[str, Any]:
    return {"predicate_type": summary.predicate_type, "builder_id": summary.builder_id,
            "source_repository": summary.source_repository, "package_count": summary.package_count}
