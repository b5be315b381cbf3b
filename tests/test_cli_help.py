"""Every `signet` command explains itself: `--help` works everywhere, and the JSON field names a
command prints are the ones its module docstring documents."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any, Iterator

import click
import pytest
from click.testing import CliRunner

from core.context import open_context
from core.history.records import record_verification
from tests.support.bypass_world import DIGEST, JUSTIFICATION
from tests.support.keys import write_config
from tui.cli.main import COMMAND_MODULES, cli


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


ALL_COMMANDS = [path for path, _ in _commands(cli)]


def test_the_walk_sees_nested_groups():
    assert ("key", "backup", "test") in ALL_COMMANDS and ("cluster", "policy", "generate") in ALL_COMMANDS
    assert {path[0] for path in ALL_COMMANDS} == {m.rstrip("_").replace("_", "-") for m in COMMAND_MODULES}


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_has_working_help(signet_home, path):
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="signet")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: signet {' '.join(path)} ")
    summary = result.stdout.split("\n\n")[1].strip()
    assert summary and "Show this message" not in summary, f"`signet {' '.join(path)}` has no description"


def _module_doc(group: str) -> str:
    module = {m.rstrip("_").replace("_", "-"): m for m in COMMAND_MODULES}[group]
    return importlib.import_module(f"tui.cli.commands.{module}").__doc__ or ""


def _keys(value: Any) -> set[str]:
    """Every object key in a JSON value, at any depth."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _assert_documented(group: str, document: Any, *, nested: bool = True) -> None:
    doc = _module_doc(group)
    keys = _keys(document) if nested else set(document)
    assert keys, "the command printed no fields to check"
    missing = sorted(k for k in keys if not re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", doc))
    assert not missing, f"`signet {group}` prints JSON fields its module docstring does not name: {missing}"


def run(*args: str, exit_code: int = 0) -> Any:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == exit_code, result.output
    return result.stdout


@pytest.fixture
def home(signet_home, monkeypatch):
    write_config(signet_home, extra='approver = ["bob"]\n\n[[clusters]]\ncontext = "prod-eu"\nname = "prod"\n')
    monkeypatch.setenv("SIGNET_PASSWORD", "correct horse battery")
    return signet_home


def test_json_field_names_are_documented(home, monkeypatch):
    ctx = open_context()
    with ctx.store.write() as db:
        record_verification(db, at=ctx.clock(), actor="alice", source="cli", reference="r.test/app:v1",
                            digest=DIGEST, result="verified", reason="ok", matched_keys=["ab" * 32])
    ctx.close()
    _assert_documented("locate", json.loads(run("locate", "--json")))
    # config sections are the config file's own: documented field by field in core/config/model.py
    _assert_documented("config", json.loads(run("config", "show")), nested=False)
    _assert_documented("history", json.loads(run("history", "--json")))
    _assert_documented("key", json.loads(run("key", "generate", "--name", "prod", "--json")))
    _assert_documented("key", json.loads(run("key", "list", "--json")))
    _assert_documented("audit", json.loads(run("audit", "verify", "--json")))
    for line in run("audit", "export").splitlines():  # an entry's `details` are the action's own
        _assert_documented("audit", json.loads(line), nested=False)
    _assert_documented("cluster", json.loads(run("cluster", "contexts", "--json")))
    made = json.loads(run("bypass", "request", "--function", "checkout", "--region", "eu-west-1", "--digest",
                          DIGEST, "--justification", JUSTIFICATION, "--ticket", "INC-42", "--duration", "2h",
                          "--json"))
    _assert_documented("bypass", made)
    monkeypatch.setenv("SIGNET_IDENTITY", "bob")
    _assert_documented("bypass", json.loads(run("bypass", "approve", made["id"], "--json")))
    _assert_documented("bypass", json.loads(run("bypass", "list", "--all", "--json")))
    # the configured cluster does not exist: exit 3 with the report's `errors` filled in
    _assert_documented("bypass", json.loads(run("bypass", "reap", "--no-workloads", "--json", exit_code=3)))


def test_an_undocumented_field_is_caught():
    with pytest.raises(AssertionError, match="not_a_documented_field"):
        _assert_documented("locate", {"db": "x", "not_a_documented_field": 1})


def test_readme_lists_only_subcommands_that_exist():
    """The README's command table names real sub-commands (it once listed a `key drill`)."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for group in ("key", "bypass"):
        (line,) = [raw for raw in readme.splitlines() if raw.startswith(f"signet {group} ...")]
        listed = line.split("...", 1)[1]
        names = [item.split()[0] for item in re.sub(r"\(.*?\)", "", listed).split(",")]
        assert names and all(name in cli.commands[group].commands for name in names), (group, names)
        for phrase in re.findall(r"`([^`]+)`", listed):  # e.g. `backup test`
            command = cli.commands[group]
            for word in phrase.split():
                command = command.commands[word]


@pytest.mark.parametrize("args", [["history", "--result", "maybe"], ["--bogus"], ["no-such-command"],
                                  ["key", "backup", "test"], ["history", "--json", "--csv"]])
def test_usage_errors_are_one_line_exit_2(signet_home, args):
    result = CliRunner().invoke(cli, args, prog_name="signet")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("signet: error: "), result.stderr


def test_history_help_shows_the_choices_without_an_empty_one(signet_home):
    text = CliRunner().invoke(cli, ["history", "--help"], prog_name="signet").output
    assert "[verified|unsigned|invalid|error|bypassed]" in text and "[|" not in text


def test_history_refuses_json_with_csv(signet_home):
    result = CliRunner().invoke(cli, ["history", "--json", "--csv"], prog_name="signet")
    assert result.exit_code == 2 and "--json and --csv" in result.stderr and result.stdout == ""
