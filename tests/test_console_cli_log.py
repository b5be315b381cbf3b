"""The `@` log: each console action's `signet` command line, and that line really does the same thing
when run through the CLI."""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone

from click.testing import CliRunner

from core.bypass.service import list_bypasses
from tests.support.console import console_context, demo_context, fill, press, running, submit
from tests.test_console_registries import open_demo_repo
from tui.cli.main import cli
from tui.cli_log import MAX_ENTRIES, MAX_LINE_CHARS, CliLog, cli_line
from tui.screens.cli_log import CliLogModal

HOSTILE = "it's [bold]urgent[/]; $(rm -rf ~) `id` \"quoted\" \\ back"


def _args(line: str) -> list[str]:
    parts = shlex.split(line)
    assert parts[0] == "signet"
    return parts[1:]


def test_lines_quote_any_text_so_the_shell_gives_back_the_same_arguments():
    args = ["bypass", "deny", "bp-1", "--reason", HOSTILE]
    assert _args(cli_line(args)) == args


def test_the_log_is_bounded_and_long_lines_are_cut_visibly():
    log = CliLog(clock=lambda: datetime(2026, 11, 22, tzinfo=timezone.utc))
    log.add("registries", [("verify", f"img:{i}") for i in range(MAX_ENTRIES + 5)])
    entries = log.entries()
    assert len(entries) == MAX_ENTRIES and entries[-1].command == f"signet verify img:{MAX_ENTRIES + 4}"
    long = cli_line(["verify", *(f"registry.example/app:{i}" for i in range(500))])
    assert len(long) < MAX_LINE_CHARS + 80 and long.endswith("longer than a terminal line should be")


async def test_a_console_verify_is_logged_and_the_line_gives_the_same_result(tmp_path):
    root = tmp_path / "demo"
    ctx = demo_context(root)
    async with running(ctx, "registries") as (app, pilot):
        await open_demo_repo(app, pilot, "payments-api")
        view = app.view
        await press(app, pilot, "v")
        tag = view.shown_tags[view.table.cursor_row]
        console_result = view.verified[tag.reference]
        await press(app, pilot, "at")
        assert isinstance(app.screen, CliLogModal)
        table = app.screen.query_one("#cli-log-table")
        line = str(table.get_row_at(table.row_count - 1)[2])
        assert line == f"signet verify {shlex.quote(tag.reference)}"
        await press(app, pilot, "escape")
        assert app.screen is view
    ctx.close()
    run = CliRunner().invoke(cli, [*_args(line), "--json"],
                             env={"SIGNET_DB": str(root / "signet.db"), "SIGNET_CONFIG": str(root / "config.toml")})
    [cli_result] = json.loads(run.output)
    assert run.exit_code == 0 and console_result.result == "verified"
    assert (cli_result["result"], cli_result["digest"]) == (console_result.result, console_result.digest)


async def test_a_bypass_request_line_replayed_by_the_cli_makes_the_same_request(tmp_path, monkeypatch):
    console_home, cli_home = tmp_path / "console", tmp_path / "cli"
    console_home.mkdir()
    cli_home.mkdir()
    alice = console_context(console_home, "alice")
    async with running(alice, "bypasses") as (app, pilot):
        await press(app, pilot, "n")
        fill(app, digest="sha256:" + "c0" * 32, function="payments-api", region="eu-west-1",
             justification=f"outage hotfix, {HOSTILE}", ticket="INC-42", duration="2h")
        await submit(app, pilot)
        [entry] = app.cli_log.entries()
        assert entry.view == "bypasses" and entry.command.startswith("signet bypass request ")
    [made_here] = list_bypasses(alice)
    alice.close()

    replica = console_context(cli_home, "alice")  # same config, another database
    replica.close()
    run = CliRunner().invoke(cli, _args(entry.command), env={
        "SIGNET_DB": str(cli_home / "signet.db"), "SIGNET_CONFIG": str(cli_home / "config-alice.toml")})
    assert run.exit_code == 0, run.output
    replica = console_context(cli_home, "alice")
    [made_there] = list_bypasses(replica)
    replica.close()
    fields = lambda b: (b.digest, b.scope.describe(), b.justification, b.ticket, b.duration_seconds, b.requester)  # noqa: E731
    assert fields(made_there) == fields(made_here)
