"""Keys view: the rotation step form shows the `[trust] keys` change of the configuration file that
goes with the step, as a diff, and writes it only when its checkbox stays ticked."""

from __future__ import annotations

import json

from core.config.loader import load_config
from core.keys.backup import ShareScheme
from core.keys.custody import generate_key
from core.rotation.rotation import StageInputs, rotation_status, start_rotation
from tests.support.console import confirm, console_context, fill, press, running
from tui.screens.form import FormModal

PASSPHRASE = b"correct horse battery"
TRUST = '\n[trust]\n# release signing; see RUNBOOK-7\nkeys = ["release-a"]\n'


async def test_the_step_form_offers_the_config_diff_and_applies_it_only_when_ticked(tmp_path):
    alice = console_context(tmp_path, "alice", extra=TRUST)
    config = alice.paths.config
    generate_key(alice, name="release-a", passphrase=PASSPHRASE, custodians=("alice", "carol"))
    stage = StageInputs(new_name="release-b", backup=ShareScheme(2, 2, ("alice", "carol")),
                        new_passphrase=b"another long passphrase", backup_out=tmp_path / "b.json")
    rid = start_rotation(alice, "release-a", stage, policy_dir=tmp_path / "policies").status.id
    original = config.read_text()
    async with running(alice, "keys", notifications=True) as (app, pilot):
        await press(app, pilot, "n")  # publish: the form shows the diff, ticked by default
        modal = app.screen
        assert isinstance(modal, FormModal)
        explanation = modal.query_one("#form-explanation").query_one("Static").render().plain
        assert f"This step changes [trust] keys in {config}" in explanation
        assert '-keys = ["release-a"]\n+keys = ["release-a", "release-b"]' in explanation
        assert modal.query_one("#field-update_config").value is True
        fill(app, update_config=False)  # untick: the step runs, the file stays as it is
        await confirm(app, pilot, "publish")
        assert rotation_status(alice, rid).step == "switch"
        assert config.read_text() == original

        await press(app, pilot, "n")  # switch: the change is still needed, offered again
        assert '+keys = ["release-a", "release-b"]' in app.screen.query_one("#form-explanation").query_one(
            "Static").render().plain
        await confirm(app, pilot, "switch")
        assert rotation_status(alice, rid).step == "resign"
        assert config.read_text() == original.replace('keys = ["release-a"]', 'keys = ["release-a", "release-b"]')
        assert load_config(config).trust.keys == ("release-a", "release-b")
        [details] = [json.loads(r["details"]) for r in
                     alice.store.query("SELECT details FROM audit WHERE action = 'config.edit'")]
        assert details["step"] == "switch" and details["added"] == ["release-b"] and alice.actor == "alice"
        # the `@` log: the same steps from a shell, the ticked one with --update-config
        commands = [entry.command for entry in app.cli_log.entries() if "rotate" in entry.command]
        assert [c.endswith(f"key rotate next {rid}") for c in commands] == [True, False]
        assert commands[1].endswith(f"key rotate next {rid} --update-config")
    alice.close()
