"""Sweep: verify what really runs in the clusters, once per unique image, and say where it runs.

1. Read every target cluster's inventory (concurrently; unreachable clusters and refused
   namespaces are reported, and make the sweep fail, but never hide the other clusters).
2. Verify each unique `repository@running-digest` once through `verify_images` (bounded,
   concurrent, cached). The spec's repository is used because that is where its signatures live.
3. Each workload container inherits its image's result. A running platform child of a multi-arch
   image with no signature of its own is `verified` when the policy lets index signatures cover
   children and the index its spec's image names lists exactly that digest and verifies
   (core/verify/index_coverage.py; `covered_by` says which index). A container that is not verified is
   checked against active bypasses for exactly its cluster, namespace and workload: covered ones
   become `bypassed` with the bypass id (never `verified`).
4. History rows (source `sweep`) are written in one transaction: one per cluster, namespace,
   image and result, carrying the sweep id and the workloads. The clusters table records when each
   cluster was last seen and its last error (metrics read both).
"""

from __future__ import annotations

import secrets
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from core.bypass.coverage import standing_at
from core.clock import iso
from core.context import SignetContext
from core.clusters.inventory import ClusterInventory, ClusterTarget, read_inventories, running_reference
from core.history.records import record_verifications
from core.results import ERROR, RESULTS, VERIFIED
from core.verify.index_coverage import IndexCoverage, covered, index_coverage
from core.verify.result import VerificationResult
from core.verify.service import VerifyStats, verify_images
from core.verify.verifier import Verifier

NO_DIGEST_REASON = "no registry digest reported for this container (not started yet, or a local image ID)"


@dataclass(frozen=True)
class SweepFinding:
    """One container of one workload in one namespace (replicas folded together). `cluster` is the
    kube context: the name bypasses, history and metrics use."""

    cluster: str
    namespace: str
    workload_kind: str
    workload: str
    container: str
    image: str
    reference: str | None       # repository@digest verified, None when no running digest is known
    digest: str | None
    result: str
    reason: str
    pods: int
    matched_keys: tuple[str, ...] = ()
    bypass_id: str | None = None
    covered_by: str | None = None  # "index sha256:..." when an index signature covers this child digest

    def as_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "namespace": self.namespace,
                "workload_kind": self.workload_kind, "workload": self.workload, "container": self.container,
                "image": self.image, "reference": self.reference, "digest": self.digest, "result": self.result,
                "reason": self.reason, "pods": self.pods, "matched_keys": list(self.matched_keys),
                "bypass_id": self.bypass_id, "covered_by": self.covered_by}


@dataclass(frozen=True)
class ClusterStatus:
    cluster: str
    context: str
    reachable: bool
    error: str = ""
    forbidden_namespaces: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    pods: int = 0

    @property
    def complete(self) -> bool:
        return self.reachable and not self.forbidden_namespaces and not self.warnings

    def as_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "context": self.context, "reachable": self.reachable, "error": self.error,
                "forbidden_namespaces": list(self.forbidden_namespaces), "warnings": list(self.warnings),
                "pods": self.pods}


@dataclass(frozen=True)
class SweepReport:
    sweep_id: str
    at: str
    duration_s: float
    unique_images: int
    clusters: tuple[ClusterStatus, ...]
    findings: tuple[SweepFinding, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True only when every cluster was read completely and every container is verified."""
        return all(c.complete for c in self.clusters) and all(f.result == VERIFIED for f in self.findings)

    def counts(self) -> dict[str, int]:
        counts = Counter(f.result for f in self.findings)
        return {r: counts.get(r, 0) for r in RESULTS}

    def by_namespace(self) -> list[dict[str, Any]]:
        return _summary(self.findings, lambda f: (f.cluster, f.namespace), ("cluster", "namespace"))

    def by_workload(self) -> list[dict[str, Any]]:
        return _summary(self.findings, lambda f: (f.cluster, f.namespace, f.workload_kind, f.workload),
                        ("cluster", "namespace", "workload_kind", "workload"))

    def as_dict(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep_id, "at": self.at, "ok": self.ok, "duration_s": round(self.duration_s, 3),
                "unique_images": self.unique_images, "counts": self.counts(),
                "clusters": [c.as_dict() for c in self.clusters], "namespaces": self.by_namespace(),
                "workloads": self.by_workload(), "findings": [f.as_dict() for f in self.findings]}


def _summary(findings: Sequence[SweepFinding], key: Callable[[SweepFinding], tuple[str, ...]], names: tuple[str, ...]
             ) -> list[dict[str, Any]]:
    groups: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)
    for f in findings:
        groups[key(f)][f.result] += 1
    return [{**dict(zip(names, k, strict=True)), **{r: counts.get(r, 0) for r in RESULTS}}
            for k, counts in sorted(groups.items())]


def run_sweep(ctx: SignetContext, verifier: Verifier, targets: Sequence[ClusterTarget], *,
              namespaces: Sequence[str] | None = None, progress: Callable[[int, int], None] | None = None,
              allow_http: bool = False, stats: VerifyStats | None = None) -> SweepReport:
    started = time.perf_counter()
    sweep_id = "sweep_" + secrets.token_hex(6)
    inventories = read_inventories(ctx.config, targets, namespaces=namespaces, templates=False)
    groups = group_containers(inventories)
    references = sorted({g["reference"] for g in groups.values() if g["reference"]})
    results = verify_images(ctx, references, verifier, source="sweep", progress=progress, record=False,
                            allow_http=allow_http, stats=stats) if references else []
    by_reference = dict(zip(references, results, strict=True))
    coverage = index_coverage(ctx, verifier, ((g["image"], g["digest"]) for g in groups.values()
                                              if g["reference"] and not by_reference[g["reference"]].verified),
                              allow_http=allow_http)
    findings = tuple(_finding(ctx, g, by_reference, coverage) for _, g in sorted(groups.items()))
    report = SweepReport(sweep_id=sweep_id, at=iso(ctx.clock()), duration_s=time.perf_counter() - started,
                         unique_images=len(references), clusters=tuple(_status(inv) for inv in inventories),
                         findings=findings)
    _record(ctx, report, targets)
    return report


def group_containers(inventories: Sequence[ClusterInventory]) -> dict[tuple[str, ...], dict[str, Any]]:
    """One entry per (cluster, namespace, workload, container, image, running reference), counting its pods."""
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for inv in inventories:
        for pod in inv.pods:
            for c in pod.containers:
                reference = running_reference(c)
                key = (inv.context, pod.namespace, pod.workload_kind, pod.workload, c.container, c.image,
                       reference or "")
                group = groups.setdefault(key, {"cluster": inv.context,
                                                "namespace": pod.namespace, "workload_kind": pod.workload_kind,
                                                "workload": pod.workload, "container": c.container, "image": c.image,
                                                "reference": reference, "digest": c.running_digest, "pods": 0})
                group["pods"] += 1
    return groups


def _finding(ctx: SignetContext, g: dict[str, Any], by_reference: dict[str, VerificationResult],
             coverage: dict[tuple[str, str], IndexCoverage]) -> SweepFinding:
    verdict = by_reference.get(g["reference"]) if g["reference"] else None
    covered_by = None
    matched: tuple[str, ...]
    if verdict is None:
        reason = f"spec image '{g['image'][:200]}' is not a valid image reference" if g["digest"] else NO_DIGEST_REASON
        result, matched = ERROR, ()
    else:
        result, reason, matched = verdict.result, verdict.reason, verdict.matched_keys
        result, reason, matched, covered_by = covered(result, reason, matched, coverage.get((g["image"], g["digest"])))
    standing = standing_at(ctx, result, reason, g["digest"], cluster=g["cluster"], namespace=g["namespace"],
                           workload=g["workload"])
    return SweepFinding(cluster=g["cluster"], namespace=g["namespace"],
                        workload_kind=g["workload_kind"], workload=g["workload"], container=g["container"],
                        image=g["image"], reference=g["reference"], digest=g["digest"], result=standing.result,
                        reason=standing.reason, pods=g["pods"], matched_keys=tuple(matched),
                        bypass_id=standing.bypass_id, covered_by=covered_by)


def _status(inv: ClusterInventory) -> ClusterStatus:
    return ClusterStatus(cluster=inv.cluster, context=inv.context, reachable=inv.reachable, error=inv.error,
                         forbidden_namespaces=inv.forbidden, warnings=inv.warnings, pods=len(inv.pods))


def _record(ctx: SignetContext, report: SweepReport, targets: Sequence[ClusterTarget]) -> None:
    rows: dict[tuple[str | None, ...], dict[str, Any]] = {}
    for f in report.findings:
        key = (f.cluster, f.namespace, f.reference or f.image, f.result, f.bypass_id)
        row = rows.setdefault(key, {
            "at": report.at, "actor": ctx.actor, "source": "sweep", "reference": f.reference or f.image,
            "digest": f.digest, "result": f.result, "reason": f.reason, "matched_keys": f.matched_keys,
            "duration_ms": 0.0, "bypass_id": f.bypass_id, "cluster": f.cluster, "namespace": f.namespace,
            "details": {"sweep": report.sweep_id, "workloads": []}})
        workloads = row["details"]["workloads"]
        if len(workloads) < 50:  # bounded: a digest shared by hundreds of workloads keeps the first 50
            workloads.append(f"{f.workload_kind}/{f.workload}:{f.container}")
    kubeconfigs = {t.context: t.kubeconfig for t in targets}
    with ctx.store.write() as db:
        record_verifications(db, rows.values())
        for c in report.clusters:
            db.execute(
                "INSERT INTO clusters (context, kubeconfig, last_seen_at, last_error, created_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(context) DO UPDATE SET "
                "last_seen_at = COALESCE(excluded.last_seen_at, clusters.last_seen_at), "
                "last_error = excluded.last_error",
                (c.context, kubeconfigs.get(c.context), report.at if c.reachable else None, _problem(c),
                 report.at))


def _problem(c: ClusterStatus) -> str | None:
    """What kept a cluster from being read completely, for the clusters table (None when nothing did)."""
    if c.complete:
        return None
    parts = [c.error] if c.error else []
    if c.forbidden_namespaces:
        parts.append("forbidden namespaces: " + ", ".join(c.forbidden_namespaces))
    return "; ".join(parts + list(c.warnings))[:1000]
