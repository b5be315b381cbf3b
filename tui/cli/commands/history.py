"""`signet history`: list and export verification history, newest first.

`--json` prints a JSON array, one object per verification: `id`, `at` (ISO UTC), `actor`, `source`
(cli | tui | sweep | gate | demo | rotation), `reference`, `digest` (or null), `result` (verified |
unsigned | invalid | error | bypassed), `reason`, `matched_keys` (fingerprints), `duration_ms`,
`bypass_id`, `cluster`, `namespace` (null outside sweeps). `--csv` has the same columns, with
`matched_keys` space-separated.
"""

from __future__ import annotations

from datetime import timedelta

import click

from core.clock import iso, parse_iso
from core.config import parse_duration
from core.errors import InputError, UsageError
from core.history.records import CSV_COLUMNS, SOURCES, HistoryFilter, csv_row, iter_history
from core.results import RESULTS
from tui.cli.context import signet_context
from tui.cli.output import emit_csv, emit_json, emit_table


@click.command("history")
@click.option("--image", default="", help="Reference substring or digest prefix (sha256:...).")
@click.option("--result", default=None, type=click.Choice(RESULTS), help="Only this result.")
@click.option("--source", default=None, type=click.Choice(SOURCES), help="Only this source.")
@click.option("--key", default="", help="Fingerprint prefix of a matched key.")
@click.option("--since", default="", help="A duration back from now (24h) or an ISO time.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--json", "as_json", is_flag=True, help="JSON array.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@click.pass_context
def command(ctx: click.Context, image: str, result: str | None, source: str | None, key: str, since: str, limit: int,
            as_json: bool, as_csv: bool) -> None:
    """List verifications, newest first."""
    if as_json and as_csv:
        raise UsageError("--json and --csv cannot be combined; choose one")
    sc = signet_context(ctx)
    filt = HistoryFilter(image=image, result=result or "", source=source or "", key=key, since=_since(since, sc.clock))
    rows = []
    for row in iter_history(sc.store, filt):
        rows.append(row)
        if len(rows) >= limit:
            break
    if as_json:
        emit_json([r.as_dict() for r in rows])
    elif as_csv:
        emit_csv(CSV_COLUMNS, (csv_row(r) for r in rows))
    else:
        emit_table(["at", "source", "result", "reference", "digest", "keys", "reason"],
                   [(r.at[:19], r.source, r.result, r.reference, (r.digest or "")[:19],
                     ",".join(k[:12] for k in r.matched_keys), r.reason) for r in rows])


def _since(text: str, clock) -> str:
    if not text:
        return ""
    if text[0].isdigit() and text[-1] in "smhd" and "T" not in text:
        return iso(clock() - timedelta(seconds=parse_duration(text, field="--since")))
    try:
        return iso(parse_iso(text))
    except ValueError:
        raise InputError(f"--since '{text}' is neither a duration like 24h nor an ISO time") from None
