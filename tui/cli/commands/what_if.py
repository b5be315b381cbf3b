"""`signet what-if CHANGE`: what a trust change would deny among everything that runs, before it is made.

The change (several flags compose, applied in the order below): `--policy FILE` (a Kyverno ClusterPolicy /
Policy / ImageValidatingPolicy or Sigstore ClusterImagePolicy to apply), `--enforce POLICY` (Audit to
Enforce), `--drop-key KEY`, `--add-key KEY`, `--require-attestation TYPE [--condition CEL]...
[--max-severity LEVEL]`, `--trust FILE` (a TOML file whose [trust] table replaces the configured one, its
notation trust included), `--notation-config DIR|FILE` (a notation trust policy replacing the configured
one: a notation config directory with its trust store, or a trust policy file read with the configured
trust store). [trust] counts the signers the notation trust policy in force trusts (notation, AWS Signer)
toward its threshold next to its keys, as the Lambda gate and the sweep do.
It is judged against every running workload container of every configured cluster (`--context` narrows)
and every Lambda function, live, or with `--from-last-sweep` from the last sweep's recorded workloads and
signers without asking any cluster. Each workload is allowed, denied (already), newly denied or newly
allowed, with the reason and for a denial the cheapest fix (a `signet sign ...` line, an attestation to
attach, narrowing the policy's scope, or a prefilled `signet bypass request ...` line).
The change is only evaluated here; the console's `:whatif` view can apply a policy (custodian).

Exit codes: 1 when anything would be newly denied (a CI check on policy pull requests), 0 otherwise;
2 bad input (unreadable file, unknown key or policy, a notation trust policy notation would reject, no
change given).

`--json`: `changes` [{kind, label}], `counts` {allowed, denied, newly-denied, newly-allowed},
`newly_denied`, `clusters` [{cluster, <the counts>}], `namespaces` [{cluster, namespace, <the counts>}],
`workloads` [{place, cluster, namespace, kind, name, container, image, reference, digest, pods, status,
reason, before, bypass_id, covered_by, fixes [{kind, text, command}], bypass_command}], `problems`, `notes`,
`duration_s`. `covered_by` is `index sha256:...` when a running platform child passes only through the
multi-arch index it was deployed from (found as the sweep finds it; `[trust] index_signature_covers_children`
decides whether that counts, as it does for the sweep), else null.
"""

from __future__ import annotations

import sys

import click

from core.clusters.inventory import cluster_targets
from core.errors import EXIT_CHECK_FAILED
from core.text import safe_text
from core.whatif.change import (Change, attestation_change, enforce_change, key_change, notation_change,
                                policy_file_change, trust_change)
from core.whatif.service import WhatIfReport, what_if
from tui.cli.context import signet_context
from tui.cli.output import diagnostic, emit_json, emit_line, emit_table
from tui.cli.trust_options import allow_http_option


@click.command("what-if")
@click.option("--policy", "policy_files", multiple=True, metavar="FILE", help="An admission policy file to apply.")
@click.option("--enforce", "enforce", multiple=True, metavar="POLICY", help="Turn this policy (name or Kind/name) "
              "from Audit to Enforce.")
@click.option("--drop-key", "drop_keys", multiple=True, metavar="KEY", help="Stop trusting this key ([trust] and "
              "every policy pinning it).")
@click.option("--add-key", "add_keys", multiple=True, metavar="KEY", help="Trust this key too (public key file or "
              "key-store name).")
@click.option("--require-attestation", default=None, metavar="TYPE",
              help="Require a verified attestation of TYPE (vuln, slsaprovenance1, ... or a URI).")
@click.option("--condition", "conditions", multiple=True, metavar="CEL",
              help="With --require-attestation: a CEL condition on it (repeatable).")
@click.option("--max-severity", default=None, metavar="LEVEL",
              help="With --require-attestation vuln: no finding above LEVEL.")
@click.option("--trust", "trust_file", default=None, metavar="FILE", help="A TOML file whose [trust] replaces "
              "the configured one.")
@click.option("--notation-config", "notation_config", default=None, metavar="DIR|FILE",
              help="A notation trust policy (config directory, or trustpolicy file) replacing the configured one.")
@click.option("--context", "context", default=None, metavar="CTX", help="Only this cluster.")
@click.option("--from-last-sweep", is_flag=True, help="Offline: the last sweep's workloads and signers.")
@allow_http_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def command(ctx: click.Context, policy_files: tuple[str, ...], enforce: tuple[str, ...], drop_keys: tuple[str, ...],
            add_keys: tuple[str, ...], require_attestation: str | None, conditions: tuple[str, ...],
            max_severity: str | None, trust_file: str | None, notation_config: str | None, context: str | None,
            from_last_sweep: bool,
            allow_http_registry: bool, as_json: bool) -> None:
    """Evaluate a candidate trust change against every running workload and Lambda function."""
    sc = signet_context(ctx)
    if (conditions or max_severity) and not require_attestation:
        raise click.UsageError("--condition and --max-severity go with --require-attestation")
    changes: list[Change] = [policy_file_change(p) for p in policy_files]
    changes += [enforce_change(name) for name in enforce]
    changes += [key_change(sc, "drop-key", k) for k in drop_keys] + [key_change(sc, "add-key", k) for k in add_keys]
    if require_attestation:
        changes.append(attestation_change(require_attestation, conditions=conditions, max_severity=max_severity))
    if trust_file:
        changes.append(trust_change(sc, trust_file))
    if notation_config:
        changes.append(notation_change(sc, notation_config))
    targets = [] if from_last_sweep else cluster_targets(sc.config, context=context)
    report = what_if(sc, changes, targets=targets, from_last_sweep=from_last_sweep, allow_http=allow_http_registry)
    if as_json:
        emit_json(report.as_dict())
    else:
        _print(report)
    sys.exit(EXIT_CHECK_FAILED if report.newly_denied else 0)


def _print(report: WhatIfReport) -> None:
    emit_line("change: " + safe_text("; ".join(c.label for c in report.changes)))
    ordered = sorted(report.outcomes, key=lambda o: (o.status != "newly-denied", o.status, o.workload.label))
    emit_table(["status", "workload", "reason"],
               [(o.status, safe_text(o.workload.label), safe_text(o.after.reason[:200])) for o in ordered])
    denied = [o for o in ordered if not o.after.allowed]
    if denied:
        emit_line("fixes:")
    for o in denied:
        emit_line(f"  {safe_text(o.workload.label)}")
        for fix in o.fixes:  # what to do, then the line to run (a rebuild, a scope change have none)
            emit_line(f"    {fix.kind}: {safe_text(fix.text)}")
            if fix.command:
                emit_line(f"      {safe_text(fix.command)}")
        if o.bypass and not any(f.kind == "bypass" for f in o.fixes):
            emit_line(f"    or bypass: {safe_text(o.bypass)}")
    emit_table(["cluster", "namespace", "allowed", "denied", "newly denied", "newly allowed"],
               [(p["cluster"], p["namespace"], p["allowed"], p["denied"], p["newly-denied"], p["newly-allowed"])
                for p in report.by_place()], title="by namespace")
    counts = report.counts()
    emit_line(f"{counts['newly-denied']} newly denied, {counts['denied']} denied already, {counts['allowed']} "
              f"allowed, {counts['newly-allowed']} newly allowed")
    for problem in report.problems:
        diagnostic(f"warning: {safe_text(problem)}")
    for note in report.notes:
        diagnostic(f"note: {note}")
