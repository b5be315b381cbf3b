"""Editing config.toml in place: comments and order kept, the exact diff, atomic write with the file's
permissions, audited, and refused when the file changed after the diff was computed."""

from __future__ import annotations

import json
import stat

import pytest

from core.config_edit.edit import apply_config_edit, config_string_list, plan_list_edit
from core.config.loader import load_config
from core.errors import ConfigError, InvalidState, PermissionDenied
from core.context import open_context
from tests.support.keys import write_config
from tests.support.store import chain_status

TRUST = '''
# Keys every `signet verify` trusts by default.
[trust]
keys = [
  "release-a",   # the 2025 release key
  "release-b",   # the hotfix key, owned by the on-call team
]
trusted_root = ""  # keyless: none

[limits]
read_timeout = 3.0
'''


@pytest.fixture
def home(signet_home):
    path = write_config(signet_home, extra=TRUST)
    path.chmod(0o640)
    return signet_home


def _audit(ctx, action):
    return [json.loads(r["details"]) | {"subject": r["subject"]}
            for r in ctx.store.query("SELECT subject, details FROM audit WHERE action = ? ORDER BY seq", (action,))]


def test_adding_after_an_entry_keeps_comments_and_shows_the_exact_diff(home):
    path = home / "config.toml"
    before = path.read_text()
    edit = plan_list_edit(path, "trust.keys", {0: ["release-a", "ra2"]})
    assert edit.added == ("ra2",) and edit.removed == () and edit.label == "[trust] keys"
    assert path.read_text() == before  # planning writes nothing
    assert edit.diff.splitlines() == [
        f"--- {path} (now)", f"+++ {path} (after)", "@@ -8,6 +8,7 @@", " [trust]", " keys = [",
        '   "release-a",   # the 2025 release key', '+  "ra2",',
        '   "release-b",   # the hotfix key, owned by the on-call team', " ]", ' trusted_root = ""  # keyless: none']
    ctx = open_context()
    try:
        apply_config_edit(ctx, edit, subject="rot_1", details={"rotation": "rot_1"})
        after = path.read_text()
        assert after == before.replace('# the 2025 release key\n', '# the 2025 release key\n  "ra2",\n')
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        assert load_config(path).trust.keys == ("release-a", "ra2", "release-b")
        [entry] = _audit(ctx, "config.edit")
        assert entry["subject"] == str(path) and entry["field"] == "trust.keys"
        assert entry["added"] == ["ra2"] and entry["removed"] == [] and entry["rotation"] == "rot_1"
        assert chain_status(ctx.store).intact
        assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]
    finally:
        ctx.close()


def test_replacing_and_removing_entries(home):
    path = home / "config.toml"
    edit = plan_list_edit(path, "trust.keys", {0: ["ra2"], 1: []})
    assert edit.removed == ("release-a", "release-b") and edit.added == ("ra2",)
    assert '-  "release-a",   # the 2025 release key\n' in edit.diff
    ctx = open_context()
    try:
        apply_config_edit(ctx, edit, subject="t", details={})
    finally:
        ctx.close()
    text = path.read_text()
    assert config_string_list(path, "trust.keys") == ["ra2"]
    assert "# Keys every `signet verify` trusts by default." in text and 'trusted_root = ""  # keyless: none' in text
    assert text.index("[trust]") < text.index("[limits]")


def test_a_file_changed_after_the_diff_is_refused_and_left_as_it_is(home):
    path = home / "config.toml"
    edit = plan_list_edit(path, "trust.keys", {0: ["release-a", "ra2"]})
    ctx = open_context()
    try:
        changed = path.read_text().replace('"release-b",', '"release-b", "release-c",')
        path.write_text(changed)  # someone else edits the file between the diff shown and the write
        with pytest.raises(InvalidState, match="changed since the diff was computed"):
            apply_config_edit(ctx, edit, subject="t", details={})
        assert path.read_text() == changed
        assert _audit(ctx, "config.edit") == []
    finally:
        ctx.close()


def test_a_symlinked_config_is_edited_through_the_link(home):
    real = home / "real.toml"
    (home / "config.toml").rename(real)
    (home / "config.toml").symlink_to(real)
    edit = plan_list_edit(home / "config.toml", "trust.keys", {1: []})
    assert edit.path == str(real)
    ctx = open_context()
    try:
        apply_config_edit(ctx, edit, subject="t", details={})
    finally:
        ctx.close()
    assert (home / "config.toml").is_symlink()
    assert config_string_list(real, "trust.keys") == ["release-a"]


def test_only_a_custodian_may_edit(home, monkeypatch):
    path = home / "config.toml"
    monkeypatch.setenv("SIGNET_IDENTITY", "mallory")
    ctx = open_context()
    try:
        edit = plan_list_edit(path, "trust.keys", {1: []})
        with pytest.raises(PermissionDenied):
            apply_config_edit(ctx, edit, subject="t", details={})
        assert config_string_list(path, "trust.keys") == ["release-a", "release-b"]
    finally:
        ctx.close()


@pytest.mark.parametrize("text, where", [
    ('[trust]\nkeys = "release-a"\n', "not a list of strings"),
    ('[trust]\nkeys = ["a", 1]\n', "not a list of strings"),
    ('[trust\nkeys = []\n', "not valid TOML"),
])
def test_unusable_files_are_one_clear_error(tmp_path, text, where):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=where):
        plan_list_edit(path, "trust.keys", {0: []})


def test_dotted_and_inline_tables_and_a_missing_list(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('trust.keys = ["a", "b"]  # dotted\n')
    assert plan_list_edit(path, "trust.keys", {0: []}).after_text == 'trust.keys = ["b"]  # dotted\n'
    path.write_text('trust = { keys = ["a"] }\n')
    assert plan_list_edit(path, "trust.keys", {0: ["a", "b"]}).after_text == 'trust = { keys = ["a", "b"] }\n'
    path.write_text('identity = "x"\n')
    assert config_string_list(path, "trust.keys") == []
    with pytest.raises(ConfigError, match="no list 'trust.keys'"):
        plan_list_edit(path, "trust.keys", {0: []})
    assert config_string_list(tmp_path / "absent.toml", "trust.keys") == []
    path.write_text('trust.keys = ["a"]\n')
    assert plan_list_edit(path, "trust.keys", {0: ["a"]}) is None  # nothing changes: no edit
