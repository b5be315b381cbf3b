"""`signet bypass request|approve|deny|revoke|list|reap`: emergency exceptions to signature enforcement.

JSON fields (`--json`): a bypass is the object of `Bypass.as_dict(now)` in core/bypass/model.py
(id, state, effective_state, group, requester, scope{kind,cluster,namespace,workload,function,region},
digest, justification, ticket, duration_seconds, requested_at, request_expires_at, approved_at,
starts_at, ends_at, remaining_seconds, closed_at, closed_by, close_reason, exception_ref,
approvers, decisions[{approver,decision,reason,at}]).
- `request --json`: the new bypass object.
- `approve|deny|revoke --json`: {bypass: <bypass object>, warning (str|null: the decision is recorded
  but the cluster does not reflect it yet), digest_warning (str: approve only, "" unless the digest is not
  what the target runs as last recorded; also printed on stderr and kept in the audit entry)}.
- `list --json`: {now (ISO time the states were computed at), bypasses: [<bypass object>]}.
- `reap --json`: `ReapReport.as_dict()`: {closed: [{id, state}], activated: [bypass ids], deleted:
  [PolicyException refs], foreign: [{cluster, namespace, name, reason}], lingering: [{bypass_id,
  digest, place, ended_at}], errors: [str]}.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

import click

from core.bypass.model import LISTING_GROUPS, Bypass, BypassOutcome, BypassState, ScopeKind
from core.bypass.reaper import reap
from core.bypass.running import digest_warning
from core.bypass.service import approve_bypass, deny_bypass, list_bypasses, request_bypass, revoke_bypass
from core.bypass.validation import (validate_digest, validate_duration, validate_justification, validate_scope_field,
                                    validate_ticket)
from core.console.dashboard import format_time_left
from core.errors import CheckFailed, ClusterError
from tui.cli.context import signet_context
from tui.cli.output import diagnostic, emit_json, emit_line, emit_table
from tui.cli.trust_options import stacked



@click.group("bypass")
def command() -> None:
    """Emergency bypasses: narrow, justified, approved by someone else, expiring by themselves."""


def _checked(validate: Callable[[click.Context, str], object]) -> Callable[..., str | None]:
    """A click callback running a core validator as the option is read. Click reads options in the order
    they were typed, so the error shown is about the first wrong value typed (the service checks again)."""

    def callback(ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
        if value is not None:
            validate(ctx, value)
        return value

    return callback


def _scope_option(name: str, help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(f"--{name}", name, help=help_text,
                        callback=_checked(lambda _ctx, value: validate_scope_field(name, value)))


@command.command("request")
@_scope_option("cluster", "Cluster (kube context or configured name).")
@_scope_option("namespace", "Namespace in that cluster.")
@_scope_option("workload", "Only this workload (Deployment, StatefulSet, ... name).")
@_scope_option("function", "Lambda function name (instead of a cluster).")
@_scope_option("region", "AWS region of the Lambda function (default: resolved like `signet lambda deploy`: "
                         "[aws] regions, AWS_REGION, AWS_DEFAULT_REGION, the profile's region).")
@click.option("--digest", required=True, help="The one image digest, sha256:<64 hex>. Tags are refused.",
              callback=_checked(lambda _ctx, value: validate_digest(value)))
@click.option("--justification", required=True, help="Why (at least 20 meaningful characters).",
              callback=_checked(lambda _ctx, value: validate_justification(value)))
@click.option("--ticket", required=True, help="Incident or ticket reference, e.g. INC-1234.",
              callback=_checked(lambda _ctx, value: validate_ticket(value)))
@click.option("--duration", required=True, help="How long once approved, e.g. 2h (capped by the config).",
              callback=_checked(lambda ctx, value: validate_duration(value, signet_context(ctx).config.policy)))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def request(ctx: click.Context, cluster: str | None, namespace: str | None, workload: str | None,
            function: str | None, region: str | None, digest: str, justification: str, ticket: str,
            duration: str, as_json: bool) -> None:
    """Ask for a bypass as the current identity; prints the new bypass id."""
    sc = signet_context(ctx)
    bypass = request_bypass(sc, digest=digest, justification=justification, ticket=ticket, duration=duration,
                            cluster=cluster, namespace=namespace, workload=workload, function=function,
                            region=region)
    _warn_digest(bypass.id, digest_warning(sc, bypass.scope, bypass.digest))  # as the request recorded it
    if as_json:
        emit_json(bypass.as_dict(sc.clock()))
        return
    emit_line(bypass.id)
    diagnostic(f"bypass {bypass.id} requested; needs {sc.config.policy.bypass_approvals} approval(s) from "
               f"someone else before {_when(bypass.request_expires_at)}")


def _decision_command(name: str, help_text: str, service: Callable[..., BypassOutcome],
                      *options: Callable) -> click.Command:
    """`bypass approve|deny|revoke BYPASS_ID [options] [--json]`: one service call on one bypass, reported
    the same way (the options' values are passed to the service as keywords)."""

    @click.pass_context
    def run(ctx: click.Context, /, bypass_id: str, as_json: bool, **service_args: Any) -> None:
        sc = signet_context(ctx)
        outcome = service(sc, bypass_id, **service_args)
        _report(sc.clock(), outcome, as_json)  # the clock read after the change: it is reported as of now

    run = stacked(click.argument("bypass_id"), *options, click.option("--json", "as_json", is_flag=True))(run)
    return command.command(name, help=help_text)(run)


_decision_command("approve", "Approve a pending request (approver role; not your own).", approve_bypass)
_decision_command("deny", "Refuse a pending request (approver role).", deny_bypass,
                  click.option("--reason", required=True, help="Why it is refused."))
_decision_command("revoke", "End an approved bypass now (its requester or any approver); removes its "
                            "PolicyException.", revoke_bypass,
                  click.option("--reason", default="", help="Why it ends early."))


@command.command("list")
@click.option("--all", "include_closed", is_flag=True, help="Include history (denied, lapsed, expired, revoked).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def list_(ctx: click.Context, include_closed: bool, as_json: bool) -> None:
    """Active bypasses with remaining time, those expiring soon, pending requests (and history)."""
    sc = signet_context(ctx)
    now = sc.clock()
    bypasses = list_bypasses(sc, include_closed=include_closed)
    if as_json:
        emit_json({"now": now.isoformat(), "bypasses": [b.as_dict(now) for b in bypasses]})
        return
    if not bypasses:
        emit_line("no bypasses" if include_closed else "no open bypasses (use --all for history)")
        return
    for group, title in LISTING_GROUPS:
        rows = [b for b in bypasses if b.listing_group(now) == group]
        if rows:
            emit_table(["id", "state", "scope", "digest", "requester", "approvers", "ticket", _time_header(group)],
                       [_row(b, now, group) for b in rows], title=title.capitalize())


@command.command("reap")
@click.option("--no-workloads", is_flag=True, help="Skip the check for workloads still running ended digests.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def reap_(ctx: click.Context, no_workloads: bool, as_json: bool) -> None:
    """Expire what is due, delete leftover PolicyExceptions, report foreign ones and what still runs.

    Exit 0 when all is in order, 1 when something needs a person (foreign exception, workload still
    running an ended digest), 3 when a cluster could not be reached or changed."""
    sc = signet_context(ctx)
    report = reap(sc, check_workloads=not no_workloads)
    if as_json:
        emit_json(report.as_dict())
    else:
        for bypass in report.closed:
            emit_line(f"{bypass.id}: {bypass.state.value}")
        for bypass_id in report.activated:
            emit_line(f"{bypass_id}: PolicyException created (was pending)")
        for ref in report.deleted:
            emit_line(f"deleted PolicyException {ref}")
        for found in report.foreign:
            emit_line(f"foreign PolicyException {found.cluster}/{found.namespace}/{found.name}: {found.reason}")
        for running in report.lingering:
            emit_line(f"still running after bypass {running.bypass_id} ended: {running.place} ({running.digest})")
        if report.clean:
            emit_line("bypasses and PolicyExceptions in order")
    if report.errors:
        raise ClusterError("; ".join(report.errors))
    if not report.clean:
        raise CheckFailed(f"{len(report.foreign)} foreign PolicyException(s), {len(report.lingering)} workload(s) "
                          "still running an ended bypass")


def _warn_digest(bypass_id: str, warning: str) -> None:
    """The digest is not what the target runs (or Signet has no record of it): one line on stderr, as the
    console's request and approve dialogs show it; the service recorded it in the audit entry."""
    if warning:
        diagnostic(f"warning: bypass {bypass_id}: {warning}")


def _report(now: datetime, outcome: BypassOutcome, as_json: bool) -> None:
    bypass = outcome.bypass
    _warn_digest(bypass.id, outcome.digest_warning)
    if as_json:
        emit_json(outcome.as_dict(now))
    else:
        line = f"{bypass.id}: {bypass.state.value}"
        if bypass.state is BypassState.REQUESTED:
            line += f" ({len(bypass.approvers)} approval(s) so far)"
        if bypass.ends_at is not None and bypass.honoured_at(now):
            line += f", until {_when(bypass.ends_at)}"
        if bypass.exception_ref:
            line += f", PolicyException {bypass.exception_ref}"
        emit_line(line)
    if outcome.warning:
        # The decision is recorded; the cluster does not reflect it yet, which needs a person.
        raise ClusterError(outcome.warning)


def _time_header(group: str) -> str:
    return {"pending": "lapses in", "history": "closed"}.get(group, "remaining")


def _row(bypass: Bypass, now: datetime, group: str) -> list[str]:
    if group == "pending":
        when = format_time_left((bypass.request_expires_at - now).total_seconds())
    elif group == "history":
        when = _when(bypass.closed_at) if bypass.closed_at else bypass.effective_state(now).value
    else:
        remaining = bypass.remaining(now)
        when = format_time_left(remaining.total_seconds() if remaining is not None else None)
        if bypass.scope.kind is ScopeKind.CLUSTER and not bypass.exception_ref:
            when += " (PolicyException pending)"
    state = bypass.effective_state(now).value
    return [bypass.id, state, bypass.scope.describe(), bypass.digest[:19] + "...", bypass.requester,
            ",".join(bypass.approvers), bypass.ticket, when]


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ")
