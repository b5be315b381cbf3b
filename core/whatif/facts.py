"""What is true of each running digest whatever the policy: which known keys validly signed it, and which
keys attested a given type on it with every condition holding.

Every policy the what-if compares is a question over these sets, so each digest is verified once, with
one policy holding every key involved (the configured ones, every key in Signet's inventory and the
keys a change names) and a threshold of all of them, so no signature source stops early and every
valid signer is counted. Answers are cached in-process per trust-policy fingerprint and reference
(the registry's own caches sit below): a second what-if, or a console recount, verifies nothing again.
A digest whose verification failed (registry error) has no signers and says why: fail closed.

Notation signers depend on the notation trust policy, not on keys: they are facts of their own
(`notation_facts`), one verification per digest and notation trust (only the notation source, so nothing
stops early), cached per notation trust (`notation_key`) and reference. The key facts leave notation out.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Sequence, TypeVar

from core.context import SignetContext
from core.crypto.public_keys import TrustedKey
from core.keys.inventory import list_keys
from core.results import VERIFIED
from core.notation.config import NotationTrust
from core.verify.attestations import verify_attestations
from core.verify.notation_signatures import SIGNER_PREFIX, check_notation
from core.verify.policy import MAX_THRESHOLD, TrustPolicy, policy_for
from core.verify.service import VerifyStats, verify_images
from core.verify.verifier import Verifier
from core.whatif.change import AttestationRequirement, notation_key
from core.whatif.world import World

MAX_CACHED = 200_000


@dataclass(frozen=True)
class SignatureFacts:
    signers: frozenset[str]   # fingerprints of known keys with a valid signature on the digest
    result: str               # the verification under the all-keys policy: verified | unsigned | invalid | error
    reason: str

    @property
    def failed(self) -> bool:
        """The registry or something else failed: nothing is known about its signers."""
        return self.result == "error"


@dataclass(frozen=True)
class AttestationFacts:
    attested_by: frozenset[str]  # keys whose attestation of the type verified with every condition holding
    reason: str                  # why none did ("" when some did)
    failed: bool = False         # could not check (registry error)


@dataclass(frozen=True)
class NotationFacts:
    """What one notation trust policy makes of a digest's notation signatures."""

    signers: frozenset[str]                 # `notation:<sha256 of leaf>` of each signer it trusts
    reason: str                             # why none counts ("" when some did)
    refused: tuple[tuple[str, str, str, str], ...] = ()  # (identity, statement, format, why) it refused
    failed: bool = False                    # could not check (registry error)
    found: bool = False                     # the digest has notation signatures (trusted or not)


_lock = threading.Lock()
_signatures: dict[tuple[str, str], SignatureFacts] = {}
_attestations: dict[tuple[str, str], AttestationFacts] = {}
_notation: dict[tuple[str, str], NotationFacts] = {}
_Fact = TypeVar("_Fact")


def _cached(cache: dict[tuple[str, str], _Fact], key: str, references: Sequence[str],
            compute: Callable[[list[str]], dict[str, _Fact]]) -> dict[str, _Fact]:
    """The answers cached under `key` (a trust policy, requirement or notation trust) for `references`;
    the missing ones from one `compute` call, kept (the cache starts again when it would pass MAX_CACHED)."""
    wanted = sorted(set(references))
    with _lock:
        known = {r: cache[(key, r)] for r in wanted if (key, r) in cache}
    missing = [r for r in wanted if r not in known]
    if missing:
        fresh = compute(missing)
        with _lock:
            if len(cache) + len(fresh) > MAX_CACHED:
                cache.clear()
            cache.update({(key, r): f for r, f in fresh.items()})
        known.update(fresh)
    return known


def forget_facts() -> None:
    """Drop every cached answer (a console refresh: images may have been re-signed since)."""
    with _lock:
        _signatures.clear()
        _attestations.clear()
        _notation.clear()


def known_keys(ctx: SignetContext, extra: Iterable[TrustedKey] = ()) -> dict[str, TrustedKey]:
    """Every key a policy could name that Signet can check signatures with: configured, inventory, given."""
    keys: dict[str, TrustedKey] = {}
    for key in [*policy_for(ctx).keys, *(r.trusted_key() for r in list_keys(ctx)), *extra]:
        keys.setdefault(key.fingerprint, key)
    return keys


def facts_policy(ctx: SignetContext, keys: dict[str, TrustedKey]) -> TrustPolicy:
    """All the keys (at most MAX_THRESHOLD, sorted), each required, with the configured payload claims
    (not the configured attestations nor notation trust: those are facts of their own, `attestation_facts`
    and `notation_facts`)."""
    chosen = tuple(keys[f] for f in sorted(keys)[:MAX_THRESHOLD])
    return replace(policy_for(ctx), keys=chosen, threshold=max(1, len(chosen)), identities=(),
                   required_attestations=(), notation=None)


def signature_facts(ctx: SignetContext, references: Sequence[str], policy: TrustPolicy, *,
                    allow_http: bool = False, stats: VerifyStats | None = None) -> dict[str, SignatureFacts]:
    def verify(missing: list[str]) -> dict[str, SignatureFacts]:
        if not policy.keys:
            return {}  # nothing to check with: answered below, not cached
        results = verify_images(ctx, missing, Verifier(policy), source="cli", record=False, allow_http=allow_http,
                                stats=stats)
        return {r: SignatureFacts(frozenset(v.matched_keys), v.result, v.reason)
                for r, v in zip(missing, results, strict=True)}

    known = _cached(_signatures, policy.fingerprint, references, verify)
    for r in references:
        known.setdefault(r, SignatureFacts(frozenset(), "unsigned", "no key is known to check signatures with"))
    return known


def notation_facts(ctx: SignetContext, references: Sequence[str], trust: NotationTrust, *,
                   allow_http: bool = False, stats: VerifyStats | None = None) -> dict[str, NotationFacts]:
    """Each reference's notation signers under `trust`: the configured policy with `notation=trust` and
    no key, checked by the notation source alone (core/verify/notation_signatures.py, as the verifier
    checks it), threshold 1 (the one source reports every signature it checked)."""
    def verify(missing: list[str]) -> dict[str, NotationFacts]:
        policy = replace(policy_for(ctx), keys=(), identities=(), threshold=1, required_attestations=(),
                         notation=trust)
        verifier = Verifier(policy, sources=(("notation", check_notation),))
        results = verify_images(ctx, missing, verifier, source="cli", record=False, allow_http=allow_http,
                                stats=stats)
        fresh = {}
        for r, v in zip(missing, results, strict=True):
            signers = frozenset(k for k in v.matched_keys if k.startswith(SIGNER_PREFIX))
            refused = tuple((c.identity or "", str(c.details.get("statement") or ""),
                             str(c.details.get("format") or c.source), c.reason[:300])
                            for c in v.signatures if not c.ok and c.identity)
            fresh[r] = NotationFacts(signers, "" if signers else v.reason, refused, v.result == "error",
                                     v.result != "unsigned")
        return fresh

    return _cached(_notation, notation_key(trust), references, verify)


def recorded_notation(world: World, digest: str | None) -> NotationFacts:
    """Offline: the notation signers the last sweep recorded for the digest (under the notation trust then
    in force; a verified digest records the signers that met the threshold)."""
    signers = frozenset(k for k in world.recorded_signers.get(digest or "", frozenset())
                        if k.startswith(SIGNER_PREFIX))
    return NotationFacts(signers, "" if signers else "the last sweep recorded no trusted notation signer",
                         found=bool(signers))


def attestation_facts(ctx: SignetContext, references: Sequence[str], policy: TrustPolicy,
                      requirement: AttestationRequirement, *, allow_http: bool = False) -> dict[str, AttestationFacts]:
    def verify(missing: list[str]) -> dict[str, AttestationFacts]:
        if not policy.keys:
            return {}  # nothing to check with: answered below, not cached
        verifier = Verifier(replace(policy, threshold=1))

        def check(reference: str) -> tuple[str, AttestationFacts]:
            result = verify_attestations(ctx, reference, verifier, predicate_type=requirement.predicate_type,
                                         conditions=requirement.conditions, allow_http=allow_http, record=False)
            by = frozenset(c.key_fingerprint for c in result.checks
                           if c.ok and c.key_fingerprint and c.predicate_type == requirement.predicate_type)
            return reference, AttestationFacts(by, "" if by else result.reason, result.result == "error" and not by)

        workers = max(1, min(ctx.config.limits.concurrency, len(missing)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whatif-att") as pool:
            return dict(pool.map(check, missing))

    known = _cached(_attestations, f"{policy.fingerprint}/{requirement.key}", references, verify)
    for r in references:
        known.setdefault(r, AttestationFacts(frozenset(), "no key is known to check attestations with"))
    return known


def recorded_attestation(world: World, digest: str | None) -> AttestationFacts:
    """Offline, a `[[trust.attestations]]` requirement as the last sweep found it: it held where the digest
    was recorded verified (verification checks them), with the keys recorded; else it did not, saying why."""
    result, reason = world.recorded_verdicts.get(digest or "", ("", "no verification recorded"))
    if result == VERIFIED:
        return AttestationFacts(world.recorded_signers.get(digest or "", frozenset()), "")
    return AttestationFacts(frozenset(), f"the last sweep recorded {result or 'nothing'}: {reason}"[:300])
