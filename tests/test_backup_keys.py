"""Key backups: SLIP-39 shares and passphrase, restore, drills, and every failure path."""

from __future__ import annotations

import base64
import json

import pytest

from core.clock import FixedClock
from core.crypto.public_keys import fingerprint
from core.errors import CheckFailed, InputError, InvalidState, NotFound, PermissionDenied, WrongPassphrase
from core.keys.backup import (
    PassphraseScheme,
    ShareScheme,
    create_backup,
    drill_backup,
    open_backup,
    read_backup_file,
    restore_backup,
)
from core.keys.backup_records import list_backups
from core.keys.custody import KeyPlacement, generate_key, open_private_key
from core.keys.inventory import find_key
from tests.support.keys import START, custodian_context

PASS = b"correct horse battery"
BACKUP_PASS = b"backup passphrase 42"


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def ctx(signet_home, clock):
    context = custodian_context(signet_home, clock=clock)
    yield context
    context.close()


@pytest.fixture
def key(ctx):
    return generate_key(ctx, name="prod", passphrase=PASS)


def _provider(_name):
    return PASS


def _shares(ctx, key, tmp_path, m=3, n=5, custodians=("ann", "bob", "cat", "dan", "eve")):
    return create_backup(ctx, key.name, ShareScheme(m, n, tuple(custodians)), passphrase_provider=_provider,
                         out=tmp_path / "prod.backup.json")


def test_share_backup_restores_from_any_m_shares(ctx, key, tmp_path):
    created = _shares(ctx, key, tmp_path)
    assert [s.index for s in created.shares] == [1, 2, 3, 4, 5]
    assert [s.custodian for s in created.shares] == ["ann", "bob", "cat", "dan", "eve"]
    assert all(len(s.mnemonic.split()) == 33 for s in created.shares)
    assert oct(created.path.stat().st_mode & 0o777) == "0o600"
    backup = read_backup_file(created.path)
    for subset in ([0, 1, 2], [2, 3, 4], [4, 0, 3]):
        private = open_backup(backup, shares=[created.shares[i].mnemonic for i in subset])
        assert fingerprint(private.public_key()) == key.fingerprint
    doc = json.loads(created.path.read_text())
    assert doc["format"] == "signet-key-backup" and doc["version"] == 1
    assert doc["protection"]["custodians"][1] == {"index": 2, "name": "bob"}
    text = created.path.read_text()
    assert not any(word in text for s in created.shares for word in [s.mnemonic])


def test_backup_inventory_records_location_custodians_and_drill_due(ctx, key, tmp_path, clock):
    created = _shares(ctx, key, tmp_path)
    [record] = list_backups(ctx, key.id)
    assert record.location == str(created.path.resolve()) and record.threshold == 3 and record.share_count == 5
    assert record.custodians[0] == {"index": 1, "name": "ann"}
    assert record.last_tested_at is None and record.drill_overdue(clock())  # untested: due now
    clock.advance(days=1)
    result = drill_backup(ctx, created.path, shares=[s.mnemonic for s in created.shares[:3]])
    assert result.ok and result.fingerprint == key.fingerprint
    [record] = list_backups(ctx, key.id)
    assert record.last_test_result == "ok" and not record.drill_overdue(clock())
    clock.advance(days=ctx.config.policy.backup_drill_interval_days)
    assert list_backups(ctx, key.id)[0].drill_overdue(clock())
    actions = [r["action"] for r in ctx.store.query("SELECT action FROM audit ORDER BY seq")]
    assert actions == ["key.generate", "key.backup", "key.backup.test"]


def test_too_few_mistyped_and_foreign_shares_give_clear_errors_without_quoting_shares(ctx, key, tmp_path):
    created = _shares(ctx, key, tmp_path)
    backup = read_backup_file(created.path)
    mnemonics = [s.mnemonic for s in created.shares]
    with pytest.raises(InputError, match="too few shares: 2 distinct share\\(s\\) given, 3 needed"):
        open_backup(backup, shares=mnemonics[:2])
    with pytest.raises(InputError, match="too few shares: 2"):
        open_backup(backup, shares=[mnemonics[0], mnemonics[0], mnemonics[1]])  # duplicates do not count
    words = mnemonics[1].split()
    words[7] = "academic" if words[7] != "academic" else "acid"
    with pytest.raises(InputError, match="share #2 is mistyped") as typo:
        open_backup(backup, shares=[mnemonics[0], " ".join(words), mnemonics[2]])
    assert not any(w in str(typo.value) for w in words[:4] if len(w) > 3)
    other_key = generate_key(ctx, name="other", passphrase=PASS)
    other = create_backup(ctx, other_key.name, ShareScheme(3, 5), passphrase_provider=_provider,
                          out=tmp_path / "other.json")
    with pytest.raises(InputError, match="share #3 belongs to another share set"):
        open_backup(backup, shares=mnemonics[:2] + [other.shares[0].mnemonic])
    with pytest.raises(InputError, match="share #1 is empty"):
        open_backup(backup, shares=["", *mnemonics[:3]])


def test_passphrase_backup_and_wrong_passphrase(ctx, key, tmp_path):
    created = create_backup(ctx, "prod", PassphraseScheme(BACKUP_PASS), passphrase_provider=_provider,
                            out=tmp_path / "p.json")
    assert created.shares == ()
    backup = read_backup_file(created.path)
    assert fingerprint(open_backup(backup, passphrase=BACKUP_PASS).public_key()) == key.fingerprint
    with pytest.raises(WrongPassphrase, match="wrong passphrase for this backup"):
        drill_backup(ctx, created.path, passphrase=b"not it at all")
    [record] = list_backups(ctx, key.id)
    assert record.last_test_result.startswith("failed: wrong passphrase")
    with pytest.raises(InputError, match="at least 8"):
        create_backup(ctx, "prod", PassphraseScheme(b"short"), passphrase_provider=_provider, out=tmp_path / "q.json")


def _edit(path, change):
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def test_corrupt_or_altered_files_are_refused(ctx, key, tmp_path):
    created = create_backup(ctx, "prod", PassphraseScheme(BACKUP_PASS), passphrase_provider=_provider,
                            out=tmp_path / "p.json")
    original = created.path.read_text()

    def flip(doc):
        raw = bytearray(base64.b64decode(doc["payload"]["ciphertext"]))
        raw[0] ^= 1
        doc["payload"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()

    _edit(created.path, flip)
    with pytest.raises(CheckFailed, match="did not decrypt"):
        drill_backup(ctx, created.path, passphrase=BACKUP_PASS)
    assert list_backups(ctx, key.id)[0].last_test_result.startswith("failed: the backup did not decrypt")
    # Claiming another backup id breaks the AAD binding.
    created.path.write_text(original)
    _edit(created.path, lambda d: d.__setitem__("backup_id", "bkp_000000000000"))
    with pytest.raises(WrongPassphrase):
        open_backup(read_backup_file(created.path), passphrase=BACKUP_PASS)
    created.path.write_text(original)
    _edit(created.path, lambda d: d["payload"].pop("nonce"))
    with pytest.raises(InputError, match="corrupt"):
        open_backup(read_backup_file(created.path), passphrase=BACKUP_PASS)
    created.path.write_text(original)
    _edit(created.path, lambda d: d.__setitem__("version", 2))
    with pytest.raises(InputError, match="version 2 is not supported"):
        read_backup_file(created.path)
    created.path.write_text("{not json")
    with pytest.raises(InputError, match="corrupt"):
        read_backup_file(created.path)
    with pytest.raises(NotFound):
        read_backup_file(tmp_path / "missing.json")


def test_restore_rewrites_a_lost_local_key_file(ctx, key, tmp_path):
    created = _shares(ctx, key, tmp_path, m=2, n=3, custodians=("a", "b", "c"))
    with pytest.raises(InvalidState, match="already present"):
        restore_backup(ctx, created.path, shares=[s.mnemonic for s in created.shares[:2]],
                       new_passphrase=b"new pass 123")
    (ctx.paths.key_store / f"{key.id}.key").unlink()
    record = restore_backup(ctx, created.path, shares=[s.mnemonic for s in created.shares[1:]],
                            new_passphrase=b"new pass 123")
    assert record.id == key.id
    assert fingerprint(open_private_key(ctx, record, lambda _n: b"new pass 123").public_key()) == key.fingerprint


def test_restore_on_a_fresh_machine_adds_the_key(ctx, key, tmp_path, monkeypatch):
    created = create_backup(ctx, "prod", PassphraseScheme(BACKUP_PASS), passphrase_provider=_provider,
                            out=tmp_path / "p.json")
    fresh_home = tmp_path / "fresh"
    fresh_home.mkdir()
    monkeypatch.setenv("SIGNET_DB", str(fresh_home / "signet.db"))
    monkeypatch.setenv("SIGNET_KEY_STORE", str(fresh_home / "keys"))
    fresh = custodian_context(fresh_home)
    record = restore_backup(fresh, created.path, passphrase=BACKUP_PASS, new_passphrase=b"fresh machine pass")
    assert record.fingerprint == key.fingerprint and record.name == "prod" and record.location == "local"
    assert find_key(fresh, "prod").id == record.id
    fresh.close()


def test_kms_keys_cannot_be_backed_up_and_role_is_required(ctx, tmp_path, signet_home, aws_endpoint):
    generate_key(ctx, name="kms", placement=KeyPlacement(store="kms"))
    with pytest.raises(InvalidState, match="lives in KMS"):
        create_backup(ctx, "kms", ShareScheme(2, 3), passphrase_provider=_provider, out=tmp_path / "k.json")
    generate_key(ctx, name="local", passphrase=PASS)
    other = custodian_context(signet_home, identity="mallory")
    with pytest.raises(PermissionDenied):
        create_backup(other, "local", ShareScheme(2, 3), passphrase_provider=_provider, out=tmp_path / "x.json")
    other.close()
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("text, custodians, message", [
    ("1-of-3", (), "M >= 2"), ("4-of-3", (), "1 <= M <= N"), ("2-of-17", (), "1 <= M <= N"),
    ("2-of-3", ("a", "b"), "one custodian per share"), ("two of three", (), "M-of-N"),
])
def test_bad_share_schemes_are_refused(ctx, key, tmp_path, text, custodians, message):
    with pytest.raises(InputError, match=message):
        create_backup(ctx, "prod", ShareScheme.parse(text, custodians), passphrase_provider=_provider,
                      out=tmp_path / "b.json")
    assert list_backups(ctx) == [] and not (tmp_path / "b.json").exists()


def test_key_overview_flags_missing_and_overdue_drills(ctx, key, tmp_path, clock):
    from core.keys.overview import key_overview

    def status():
        return {row.key.name: row.backup_status for row in key_overview(ctx)}

    assert status() == {"prod": "no backup"}
    created = _shares(ctx, key, tmp_path, m=2, n=2, custodians=("a", "b"))
    assert status() == {"prod": "drill overdue"}  # never restored yet
    drill_backup(ctx, created.path, shares=[s.mnemonic for s in created.shares])
    assert status() == {"prod": "ok"}
    clock.advance(days=ctx.config.policy.backup_drill_interval_days, seconds=1)
    [row] = key_overview(ctx)
    assert row.backup_status == "drill overdue" and row.needs_attention
    assert row.as_dict(clock())["backups"][0]["drill_overdue"] is True


def test_revoked_keys_are_neither_backed_up_nor_restored(ctx, key, tmp_path):
    from core.keys.inventory import set_key_state

    created = create_backup(ctx, "prod", PassphraseScheme(BACKUP_PASS), passphrase_provider=_provider,
                            out=tmp_path / "p.json")
    with ctx.store.write() as db:
        set_key_state(ctx, db, key.id, "revoked")
    with pytest.raises(InvalidState, match="revoked; it must not be backed up"):
        create_backup(ctx, "prod", PassphraseScheme(BACKUP_PASS), passphrase_provider=_provider,
                      out=tmp_path / "q.json")
    (ctx.paths.key_store / f"{key.id}.key").unlink()
    with pytest.raises(InvalidState, match="revoked; it must not be restored"):
        restore_backup(ctx, created.path, passphrase=BACKUP_PASS, new_passphrase=b"new pass 123")
    assert not (ctx.paths.key_store / f"{key.id}.key").exists()


def test_edited_custody_metadata_makes_the_backup_fail_to_open(ctx, key, tmp_path):
    created = _shares(ctx, key, tmp_path, m=2, n=3, custodians=("ann", "bob", "cat"))
    mnemonics = [s.mnemonic for s in created.shares[:2]]
    _edit(created.path, lambda d: d["protection"]["custodians"][0].__setitem__("name", "mallory"))
    with pytest.raises(CheckFailed, match="altered"):
        open_backup(read_backup_file(created.path), shares=mnemonics)
    _edit(created.path, lambda d: d["protection"]["custodians"][0].__setitem__("name", "ann"))
    assert open_backup(read_backup_file(created.path), shares=mnemonics)  # restored metadata opens again
    _edit(created.path, lambda d: d["protection"].__setitem__("threshold", 1))
    with pytest.raises(CheckFailed, match="altered"):
        open_backup(read_backup_file(created.path), shares=mnemonics[:1] + mnemonics[1:])
