"""The `signet` command: groups, version, locations, errors and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from core.context import open_context
from core.history.records import record_verification
from core.identity import Role
from tui.cli.main import COMMAND_MODULES, cli


def test_help_lists_every_command_group():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    groups = {m.rstrip("_").replace("_", "-") for m in COMMAND_MODULES}
    assert set(cli.commands) == groups
    for name in groups:
        assert f"  {name} " in result.output


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and "signet, version" in result.output


def test_console_script_is_installed_and_runs():
    exe = Path(sys.executable).parent / "signet"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("signet, version")


def test_locate_follows_flag_then_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNET_DB", str(tmp_path / "env.db"))
    env = json.loads(CliRunner().invoke(cli, ["locate", "--json"]).stdout)
    assert env["db"] == str(tmp_path / "env.db")
    flag = json.loads(CliRunner().invoke(cli, ["--db", str(tmp_path / "flag.db"), "locate", "--json"]).stdout)
    assert flag["db"] == str(tmp_path / "flag.db")
    monkeypatch.delenv("SIGNET_DB")
    default = json.loads(CliRunner().invoke(cli, ["locate", "--json"]).stdout)
    assert default["db"].endswith("signet/signet.db") and default["config"].endswith("signet/config.toml")


def test_bad_usage_exits_2():
    result = CliRunner().invoke(cli, ["history", "--result", "maybe"])
    assert result.exit_code == 2


def test_unexpected_errors_are_one_line_without_debug_and_traced_with_debug(signet_home):
    (signet_home / "signet.db").write_bytes(b"garbage" * 1000)
    plain = CliRunner().invoke(cli, ["audit", "verify"])
    assert plain.exit_code == 3  # the local store could not be used
    assert "Traceback" not in plain.stderr and plain.stderr.count("\n") == 1
    debug = CliRunner().invoke(cli, ["--debug", "audit", "verify"])
    assert debug.exit_code == 3 and "Traceback" in debug.stderr


def test_history_lists_filters_and_exports(signet_home):
    ctx = open_context()
    with ctx.store.write() as db:
        for i, result in enumerate(["verified", "unsigned", "invalid", "verified"]):
            record_verification(db, at=f"2026-11-0{i + 1}T00:00:00.000000Z", actor="ci", source="cli",
                                reference=f"reg.example/app:{i}", digest="sha256:" + f"{i}" * 64,
                                result=result, matched_keys=["ab" * 32] if result == "verified" else [])
    ctx.close()
    runner = CliRunner()
    data = json.loads(runner.invoke(cli, ["history", "--json"]).stdout)
    assert [r["reference"] for r in data] == [f"reg.example/app:{i}" for i in (3, 2, 1, 0)]
    only = json.loads(runner.invoke(cli, ["history", "--json", "--result", "verified"]).stdout)
    assert {r["reference"] for r in only} == {"reg.example/app:0", "reg.example/app:3"}
    limited = json.loads(runner.invoke(cli, ["history", "--json", "--limit", "1"]).stdout)
    assert len(limited) == 1
    csv_out = runner.invoke(cli, ["history", "--csv"]).stdout.splitlines()
    assert csv_out[0].startswith("id,at,actor,source,reference,digest,result")
    assert len(csv_out) == 5
    since = json.loads(runner.invoke(cli, ["history", "--json", "--since", "2026-11-03T00:00:00Z"]).stdout)
    assert len(since) == 2


def test_read_only_flag_reaches_the_principal(signet_home):
    ctx = open_context(read_only=True)
    allowed, reason = ctx.principal.can_write(Role.OPERATOR)
    assert not allowed and "read-only" in reason
    ctx.close()


def test_signet_with_no_arguments_opens_the_console(signet_home):
    """Headless: the console starts on the real store and can be quit."""
    script = ("import asyncio\n"
              "from core.context import open_context\n"
              "from tui.app import SignetApp\n"
              "async def main():\n"
              "    app = SignetApp(open_context(interface='tui'))\n"
              "    async with app.run_test() as pilot:\n"
              "        await pilot.pause()\n"
              "        print('screen', type(app.screen).__name__)\n"
              "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TEXTUAL_ANIMATIONS": "none"})
    assert out.returncode == 0, out.stderr
    assert "screen" in out.stdout


def test_an_explicit_database_in_a_missing_directory_is_refused_not_created(signet_home, monkeypatch):
    """A typo in --db / SIGNET_DB must not open a new, empty history that reads as "no failures"."""
    missing = signet_home / "no-such-dir" / "signet.db"
    flag = CliRunner().invoke(cli, ["--db", str(missing), "history"])
    assert flag.exit_code == 2
    assert "no-such-dir" in flag.stderr and "does not exist" in flag.stderr and flag.stdout == ""
    monkeypatch.setenv("SIGNET_DB", str(missing))
    env = CliRunner().invoke(cli, ["history"])
    assert env.exit_code == 2 and "does not exist" in env.stderr
    assert not missing.parent.exists()
    existing = CliRunner().invoke(cli, ["--db", str(signet_home / "fresh.db"), "history"])
    assert existing.exit_code == 0 and (signet_home / "fresh.db").is_file()


def test_the_default_database_location_is_created(tmp_path, monkeypatch):
    monkeypatch.delenv("SIGNET_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("SIGNET_CONFIG", str(tmp_path / "config.toml"))
    result = CliRunner().invoke(cli, ["history"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "signet" / "signet.db").is_file()
