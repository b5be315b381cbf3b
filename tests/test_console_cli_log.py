"""The `@` log: each console action's `signet` command line, and that line really does the same thing
when run through the CLI."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner

from core.bypass.service import list_bypasses
from tests.support.console import console_context, demo_context, fill, press, running, submit
from tests.test_console_registries import open_demo_repo
from tui.cli.main import cli
from tui.cli_log import MAX_ENTRIES, MAX_LINE_CHARS, CliLog, cli_line
from tui.screens.cli_log import CliLogModal

HOSTILE = "it's [bold]urgent[/]; $(rm -rf ~) `id` \"quoted\" \\ back"


def _args(line: str) -> list[str]:
    """The arguments after `signet` (a line may start with VAR=value assignments)."""
    parts = shlex.split(line)
    return parts[parts.index("signet") + 1:]


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


async def test_a_console_verify_is_logged_and_the_line_gives_the_same_result_in_a_shell(tmp_path):
    root = tmp_path / "demo"
    ctx = demo_context(root, "bob")  # the demo's config file says alice: the line must say bob
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
        assert line == (f"SIGNET_IDENTITY=bob signet --db {shlex.quote(str(root / 'signet.db'))} "
                        f"--config {shlex.quote(str(root / 'config.toml'))} verify {shlex.quote(tag.reference)}")
        await press(app, pilot, "escape")
        assert app.screen is view
    ctx.close()
    # pasted into a shell that knows nothing of this console: no SIGNET_* variables, another directory
    shell_env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNET_")}
    shell_env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{shell_env.get('PATH', '')}",
                     PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    run = subprocess.run(["sh", "-c", line + " --json"], capture_output=True, text=True, env=shell_env,
                         cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    [cli_result] = json.loads(run.stdout)
    assert console_result.result == "verified"
    assert (cli_result["result"], cli_result["digest"]) == (console_result.result, console_result.digest)
    [latest] = json.loads(subprocess.run(["sh", "-c", line.split(" verify ")[0] + " history --limit 1 --json"],
                                         capture_output=True, text=True, env=shell_env, timeout=120).stdout)
    assert latest["actor"] == "bob" and latest["source"] == "cli"  # it acted on the console's database, as bob


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
        assert entry.view == "bypasses" and " bypass request " in entry.command
    [made_here] = list_bypasses(alice)
    alice.close()

    # the line names the console's database and configuration: replayed from anywhere, it acts there
    run = CliRunner().invoke(cli, _args(entry.command), env={
        "SIGNET_DB": str(cli_home / "signet.db"), "SIGNET_CONFIG": str(cli_home / "config-alice.toml")})
    assert run.exit_code == 0, run.output
    assert not (cli_home / "signet.db").exists()
    replica = console_context(console_home, "alice")
    made_there = next(b for b in list_bypasses(replica) if b.id != made_here.id)
    replica.close()
    fields = lambda b: (b.digest, b.scope.describe(), b.justification, b.ticket, b.duration_seconds, b.requester)  # noqa: E731
    assert fields(made_there) == fields(made_here)
