"""`what-if`: judge every running workload before and after candidate changes.

`prepare_what_if` reads the world once (live, or the last sweep) and verifies each running digest once
against every key involved, and once per notation trust involved (the configured one, a candidate's:
core/whatif/facts.py); `WhatIf.evaluate(changes)` is then pure computation over those facts, so the
console recounts as changes are toggled without touching a registry.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from core.bypass.coverage import active_bypass_for
from core.clusters.inventory import ClusterTarget
from core.context import SignetContext
from core.errors import InputError
from core.keys.inventory import list_keys
from core.results import VERIFIED
from core.verify.index_coverage import ListedChild, find_indexes
from core.verify.policy import policy_for
from core.verify.service import VerifyStats
from core.notation.config import NotationTrust
from core.whatif.change import (Change, TrustState, apply_changes, notation_key, notation_label,
                                trust_requirements)
from core.whatif.evaluate import Facts, Verdict, judge
from core.whatif.facts import (AttestationFacts, NotationFacts, SignatureFacts, attestation_facts, facts_policy,
                               known_keys, notation_facts, recorded_attestation, recorded_notation, signature_facts)
from core.whatif.fixes import Fix, bypass_command, cheapest_fixes
from core.whatif.world import RunningWorkload, World, read_world, world_from_last_sweep

STATUSES = ("allowed", "denied", "newly-denied", "newly-allowed")
OFFLINE_NOTE = ("offline: the clusters' admission policies were not read; cluster workloads are judged by [trust] "
                "with the signers the last sweep recorded")


@dataclass(frozen=True)
class WorkloadOutcome:
    workload: RunningWorkload
    before: Verdict
    after: Verdict
    fixes: tuple[Fix, ...] = ()
    bypass: str = ""          # the prefilled `signet bypass request ...` line (the fallback for any denial)

    @property
    def status(self) -> str:
        if self.after.allowed:
            return "allowed" if self.before.allowed else "newly-allowed"
        return "denied" if not self.before.allowed else "newly-denied"

    def as_dict(self) -> dict[str, Any]:
        return {**self.workload.as_dict(), "status": self.status, "reason": self.after.reason,
                "before": self.before.reason, "bypass_id": self.after.bypass_id, "covered_by": self.after.covered_by,
                "fixes": [f.as_dict() for f in self.fixes], "bypass_command": self.bypass}


@dataclass(frozen=True)
class WhatIfReport:
    changes: tuple[Change, ...]
    outcomes: tuple[WorkloadOutcome, ...]
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    duration_s: float = 0.0

    @property
    def newly_denied(self) -> list[WorkloadOutcome]:
        return [o for o in self.outcomes if o.status == "newly-denied"]

    def counts(self) -> dict[str, int]:
        counts = Counter(o.status for o in self.outcomes)
        return {s: counts.get(s, 0) for s in STATUSES}

    def by_place(self) -> list[dict[str, Any]]:
        """Counts per cluster and namespace (Lambda: per region)."""
        groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for o in self.outcomes:
            w = o.workload
            groups[(w.cluster or "lambda", w.namespace)][o.status] += 1
        return [{"cluster": c, "namespace": n, **{s: counts.get(s, 0) for s in STATUSES}}
                for (c, n), counts in sorted(groups.items())]

    def by_cluster(self) -> list[dict[str, Any]]:
        groups: dict[str, Counter[str]] = defaultdict(Counter)
        for o in self.outcomes:
            groups[o.workload.cluster or "lambda"][o.status] += 1
        return [{"cluster": c, **{s: counts.get(s, 0) for s in STATUSES}} for c, counts in sorted(groups.items())]

    def as_dict(self) -> dict[str, Any]:
        return {"changes": [c.as_dict() for c in self.changes], "counts": self.counts(),
                "newly_denied": len(self.newly_denied), "clusters": self.by_cluster(), "namespaces": self.by_place(),
                "workloads": [o.as_dict() for o in self.outcomes], "problems": list(self.problems),
                "notes": list(self.notes), "duration_s": round(self.duration_s, 3)}


@dataclass
class WhatIf:
    """A world with its facts, ready to evaluate any combination of `candidates` (each verified up front)."""

    ctx: SignetContext
    world: World
    baseline: TrustState
    candidates: tuple[Change, ...]
    signatures: dict[str, SignatureFacts]                    # running digests and the indexes they came from
    attestations: dict[str, dict[str, AttestationFacts]]    # requirement key -> reference -> facts
    keys: dict[str, Any]
    indexes: dict[tuple[str, str], ListedChild | str]       # (deployed from, running digest) -> its index
    problems: tuple[str, ...] = ()
    notation: dict[str, dict[str, NotationFacts]] = field(default_factory=dict)  # notation key -> ref -> facts
    _bypasses: dict[tuple[str, str, str, str, str | None], str | None] = field(default_factory=dict)
    _before: list[Verdict] = field(default_factory=list)   # the baseline's verdicts, judged once

    def evaluate(self, changes: Sequence[Change]) -> WhatIfReport:
        started = time.perf_counter()
        after = apply_changes(self.baseline, changes)
        facts = Facts(self.signatures, self.attestations, self.indexes, self.notation)
        label = "; ".join(c.label for c in changes) or "no change"
        if not self._before:
            self._before = [judge(w, self.baseline, facts, self.world.labels, self._bypass,
                                  offline=self.world.offline) for w in self.world.workloads]
        outcomes = []
        for w, before in zip(self.world.workloads, self._before, strict=True):
            now = judge(w, after, facts, self.world.labels, self._bypass, offline=self.world.offline)
            fixes: tuple[Fix, ...] = ()
            bypass = ""
            if not now.allowed:
                fixes = cheapest_fixes(w, now, before, self._signed_once(w, after.index_covers_children), self.keys,
                                       label,
                                       scope_changed=any(c.kind in ("policy", "enforce") for c in changes))
                bypass = bypass_command(w, f"{label} would deny {w.label}")
            outcomes.append(WorkloadOutcome(w, before, now, fixes, bypass))
        notes = (OFFLINE_NOTE,) if self.world.offline else ()
        return WhatIfReport(tuple(changes), tuple(outcomes), self.problems, notes, time.perf_counter() - started)

    def _signed_once(self, w: RunningWorkload, index_covers_children: bool) -> str | None:
        """What to re-sign when a known key already signed the digest, or the index it was deployed
        from: that index when it covers its children, else the digest itself."""
        own = self.signatures.get(w.reference or "")
        if own is not None and own.signers:
            return w.reference
        index = self.indexes.get((w.image, w.digest or ""))
        if isinstance(index, ListedChild) and index.reference in self.signatures \
                and self.signatures[index.reference].signers:
            return index.reference if index_covers_children else w.reference
        return None

    def _bypass(self, w: RunningWorkload) -> str | None:
        key = (w.place, w.cluster, w.namespace, w.name, w.digest)
        if key not in self._bypasses:
            found = (active_bypass_for(self.ctx, digest=w.digest, function=w.name, region=w.namespace)
                     if w.place == "lambda" else
                     active_bypass_for(self.ctx, digest=w.digest, cluster=w.cluster, namespace=w.namespace,
                                       workload=w.name)) if w.digest else None
            self._bypasses[key] = found.id if found else None
        return self._bypasses[key]


def prepare_what_if(ctx: SignetContext, candidates: Sequence[Change], *, targets: Sequence[ClusterTarget] = (),
                    from_last_sweep: bool = False, allow_http: bool = False, world: World | None = None,
                    stats: VerifyStats | None = None) -> WhatIf:
    """Read the world (unless given) and verify what the candidates need; raises InputError for a
    candidate that cannot be evaluated here."""
    if world is None:
        world = world_from_last_sweep(ctx) if from_last_sweep else read_world(ctx, targets)
    configured = policy_for(ctx)
    baseline = TrustState(frozenset(k.fingerprint for k in configured.keys), configured.threshold, None,
                          dict(world.policies), configured.index_covers_children,
                          trust_requirements(configured.required_attestations), notation_key(configured.notation),
                          notation_label(configured.notation))
    apply_changes(baseline, candidates)  # each must apply (an --enforce naming no policy is bad input)
    references = sorted({w.reference for w in world.workloads if w.reference})
    keys = known_keys(ctx, [k for c in candidates for k in c.keys])
    requirements = {r.key: r for r in [*baseline.trust_attestations, *(r for c in candidates for r in
                                                                         c.trust_attestations)]}
    requirements.update({c.attestation.key: c.attestation for c in candidates if c.attestation is not None})
    notations: dict[str, NotationTrust] = {notation_key(t): t for t in [configured.notation, *(
        c.notation_trust for c in candidates)] if t is not None}
    notation: dict[str, dict[str, NotationFacts]] = {}
    if world.offline:
        if any(c.attestation is not None or c.trust_attestations for c in candidates):
            raise InputError("a change requiring an attestation needs the registries: leave out --from-last-sweep")
        if set(notations) - {baseline.notation}:
            raise InputError("a change of notation trust policy needs the registries: leave out --from-last-sweep")
        if baseline.notation:  # the notation signers the last sweep recorded, under the notation trust in force
            notation[baseline.notation] = {w.reference: recorded_notation(world, w.digest)
                                           for w in world.workloads if w.reference}
        signatures = {w.reference: SignatureFacts(world.recorded_signers.get(w.digest or "", frozenset()),
                                                  "recorded", "as the last sweep recorded")
                      for w in world.workloads if w.reference}
        # [[trust.attestations]] held where the last sweep recorded the digest verified (it checked them)
        attestations: dict[str, dict[str, AttestationFacts]] = {
            key: {w.reference: recorded_attestation(world, w.digest) for w in world.workloads if w.reference}
            for key in requirements}
        indexes: dict[tuple[str, str], ListedChild | str] = {}  # the recorded signers include index coverage
    else:
        policy = facts_policy(ctx, keys)
        signatures = signature_facts(ctx, references, policy, allow_http=allow_http, stats=stats)
        # as the sweep does: the index each digest not verified on its own was deployed through
        indexes = find_indexes(ctx, ((w.image, w.digest) for w in world.workloads if w.reference and w.digest
                                     and signatures[w.reference].result != VERIFIED), allow_http=allow_http)
        index_references = sorted({i.reference for i in indexes.values() if isinstance(i, ListedChild)})
        signatures.update(signature_facts(ctx, index_references, policy, allow_http=allow_http, stats=stats))
        attestations = {k: attestation_facts(ctx, references + index_references, policy, r, allow_http=allow_http)
                        for k, r in requirements.items()}
        notation = {k: notation_facts(ctx, references + index_references, trust, allow_http=allow_http)
                    for k, trust in notations.items()}
    records = {r.fingerprint: r for r in list_keys(ctx)}
    return WhatIf(ctx, world, baseline, tuple(candidates), signatures, attestations, records, indexes,
                  world.problems, notation)


def what_if(ctx: SignetContext, changes: Sequence[Change], **options: Any) -> WhatIfReport:
    if not changes:
        raise InputError("give a change to evaluate: a policy file, --enforce, --drop-key, --add-key, "
                         "--require-attestation, --trust or --notation-config")
    return prepare_what_if(ctx, changes, **options).evaluate(changes)
