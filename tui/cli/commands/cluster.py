"""`signet cluster ...`: what runs in the Kubernetes clusters, whether it is signed, and what the
admission policies trust.

Clusters are the configured `[[clusters]]`, else every context of `--kubeconfig` / $KUBECONFIG
(several files joined by ':') / ~/.kube/config. `--context` narrows to one.

- `cluster contexts`: the clusters Signet would read. `--json`: [{context, name, kubeconfig}].
- `cluster inventory [--drift]`: namespaces, workloads, pods and the digest each container runs;
  `--drift` also resolves each spec tag and flags containers whose tag now names another digest.
  `--json` fields: `clusters` [{cluster, context, reachable, error, server_version, namespaces,
  forbidden_namespaces, warnings, workloads [{namespace, kind, name, images}], pods [{namespace, name,
  workload_kind, workload, phase, containers}]}] where images/containers are [{container, type, image,
  image_id, running_digest}]; `drift` [{cluster, namespace, workload_kind, workload, pod, container,
  image, running_digest, registry_digest, status, reason}] (empty without --drift).
- `cluster sweep`: verify every unique running image once; exit 0 only when every cluster was read
  completely and every container is verified (or 1). `--prometheus-textfile` writes the metrics.
  `--json` fields: `sweep_id`, `at`, `ok`, `duration_s`, `unique_images`, `counts` {result: n},
  `clusters` [{cluster, context, reachable, error, forbidden_namespaces, warnings, pods}],
  `namespaces` [{cluster, namespace, verified, unsigned, invalid, error, bypassed}],
  `workloads` [{cluster, namespace, workload_kind, workload, <the same counts>}],
  `findings` [{cluster, namespace, workload_kind, workload, container, image, reference, digest,
  result, reason, pods, matched_keys, bypass_id, covered_by}] (`covered_by`: "index sha256:..." when
  the running digest is a platform child covered by the signature on the index its spec's image names,
  `[trust] index_signature_covers_children`; else null).
- `cluster policy show`: each cluster's Kyverno verifyImages rules and Sigstore ClusterImagePolicies
  (keys by fingerprint, image globs, mode, namespaces) and their drift against the key inventory;
  exit 1 when any cluster is unreachable or has an error-level issue. `--json` fields per cluster:
  `cluster`, `context`, `reachable`, `error`, `drifted`, `policies` [{engine, kind, namespace, name,
  rule, mode, image_globs, keys [{fingerprint, reference, error}], keyless, required, namespaces,
  excluded_namespaces}], `issues` [{severity, kind, policy, detail}].
- `cluster policy generate --out FILE --image-glob G [--engine kyverno|sigstore] [--apply --context C]`:
  the policy for the keys Signet trusts (active, retiring, staged); `--apply` server-side-applies it
  (custodian role, audited). The file is recorded: revoking a key refuses while it still trusts that key.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import click

from core.clusters.drift import find_drift
from core.clusters.inventory import cluster_targets, read_inventories
from core.clusters.policies import read_policies
from core.clusters.policy_apply import ENGINES, apply_policy, generate_policy
from core.clusters.sweep import SweepReport, run_sweep
from core.errors import EXIT_CHECK_FAILED, UsageError
from core.keys.inventory import list_keys
from core.metrics import write_textfile
from core.policy.files import save_policy_file
from core.policy.generate import MODES
from core.results import RESULTS
from tui.cli.context import signet_context
from tui.cli.output import diagnostic, emit_json, emit_line, emit_table
from tui.cli.trust_options import allow_http_option, stacked, trust_options, verifier_from_flags


_scope_flags = stacked(
    click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace (the default)."),
    click.option("-n", "--namespace", "namespaces", multiple=True, metavar="NS",
                 help="Only these namespaces (repeatable)."),
    click.option("--context", "context", default=None, metavar="NAME", help="Only this cluster."),
    click.option("--kubeconfig", default=None, metavar="PATH",
                 help="Kubeconfig file(s) to read instead of the configured clusters."),
)


def _namespaces(namespaces: tuple[str, ...], all_namespaces: bool) -> list[str] | None:
    if namespaces and all_namespaces:
        raise UsageError("give --namespace or --all-namespaces, not both")
    return list(namespaces) or None


@click.group("cluster")
def command() -> None:
    """Kubernetes clusters: inventory, sweeps, admission-policy drift."""


@command.command("contexts")
@click.option("--kubeconfig", default=None, metavar="PATH",
              help="Kubeconfig file(s) instead of the configured clusters.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def contexts(ctx: click.Context, kubeconfig: str | None, as_json: bool) -> None:
    """The clusters Signet reads."""
    sc = signet_context(ctx)
    targets = cluster_targets(sc.config, kubeconfig=kubeconfig)
    rows = [{"context": t.context, "name": t.label, "kubeconfig": t.kubeconfig or ""} for t in targets]
    if as_json:
        emit_json(rows)
    else:
        emit_table(["context", "name", "kubeconfig"], [(r["context"], r["name"], r["kubeconfig"]) for r in rows])


@command.command("inventory")
@_scope_flags
@click.option("--drift", is_flag=True, help="Resolve spec tags in the registry and flag drift.")
@allow_http_option
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def inventory(ctx: click.Context, kubeconfig: str | None, context: str | None, namespaces: tuple[str, ...],
              all_namespaces: bool, drift: bool, allow_http_registry: bool, as_json: bool) -> None:
    """Namespaces, workloads and the digests their containers run. Exit 1 when a cluster was not read fully."""
    sc = signet_context(ctx)
    targets = cluster_targets(sc.config, context=context, kubeconfig=kubeconfig)
    inventories = read_inventories(sc.config, targets, namespaces=_namespaces(namespaces, all_namespaces))
    drifts = find_drift(sc, inventories, allow_http=allow_http_registry) if drift else []
    if as_json:
        emit_json({"clusters": [i.as_dict() for i in inventories], "drift": [d.as_dict() for d in drifts]})
    else:
        for inv in inventories:
            _cluster_line(inv.cluster, inv.reachable, inv.error, inv.forbidden, inv.warnings)
        emit_table(["cluster", "namespace", "workload", "pod", "container", "image", "running digest"],
                   [(inv.cluster, p.namespace, f"{p.workload_kind}/{p.workload}", p.name, c.container, c.image,
                     c.running_digest or "(unknown)")
                    for inv in inventories for p in inv.pods for c in p.containers])
        if drift:
            emit_table(["cluster", "namespace", "pod", "container", "image", "status", "reason"],
                       [(d.cluster, d.namespace, d.pod, d.container, d.image, d.status, d.reason)
                        for d in drifts if d.status != "current"], title="drift")
    if not all(i.complete for i in inventories):
        sys.exit(EXIT_CHECK_FAILED)


@command.command("sweep")
@_scope_flags
@trust_options
@click.option("--prometheus-textfile", default=None, metavar="PATH",
              help="Write the metrics here (node_exporter textfile format, replaced atomically).")
@click.option("--json", "as_json", is_flag=True, help="The whole report as JSON (fields in the module doc).")
@click.pass_context
def sweep(ctx: click.Context, /, kubeconfig: str | None, context: str | None, namespaces: tuple[str, ...],
          all_namespaces: bool, prometheus_textfile: str | None, as_json: bool, allow_http_registry: bool,
          **flags: Any) -> None:
    """Verify every image running in the clusters, once per unique digest. Exit 1 unless all is verified."""
    sc = signet_context(ctx)
    verifier = verifier_from_flags(sc, flags)
    targets = cluster_targets(sc.config, context=context, kubeconfig=kubeconfig)
    report = run_sweep(sc, verifier, targets, namespaces=_namespaces(namespaces, all_namespaces),
                       progress=_progress() if sys.stderr.isatty() else None, allow_http=allow_http_registry)
    if prometheus_textfile:
        write_textfile(sc, prometheus_textfile)
    if as_json:
        emit_json(report.as_dict())
    else:
        _print_report(report)
    sys.exit(0 if report.ok else EXIT_CHECK_FAILED)


def _progress() -> Callable[[int, int], None]:
    shown = [-1]

    def report(done: int, total: int) -> None:
        step = done * 10 // max(total, 1)
        if step != shown[0]:
            shown[0] = step
            diagnostic(f"verified {done}/{total} images")

    return report


def _cluster_line(cluster: str, reachable: bool, error: str, forbidden: tuple[str, ...],
                  warnings: tuple[str, ...]) -> None:
    if not reachable:
        diagnostic(f"cluster {cluster}: UNREACHABLE: {error}")
    if forbidden:
        diagnostic(f"cluster {cluster}: forbidden namespaces (not checked): {', '.join(forbidden)}")
    for warning in warnings:
        diagnostic(f"cluster {cluster}: {warning}")


def _print_report(report: SweepReport) -> None:
    for c in report.clusters:
        _cluster_line(c.cluster, c.reachable, c.error, c.forbidden_namespaces, c.warnings)
    emit_table(["cluster", "namespace", *RESULTS], [(n["cluster"], n["namespace"], *(n[k] for k in RESULTS))
                                                   for n in report.by_namespace()], title="by namespace")
    emit_table(["result", "cluster", "namespace", "workload", "container", "reference", "reason", "bypass"],
               [(f.result, f.cluster, f.namespace, f"{f.workload_kind}/{f.workload}", f.container,
                 f.reference or f.image, f.reason, f.bypass_id or "")
                for f in report.findings if f.result != "verified"], title="not verified")
    total = report.counts()
    diagnostic(f"sweep {report.sweep_id}: {report.unique_images} unique images in {report.duration_s:.2f}s; "
               + ", ".join(f"{k} {v}" for k, v in total.items()) + ("" if report.ok else " -- NOT OK"))


@command.group("policy")
def policy() -> None:
    """Admission policies (Kyverno, Sigstore policy-controller): what they trust, and drift."""


@policy.command("show")
@click.option("--kubeconfig", default=None, metavar="PATH",
              help="Kubeconfig file(s) instead of the configured clusters.")
@click.option("--context", "context", default=None, metavar="NAME", help="Only this cluster.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def policy_show(ctx: click.Context, kubeconfig: str | None, context: str | None, as_json: bool) -> None:
    """What each cluster's admission policies trust, and how that drifts from the key inventory."""
    sc = signet_context(ctx)
    reports = read_policies(sc.config, cluster_targets(sc.config, context=context, kubeconfig=kubeconfig),
                            list_keys(sc))
    if as_json:
        emit_json([r.as_dict() for r in reports])
    else:
        for r in reports:
            if not r.reachable:
                diagnostic(f"cluster {r.cluster}: UNREACHABLE: {r.error}")
        emit_table(["cluster", "policy", "mode", "keys", "globs"],
                   [(r.cluster, p.label, p.mode, ", ".join(k.fingerprint[:16] if k.fingerprint else k.reference
                                                          for k in p.keys) + (f" +{p.keyless} keyless" if p.keyless
                                                                              else ""),
                     ", ".join(p.image_globs)) for r in reports for p in r.policies], title="policies")
        emit_table(["cluster", "severity", "issue", "policy", "detail"],
                   [(r.cluster, i.severity, i.kind, i.policy, i.detail) for r in reports for i in r.issues],
                   title="drift")
    if any(r.drifted for r in reports):
        sys.exit(EXIT_CHECK_FAILED)


@policy.command("generate")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Write the policy YAML here.")
@click.option("--engine", type=click.Choice(ENGINES), default="kyverno", show_default=True)
@click.option("--image-glob", "image_globs", multiple=True, required=True, metavar="GLOB",
              help="Images the policy applies to (repeatable), e.g. 'registry.example.com/*'.")
@click.option("--name", default="", help="Object name (default: [policy] verify_images_policy).")
@click.option("--mode", type=click.Choice(MODES), default="Enforce", show_default=True)
@click.option("--apply", "apply_", is_flag=True, help="Also apply it (server-side apply) to --context.")
@click.option("--context", "context", default=None, metavar="NAME", help="The cluster --apply writes to.")
@click.option("--kubeconfig", default=None, metavar="PATH", help="Kubeconfig file(s) for --context.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written/applied as JSON.")
@click.pass_context
def policy_generate(ctx: click.Context, out: str, engine: str, image_globs: tuple[str, ...], name: str, mode: str,
                    apply_: bool, context: str | None, kubeconfig: str | None, as_json: bool) -> None:
    """Write the admission policy for the keys Signet trusts; --apply puts it in a cluster (custodian)."""
    sc = signet_context(ctx)
    if apply_ and not context:
        raise UsageError("--apply needs --context: policies are applied to one named cluster at a time")
    if apply_:
        sc.require_write(None, action="applying an admission policy")  # fail before writing anything
    doc = generate_policy(sc, engine=engine, image_globs=image_globs, name=name, mode=mode)
    save_policy_file(sc, out, [doc], source="cluster policy generate")  # recorded: revoking a key checks it
    applied = None
    if apply_:
        (target,) = cluster_targets(sc.config, context=context, kubeconfig=kubeconfig)
        applied = apply_policy(sc, target, doc)
    if as_json:
        emit_json({"out": out, "kind": doc["kind"], "name": doc["metadata"]["name"],
                   "applied": applied.as_dict() if applied else None})
    else:
        emit_line(f"wrote {doc['kind']} {doc['metadata']['name']} to {out}")
        if applied:
            emit_line(f"applied to {applied.context} (generation {applied.generation}, "
                      f"resourceVersion {applied.resource_version})")
