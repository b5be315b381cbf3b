"""What a bypass target runs, as Signet last recorded it: a bypass for a digest the target does not
run is usually a mistake (a digest copied from another target), so requesters and approvers are
warned. Sources: the Lambda inventory (`lambda_functions`) and each cluster's latest sweep."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from core.bypass.model import BypassScope, ScopeKind
from core.context import SignetContext

MAX_SWEEP_ROWS = 50_000  # rows of the latest sweeps read; a digest shared by many workloads is one row


def _workload_name(entry: str) -> str:
    """`Deployment/web:app` (as sweeps record workloads) -> `web`."""
    return entry.split("/", 1)[-1].rsplit(":", 1)[0]


@dataclass(frozen=True)
class RunningDigests:
    lambdas: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (region, function) -> digests
    # (cluster context, namespace) -> workload name -> digests
    workloads: dict[tuple[str, str], dict[str, set[str]]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # configured cluster name -> its context

    def of(self, scope: BypassScope) -> set[str] | None:
        """The digests `scope` ran when last recorded; None when Signet has no record of it."""
        if scope.kind is ScopeKind.LAMBDA:
            return self.lambdas.get((scope.region or "", scope.function or ""))
        cluster = self.aliases.get(scope.cluster or "", scope.cluster or "")
        namespace = self.workloads.get((cluster, scope.namespace or ""))
        if namespace is None:
            return None
        if scope.workload:
            return namespace.get(scope.workload)
        return set().union(*namespace.values())

    def warning(self, scope: BypassScope, digest: str) -> str:
        """Why `digest` looks wrong for `scope`, or "" when the target ran it."""
        running = self.of(scope)
        target = scope.describe()
        if running is None:
            return (f"Signet has no record of what {target} runs (sweep the cluster or list the Lambda "
                    "functions first): check the digest")
        if digest in running:
            return ""
        shown = ", ".join(sorted(d[:19] + "…" for d in running)[:3]) or "nothing"
        return f"{digest[:19]}… is not what {target} runs (last recorded: {shown})"


def digest_warning(ctx: SignetContext, scope: BypassScope, digest: str) -> str:
    """Why `digest` looks wrong for `scope` as Signet last recorded it, or "" (one line, for people and
    for the audit entry of the request and of each approval)."""
    return running_digests(ctx).warning(scope, digest)


def running_digests(ctx: SignetContext) -> RunningDigests:
    lambdas: dict[tuple[str, str], set[str]] = {}
    for row in ctx.store.query("SELECT region, name, resolved_digest FROM lambda_functions "
                               "WHERE resolved_digest IS NOT NULL"):
        lambdas.setdefault((row["region"], row["name"]), set()).add(row["resolved_digest"])
    aliases = {c.name: c.context for c in ctx.config.clusters if c.name}
    workloads: dict[tuple[str, str], dict[str, set[str]]] = {}
    rows = ctx.store.query(
        "SELECT v.cluster, v.namespace, v.digest, v.details FROM verifications v JOIN "
        "(SELECT cluster, MAX(at) AS at FROM verifications WHERE source = 'sweep' GROUP BY cluster) latest "
        "ON v.cluster = latest.cluster AND v.at = latest.at "
        "WHERE v.source = 'sweep' AND v.digest IS NOT NULL LIMIT ?", (MAX_SWEEP_ROWS,))
    for row in rows:
        cluster = aliases.get(row["cluster"], row["cluster"])
        namespace = workloads.setdefault((cluster, row["namespace"] or ""), {})
        for entry in json.loads(row["details"] or "{}").get("workloads", []):
            namespace.setdefault(_workload_name(entry), set()).add(row["digest"])
    return RunningDigests(lambdas, workloads, aliases)
