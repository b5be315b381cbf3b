"""Verify images: resolve each reference to a digest, check every signature source, decide, record.

Flow per image (never raises; every failure is a result):
1. Parse the reference; fetch its manifest (by digest if given, else by tag) and compute the digest
   over the bytes received. Everything after uses that digest only (no second look at the tag).
2. For an index, the index digest is what is verified (what cosign signs); `platform` picks a
   child that is reported as `platform_digest`. With `platforms=True` each child (bounded by
   `limits.max_layers`) is also checked for its own signatures and reported with what covers it
   (core/verify/platforms.py); the image's verdict stays the index's.
3. Each signature source of the Verifier (core/verify/verifier.py) returns checks; the image is
   `verified` when the ok checks come from at least `policy.threshold` distinct trusted keys.
   Sources are consulted in order and the first ones to reach the threshold end the search (more signers cannot change a
   `verified`), which keeps a classically signed image at 3 registry requests.
4. History rows are appended together at the end (`record=True`), all or none.

Images whose answer is wholly in the cache (tag lookups within their TTL, a cached verdict) are
answered first on the calling thread; the rest run on a bounded thread pool (`limits.concurrency`),
handed out in chunks.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from core.clock import iso
from core.context import SignetContext
from core.errors import InputError, SignetError
from core.history.records import append_verifications
from core.registry.deadline import deadline_for_thread
from core.registry.reference import ImageReference, parse_reference
from core.verify.attestations import attestation_verdict
from core.verify.cosign_signatures import cached_cosign_signatures
from core.verify.outcome import ImageTarget, SourceOutcome
from core.verify.platforms import PlatformChild, PlatformVerdict, index_children, platform_verdict, select_platform
from core.verify.result import SignatureCheck, VerificationResult
from core.verify.session import VerifySession
from core.verify.verifier import Verifier

MAX_IMAGES = 1_000_000
MAX_REASONS = 3
MAX_RECORDED_PLATFORMS = 20  # an index's children kept in a history row (the verdict is the index's)


@dataclass
class VerifyStats:
    """Filled in by `verify_images` when given (benchmarks, request-count tests)."""

    requests: int = 0  # HTTP requests made to registries (0 when every answer came from the cache)


def verify_images(ctx: SignetContext, references: Sequence[str | ImageReference], verifier: Verifier, *,
                  source: str = "cli", platform: str | None = None,
                  progress: Callable[[int, int], None] | None = None, record: bool = True,
                  allow_http: bool = False, stats: VerifyStats | None = None,
                  platforms: bool = False) -> list[VerificationResult]:
    """Verify every reference with `verifier`; results in the order given. `platforms`: report each
    child of an index (its own signatures, and whether the index's signature covers it)."""
    if len(references) > MAX_IMAGES:
        raise InputError(f"at most {MAX_IMAGES} images per call")
    session = VerifySession(ctx, allow_http=allow_http)
    total = len(references)
    results: list[VerificationResult | None] = [
        None if platforms else _from_cache(session, r, verifier, platform) for r in references]
    pending = [i for i, r in enumerate(results) if r is None]
    done = total - len(pending)
    if progress is not None and done:
        progress(done, total)

    progress_lock = threading.Lock()

    def run_chunk(indices: list[int]) -> None:
        nonlocal done
        for i in indices:
            # total_timeout bounds each registry request; image_timeout bounds all of one image's
            with deadline_for_thread(time.monotonic() + session.limits.image_timeout):
                results[i] = _verify_one(session, references[i], verifier, platform, platforms)
            # After every image, not every chunk: a progress callback that raises (a cancelled
            # console job) stops each thread at its next image.
            if progress is not None:
                with progress_lock:
                    done += 1
                    progress(done, total)

    try:
        workers = max(1, min(ctx.config.limits.concurrency, len(pending)))
        size = max(1, min(64, len(pending) // (workers * 4) or 1))
        chunks = [pending[s:s + size] for s in range(0, len(pending), size)]
        if workers == 1 or len(chunks) == 1:
            for c in chunks:
                run_chunk(c)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
                list(pool.map(run_chunk, chunks))
        final = [r for r in results if r is not None]
        if stats is not None:
            stats.requests = session.request_count()
    finally:
        session.close()
    if record and final:
        _record(ctx, final, source)
    return final


def verify_image(ctx: SignetContext, reference: str | ImageReference, verifier: Verifier, *, source: str = "cli",
                 platform: str | None = None, record: bool = True, allow_http: bool = False) -> VerificationResult:
    return verify_images(ctx, [reference], verifier, source=source, platform=platform, record=record,
                         allow_http=allow_http)[0]


def _verify_one(session: VerifySession, reference: str | ImageReference, verifier: Verifier,
                platform: str | None, platforms: bool = False) -> VerificationResult:
    started = time.perf_counter()
    text = str(reference)
    digest: str | None = None
    try:
        ref = reference if isinstance(reference, ImageReference) else parse_reference(reference)
        text = str(ref)
        src = session.source_for(ref)
        manifest = src.resolve(ref)
        digest = manifest.digest
        platform_digest = select_platform(manifest, platform, session.limits.max_layers) if platform else None
        image = ImageTarget(reference=ref, digest=digest, media_type=manifest.media_type, size=len(manifest.raw))
        decided = _decide(text, image, verifier, session, platform_digest, started)
        if platforms and manifest.is_index:
            children = tuple(_platform(session, ref, verifier, child, decided) for child in
                             index_children(manifest, session.limits.max_layers))
            decided = replace(decided, platforms=children)
        return decided
    except SignetError as exc:
        return _result(text, digest, "error", str(exc), started)
    except Exception as exc:  # fail closed on anything unexpected, and say what it was
        return _result(text, digest, "error", f"internal error: {type(exc).__name__}: {exc}"[:300], started)


def _from_cache(session: VerifySession, reference: str | ImageReference, verifier: Verifier,
                platform: str | None) -> VerificationResult | None:
    """A `verified` answer from the cache alone (no I/O, no thread), else None for the full path.

    Same answer as `_verify_one` would give: the tag lookups are within their TTL, and the cached
    outcome of the classic `.sig` source alone meets the threshold (other sources could only add
    signers; the full path stops there too).
    """
    started = time.perf_counter()
    try:
        ref = reference if isinstance(reference, ImageReference) else parse_reference(reference)
        manifest = session.cache.peek_manifest(ref)
        if manifest is None:
            return None
        if verifier.policy.required_attestations:
            return None  # attestations are checked on the full path
        image = ImageTarget(reference=ref, digest=manifest.digest)
        outcome = cached_cosign_signatures(session.cache, image, verifier.policy)
        if outcome is None or len(_matched([outcome])) < verifier.threshold:
            return None
        platform_digest = select_platform(manifest, platform, session.limits.max_layers) if platform else None
    except SignetError:
        return None  # the full path reports it
    return _verified(str(ref), image, verifier.threshold, [outcome], platform_digest, started)


def _matched(outcomes: Sequence[SourceOutcome]) -> tuple[str, ...]:
    return tuple(sorted({c.key_fingerprint for o in outcomes for c in o.checks if c.ok and c.key_fingerprint}))


def _verified(text: str, image: ImageTarget, threshold: int, outcomes: Sequence[SourceOutcome],
              platform_digest: str | None, started: float) -> VerificationResult:
    matched = _matched(outcomes)
    reason = f"signed by {len(matched)} trusted key(s), threshold {threshold}"
    return _result(text, image.digest, "verified", reason, started, matched, [c for o in outcomes for c in o.checks],
                   platform_digest, {"signature_locations": [o.location for o in outcomes]})


def _decide(text: str, image: ImageTarget, verifier: Verifier, session: VerifySession,
            platform_digest: str | None, started: float) -> VerificationResult:
    outcomes: list[SourceOutcome] = []
    for _name, collect in verifier.sources:
        outcomes.append(collect(session, image, verifier.policy, verifier.sigstore))
        if len(_matched(outcomes)) >= verifier.threshold:
            # enough trusted signers already: later sources (e.g. referrers) cannot change the answer
            verified = _verified(text, image, verifier.threshold, outcomes, platform_digest, started)
            return _with_required_attestations(verified, session, image, verifier)
    checks = [c for o in outcomes for c in o.checks]
    matched = _matched(outcomes)
    details = {"signature_locations": [o.location for o in outcomes]}
    if not any(o.found for o in outcomes):
        notes = "".join(f"; {o.note}" for o in outcomes if o.note)
        return _result(text, image.digest, "unsigned", f"no signatures found ({outcomes[0].location}){notes}",
                       started, (), checks, platform_digest, details)
    if matched:
        reason = f"only {len(matched)} of the {verifier.threshold} required trusted keys signed this digest"
    else:
        reasons = list(dict.fromkeys(c.reason for c in checks if not c.ok))
        reason = "no valid signature from a trusted key: " + "; ".join(reasons[:MAX_REASONS])
    result = "error" if any(o.transient for o in outcomes) else "invalid"
    return _result(text, image.digest, result, reason, started, matched, checks, platform_digest, details)


def _with_required_attestations(verified: VerificationResult, session: VerifySession, image: ImageTarget,
                                verifier: Verifier) -> VerificationResult:
    """A signed image is verified only when every `[[trust.attestations]]` requirement holds too: an
    attestation of that type, by the same trust, on which every condition holds. Anything else (none,
    invalid, a condition false or not checkable, the registry failing) keeps it from being verified."""
    for required in verifier.policy.required_attestations:
        try:
            found = attestation_verdict(session, image.reference, image.digest, verifier, required.predicate_type,
                                        required.conditions)
        except SignetError as exc:
            return replace(verified, result="error", reason=f"required attestation {required.label}: {exc}")
        if found.result != "verified":
            result = "error" if found.result == "error" else "invalid"
            return replace(verified, result=result,
                           reason=f"{verified.reason}, but required attestation {required.label}: {found.reason}",
                           details={**verified.details, "attestation": found.as_dict()})
    return verified


def _platform(session: VerifySession, ref: ImageReference, verifier: Verifier, child: PlatformChild,
              index: VerificationResult) -> PlatformVerdict:
    """One child of an index: its own signatures (the same sources and threshold), then what covers it."""
    target = ImageTarget(reference=ref, digest=child.digest, media_type=child.media_type, size=child.size)
    try:
        own = _decide(str(ref), target, verifier, session, None, time.perf_counter())
        own_result, own_reason = own.result, own.reason
    except SignetError as exc:  # this child could not be checked: "error", the index's verdict stands
        own_result, own_reason = "error", str(exc)
    return platform_verdict(child, own_result, own_reason, index.digest or "", index.result,
                            verifier.policy.index_covers_children)


def _result(text: str, digest: str | None, result: str, reason: str, started: float,
            matched: tuple[str, ...] = (), checks: Sequence[SignatureCheck] = (),
            platform_digest: str | None = None, details: dict[str, Any] | None = None) -> VerificationResult:
    return VerificationResult(reference=text, digest=digest, result=result, reason=reason, matched_keys=matched,
                              signatures=tuple(checks), duration_ms=(time.perf_counter() - started) * 1000,
                              platform_digest=platform_digest, details=details or {})


def _record(ctx: SignetContext, results: Sequence[VerificationResult], source: str) -> None:
    at, actor = iso(ctx.clock()), ctx.actor  # one timestamp for the batch, formatted once
    rows = ({"at": at, "actor": actor, "source": source, "reference": r.reference, "digest": r.digest,
             "result": r.result, "reason": r.reason, "matched_keys": r.matched_keys,
             "duration_ms": r.duration_ms, "bypass_id": r.bypass_id,
             "details": {"platform_digest": r.platform_digest,
                         "platforms": [p.as_dict() for p in r.platforms[:MAX_RECORDED_PLATFORMS]],
                         "signatures": [{"index": c.index, "source": c.source, "ok": c.ok, "reason": c.reason[:200],
                                         "key": c.key_fingerprint, "identity": c.identity}
                                        for c in r.signatures[:20]]}}
            for r in results)
    append_verifications(ctx.store, rows)
