"""Which index signature covers a running platform child (a cluster pod, a Lambda function).

The kubelet (and Lambda) report the digest they pulled, which for a multi-arch image is a platform
child, while cosign usually signed the index (cosign-formats.md §1.1). When the policy lets index
signatures cover children (`TrustPolicy.index_covers_children`), the index is found through the
reference the workload was deployed from (the pod spec's image, the function's ImageUri): it is
fetched now, and the running digest is covered only when that index's own manifest list names it
and the index verifies. A name alone proves nothing: a digest the index does not list (the tag moved,
or never pointed there) is not covered. Any failure leaves the digest uncovered, with the reason.
Finding the index (`find_indexes`) is shared with the what-if, which judges the index's signers itself.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable

from core.context import SignetContext
from core.errors import SignetError
from core.registry.deadline import deadline_for_thread
from core.registry.reference import parse_reference
from core.results import VERIFIED
from core.verify.platforms import child_of, covered_by_index_reason
from core.verify.service import verify_images
from core.verify.session import VerifySession
from core.verify.verifier import Verifier


@dataclass(frozen=True)
class IndexCoverage:
    """What one (deployed reference, running digest) pair found: covered (`index_digest` set and
    `matched_keys` the index's signers), or `reason` why not."""

    index_digest: str | None = None
    platform: str = ""
    matched_keys: tuple[str, ...] = ()
    reason: str = ""

    @property
    def covered(self) -> bool:
        return self.index_digest is not None

    @property
    def covered_by(self) -> str | None:
        return f"index {self.index_digest}" if self.index_digest else None


@dataclass(frozen=True)
class ListedChild:
    """The index a running digest was deployed through, whose own manifest list names that digest."""

    reference: str      # repository@index-digest
    digest: str         # the index's digest
    platform: str       # the child's os/arch[/variant]


def find_indexes(ctx: SignetContext, deployed: Iterable[tuple[str, str]], *, allow_http: bool = False
                 ) -> dict[tuple[str, str], ListedChild | str]:
    """For each (reference deployed from, running digest): the index the reference names now when it
    lists the digest, or why not (an index that does not list it, or cannot be read). Pairs whose
    reference names no index (nothing to say) are left out. The sweep, the Lambda gate and the
    what-if all find indexes here."""
    pairs = sorted(set(deployed))
    if not pairs:
        return {}
    session = VerifySession(ctx, allow_http=allow_http)
    try:
        workers = max(1, min(ctx.config.limits.concurrency, len(pairs)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="index-coverage") as pool:
            found = list(pool.map(lambda pair: _child(session, *pair), pairs))
    finally:
        session.close()
    return {pair: item for pair, item in zip(pairs, found, strict=True) if item is not None}


def index_coverage(ctx: SignetContext, verifier: Verifier, deployed: Iterable[tuple[str, str]], *,
                   allow_http: bool = False) -> dict[tuple[str, str], IndexCoverage]:
    """For each (reference deployed from, running digest) whose deployed reference names an index,
    what covers the digest. Pairs whose reference is not an index (nothing to say) are left out;
    so is everything when the policy does not let index signatures cover children."""
    if not verifier.policy.index_covers_children:
        return {}
    listed = find_indexes(ctx, deployed, allow_http=allow_http)
    indexes = sorted({item.reference for item in listed.values() if isinstance(item, ListedChild)})
    verdicts = dict(zip(indexes, verify_images(ctx, indexes, verifier, source="index-coverage", record=False,
                                               allow_http=allow_http), strict=True)) if indexes else {}
    coverage: dict[tuple[str, str], IndexCoverage] = {}
    for pair, item in listed.items():
        if isinstance(item, str):
            coverage[pair] = IndexCoverage(reason=item)
            continue
        verdict = verdicts.get(item.reference)
        if verdict is not None and verdict.result == VERIFIED and verdict.digest == item.digest:
            coverage[pair] = IndexCoverage(item.digest, item.platform, verdict.matched_keys,
                                           covered_by_index_reason(item.digest, item.platform))
        else:
            why = f"{verdict.result}: {verdict.reason}" if verdict is not None else "not verified"
            coverage[pair] = IndexCoverage(reason=f"its index {item.digest} is {why}"[:500])
    return coverage


def covered(result: str, reason: str, matched: tuple[str, ...], coverage: IndexCoverage | None
            ) -> tuple[str, str, tuple[str, ...], str | None]:
    """A running digest's (result, reason, matched keys, covered_by) once its index is considered:
    `verified` through the index when covered; else its own verdict, with why the index did not help."""
    if result == VERIFIED or coverage is None:
        return result, reason, matched, None
    if coverage.covered:
        return VERIFIED, f"{coverage.reason} (no own signature: {reason})"[:1000], coverage.matched_keys, \
            coverage.covered_by
    return result, f"{reason}; {coverage.reason}"[:1000], matched, None


def _child(session: VerifySession, deployed: str, digest: str) -> ListedChild | str | None:
    """The index when `deployed` names an index listing `digest`; a reason when it names an index
    that does not list it or cannot be read; None when it names no index."""
    try:
        ref = parse_reference(deployed)
        if ref.digest == digest:
            return None  # deployed by this very digest: nothing above it
        with deadline_for_thread(time.monotonic() + session.limits.image_timeout):
            index = session.source_for(ref).resolve(ref)
        if not index.is_index:
            return None
        child = child_of(index, digest, session.limits.max_layers)
    except SignetError as exc:
        return f"the index behind {deployed[:200]} could not be read: {exc}"[:500]
    except Exception as exc:  # fail closed on anything unexpected: not covered, saying why
        return f"the index behind {deployed[:200]} could not be read: internal error: {type(exc).__name__}"
    if child is None:
        return f"not a child of the index {index.digest} that {deployed[:200]} names"
    return ListedChild(str(ref.with_tag(None).with_digest(index.digest)), index.digest, child.platform)
