"""Keys view: inventory, backup wizard (shares shown once, custodians confirm), restore drill, gating."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.keys.backup_records import list_backups
from core.keys.custody import generate_key
from tests.support.console import (confirm, console_context, fill, press, running, screen_text, selected_key,
                                   settle, submit)
from tests.support.store import audit_entries
from tui.app import SignetApp
from tui.screens.form import FormModal

PASSPHRASE = "correct horse battery"


@pytest.fixture
def alice(tmp_path):
    """A console context for alice (operator and custodian in console_context), closed after the test."""
    context = console_context(tmp_path, "alice")
    yield context
    context.close()


async def test_backup_wizard_then_restore_drill(alice):
    key = generate_key(alice, name="release-2026", passphrase=PASSPHRASE.encode(), custodians=("alice", "carol"))
    app = SignetApp(alice, start_view="keys")
    async with app.run_test(size=(160, 45)) as pilot:
        await settle(app, pilot)
        text = screen_text(app)
        assert "release-2026" in text and key.fingerprint[:16] in text and "active" in text
        await pilot.press("b")
        await settle(app, pilot)
        app.screen.query_one("#field-shares").value = "2-of-3"
        app.screen.query_one("#field-custodians").value = "alice, carol, dave"
        app.screen.query_one("#field-passphrase").value = PASSPHRASE
        await pilot.pause()
        await pilot.click("#submit")
        await settle(app, pilot)
        shares = []
        for holder in ("alice", "carol", "dave"):
            modal = app.screen
            assert isinstance(modal, FormModal) and holder in modal.title_text
            words = modal.explanation.plain.split("\n\n", 1)[1].strip()
            assert len(words.split()) >= 20  # a SLIP-39 mnemonic
            shares.append(words)
            assert modal.query_one("#submit").disabled  # the custodian must confirm by name
            modal.query_one("#confirm-word").value = holder
            await pilot.pause()
            await pilot.click("#submit")
            await settle(app, pilot)
        assert app.screen is app.view  # every share shown once, then gone
        assert len(set(shares)) == 3
        (handout,) = _handouts(alice)
        assert len(handout["handed_out"]) == 3 and handout["not_handed_out"] == [] and handout["restorable"]
        (backup,) = list_backups(alice)
        assert backup.threshold == 2 and backup.last_test_result is None
        # nothing secret was written to the database or the audit log
        dump = "\n".join(alice.store.conn.iterdump())
        assert not any(share.split()[3] + " " + share.split()[4] in dump for share in shares)
        assert PASSPHRASE not in dump

        # restore drill with two of the three shares
        await pilot.press("t")
        await settle(app, pilot)
        app.screen.query_one("#field-share_1").value = shares[2]
        app.screen.query_one("#field-share_2").value = shares[0]
        await pilot.pause()
        await pilot.click("#submit")
        await settle(app, pilot)
        (backup,) = list_backups(alice)
        assert backup.last_test_result == "ok" and backup.last_tested_at
        assert "next drill" in screen_text(app) and backup.drill_due_at[:10] in screen_text(app)


async def test_mistyped_share_is_marked_in_the_drill_form_which_stays_open(alice):
    generate_key(alice, name="k1", passphrase=PASSPHRASE.encode())
    from core.keys.backup import ShareScheme, create_backup

    created = create_backup(alice, "k1", ShareScheme(2, 2), passphrase_provider=lambda _: PASSPHRASE.encode())
    good = created.shares[1].mnemonic
    mistyped = good.rsplit(" ", 1)[0] + (" academic" if not good.endswith(" academic") else " acid")
    async with running(alice, "keys", notifications=True) as (app, pilot):
        await press(app, pilot, "t")
        form = app.screen
        fill(app, share_1=created.shares[0].mnemonic, share_2=mistyped)
        await submit(app, pilot)  # the click does nothing: submit is disabled while a share is wrong
        assert app.screen is form
        assert form.query_one("#field-share_2").has_class("-invalid")
        assert not form.query_one("#field-share_1").has_class("-invalid")
        assert "mistyped" in form.query_one("#form-error").content.plain
        assert "acid" not in form.query_one("#form-error").content.plain  # the share's words are never echoed
        assert form.query_one("#field-share_1").value == created.shares[0].mnemonic  # nothing typed is lost
        (backup,) = list_backups(alice)
        assert backup.last_test_result is None  # no drill ran
        fill(app, share_2=good)
        await submit(app, pilot)
        assert app.screen is app.view
        (backup,) = list_backups(alice)
        assert backup.last_test_result == "ok"


async def test_backup_form_checks_m_of_n_against_the_custodians_and_stays_open(alice):
    generate_key(alice, name="k1", passphrase=PASSPHRASE.encode(), custodians=("alice", "carol", "dave"))
    async with running(alice, "keys", notifications=True) as (app, pilot):
        await press(app, pilot, "b")
        form = app.screen
        fill(app, shares="5-of-3", custodians="alice, carol, dave", passphrase=PASSPHRASE)
        await submit(app, pilot)
        assert app.screen is form and form.query_one("#field-shares").has_class("-invalid")
        assert "1 <= M <= N" in form.query_one("#form-error").content.plain
        fill(app, shares="2-of-4")  # one custodian per share, named in the other field
        await pilot.pause()
        assert form.query_one("#field-shares").has_class("-invalid")
        assert "one custodian per share" in form.query_one("#form-error").content.plain
        fill(app, custodians="alice, carol, dave, erin")  # fixing the other field clears the mark
        await pilot.pause()
        assert not form.query_one("#field-shares").has_class("-invalid")
        assert form.query_one("#field-passphrase").value == PASSPHRASE
        await submit(app, pilot)
        assert app.screen is not form and "Share 1/4" in app.screen.title_text
        assert not any(n.severity == "error" for n in app._notifications)
        assert list_backups(alice)[0].share_count == 4


async def test_non_custodian_sees_key_actions_disabled(tmp_path):
    alice = console_context(tmp_path, "alice")
    generate_key(alice, name="k1", passphrase=PASSPHRASE.encode())
    alice.close()
    bob = console_context(tmp_path, "bob")
    app = SignetApp(bob, start_view="keys")
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(app, pilot)
        assert "does not hold the custodian role" in screen_text(app)
        assert app.view.check_action("backup", ()) is None
        # from the palette the action explains itself instead of running
        await pilot.press("ctrl+p")
        await pilot.press(*"backup")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is app.view
        assert any("custodian" in str(n.message) for n in app._notifications)
    bob.close()


async def test_rotation_wizard_runs_the_stage_and_the_next_step(alice):
    from core.keys.rotation_records import list_rotations

    generate_key(alice, name="release-a", passphrase=PASSPHRASE.encode(), custodians=("alice", "carol"))
    app = SignetApp(alice, start_view="keys")
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await settle(app, pilot)
        await pilot.press("o")
        await settle(app, pilot)
        modal = app.screen
        modal.query_one("#field-new_name").value = "release-b"
        modal.query_one("#field-passphrase").value = "another long passphrase"
        modal.query_one("#field-shares").value = "2-of-2"
        modal.query_one("#field-custodians").value = "alice, carol"
        await pilot.pause()
        assert modal.query_one("#submit").disabled  # typed confirmation of the key being rotated
        modal.query_one("#confirm-word").value = "release-a"
        await pilot.pause()
        await pilot.click("#submit")
        await settle(app, pilot)
        # the new key's shares are shown once each
        for holder in ("alice", "carol"):
            share_modal = app.screen
            assert isinstance(share_modal, FormModal) and holder in share_modal.title_text
            share_modal.query_one("#confirm-word").value = holder
            await pilot.pause()
            await pilot.click("#submit")
            await settle(app, pilot)
        (rotation,) = list_rotations(alice)
        assert rotation.step == "publish" and rotation.new_key.name == "release-b"
        # the stage already ran the backup's restore test: no toast asks for another drill
        handed = [str(n.message) for n in app._notifications if "shares handed out" in str(n.message)]
        assert handed and "restore test already proved it" in handed[-1]
        assert not any("restore drill (t)" in str(n.message) for n in app._notifications)
        text = screen_text(app)
        assert "publish (pending)" in text and "release-b" in text
        assert "✓ stage" in app.view.query_one("#detail").text
        # one more step from the wizard: publish
        await pilot.press("n")
        await settle(app, pilot)
        app.screen.query_one("#confirm-word").value = "publish"
        await submit(app, pilot)
        (rotation,) = list_rotations(alice)
        assert rotation.step == "switch" and rotation.status == "pending"
        assert "▶ switch" in app.view.query_one("#detail").text


async def test_selection_stays_on_the_key_after_an_action(alice):
    keys = [generate_key(alice, name=f"k{i}", passphrase=PASSPHRASE.encode(), custodians=("alice", "carol"))
            for i in range(3)]
    async with running(alice, "keys") as (app, pilot):
        view = app.view
        await press(app, pilot, "down", "down")
        chosen = selected_key(app)
        assert chosen in {k.id for k in keys} and view.table.cursor_row == 2
        await press(app, pilot, "b")
        fill(app, shares="2-of-2", custodians="alice, carol", passphrase=PASSPHRASE)
        await submit(app, pilot)
        for holder in ("alice", "carol"):
            await confirm(app, pilot, holder)
        assert app.screen is view and list_backups(alice)[0].key_id == chosen
        assert selected_key(app) == chosen and view.table.cursor_row == 2  # not back on the first row
        name = next(k.name for k in keys if k.id == chosen)
        assert view.query_one("#detail").text.startswith(f"key {name}")


def _handouts(ctx) -> list[dict]:
    """What the audit log says about share hand-outs (outside state: the console's notice aside)."""
    return [e.details for e in audit_entries(ctx.store) if e.action == "key.backup.shares"]


def _share_words(app) -> str:
    return app.screen.explanation.plain.split("\n\n", 1)[1].strip()


async def test_esc_on_a_share_asks_and_stopping_says_who_has_no_share(alice):
    generate_key(alice, name="k1", passphrase=PASSPHRASE.encode(), custodians=("alice", "carol", "dave"))
    async with running(alice, "keys", notifications=True) as (app, pilot):
        await press(app, pilot, "b")
        fill(app, shares="2-of-3", custodians="alice, carol, dave", passphrase=PASSPHRASE)
        await submit(app, pilot)
        await confirm(app, pilot, "alice")
        assert "Share 2/3" in app.screen.title_text
        await press(app, pilot, "escape")
        # esc does not count as carol's confirmation, nor end the hand-out by itself: it asks
        assert app.screen.title_text == "Stop the share hand-out?"
        assert "Not handed out yet: carol, dave" in app.screen.explanation.plain
        assert "cannot be restored" in app.screen.explanation.plain
        assert _handouts(alice) == []
        await confirm(app, pilot, "stop")
        assert app.screen is app.view
        messages = [str(n.message) for n in app._notifications]
        assert not any("all 3 shares handed out" in m for m in messages)
        (stopped,) = [n for n in app._notifications if "hand-out stopped" in str(n.message)]
        assert "received: alice (share 1); no share for carol, dave" in str(stopped.message)
        assert "cannot be restored" in str(stopped.message) and stopped.severity == "error"
    (handout,) = _handouts(alice)
    assert handout["handed_out"] == [{"index": 1, "custodian": "alice"}] and handout["restorable"] is False
    assert [h["custodian"] for h in handout["not_handed_out"]] == ["carol", "dave"]


async def test_esc_during_a_rotations_share_hand_out_goes_back_to_the_same_share(alice):
    from core.keys.backup import drill_backup
    from core.keys.inventory import find_key

    generate_key(alice, name="release-a", passphrase=PASSPHRASE.encode(), custodians=("alice", "carol", "dave"))
    async with running(alice, "keys", notifications=True) as (app, pilot):
        await press(app, pilot, "o")
        fill(app, new_name="release-b", passphrase="another long passphrase", shares="2-of-3",
             custodians="alice, carol, dave")
        await confirm(app, pilot, "release-a")
        shares = {"alice": _share_words(app)}
        await confirm(app, pilot, "alice")
        carols = _share_words(app)
        await press(app, pilot, "escape")
        assert "Not handed out yet: carol, dave" in app.screen.explanation.plain
        assert "can still restore" not in app.screen.explanation.plain  # one share of the two needed
        await press(app, pilot, "escape")  # esc on the question: back to carol's share, the same words
        assert "Share 2/3" in app.screen.title_text and "carol" in app.screen.title_text
        assert _share_words(app) == carols
        shares["carol"] = carols
        await confirm(app, pilot, "carol")
        await press(app, pilot, "escape")  # dave is not here: stop, knowing the backup still restores
        assert "Not handed out yet: dave" in app.screen.explanation.plain
        assert "The 2 confirmed share(s) can still restore the backup" in app.screen.explanation.plain
        await confirm(app, pilot, "stop")
        assert app.screen is app.view
        (stopped,) = [n for n in app._notifications if "hand-out stopped" in str(n.message)]
        assert "received: alice (share 1), carol (share 2); no share for dave" in str(stopped.message)
        assert "can still restore it (needs 2); to give dave a share, make a new backup (b)" in str(stopped.message)
        assert stopped.severity == "warning"
    (handout,) = _handouts(alice)
    assert [h["custodian"] for h in handout["handed_out"]] == ["alice", "carol"] and handout["restorable"] is True
    assert handout["not_handed_out"] == [{"index": 3, "custodian": "dave"}]
    # what was recorded is true: the two shares handed out restore the new key's backup
    (backup,) = list_backups(alice, find_key(alice, "release-b").id)
    assert drill_backup(alice, Path(backup.location), shares=list(shares.values())).ok


async def test_revoked_key_needs_no_drill(alice):
    from core.keys.backup import ShareScheme, create_backup
    from core.rotation.emergency import emergency_revoke

    old = generate_key(alice, name="old", passphrase=PASSPHRASE.encode())
    generate_key(alice, name="current", passphrase=PASSPHRASE.encode())
    create_backup(alice, "old", ShareScheme(2, 2), passphrase_provider=lambda _: PASSPHRASE.encode())
    emergency_revoke(alice, "old", reason="laptop stolen")
    alice.clock.advance(days=400)  # long past any drill date
    async with running(alice, "keys") as (app, pilot):
        table = app.view.table
        await press(app, pilot, *["down"] * table.get_row_index(old.id))
        assert selected_key(app) == old.id
        detail = app.view.query_one("#detail").text
        assert detail.startswith("key old") and "state: revoked" in detail and "DRILL DUE" not in detail
        assert table.get_cell(old.id, "backup").plain == "not applicable"
        assert table.get_cell(old.id, "next drill").plain == ""  # no drill date for a revoked key
