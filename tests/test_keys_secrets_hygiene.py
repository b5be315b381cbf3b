"""After generate, backup, drill, a full rotation and a restore, no secret appears anywhere Signet wrote.

Secrets: unencrypted PEM private key labels, each private scalar (raw, hex, base64, decimal) and its
PKCS#8 DER (raw, base64), every passphrase, every share. Places: the database file and its WAL, the
audit export, the key store, backup and policy files, captured stdout/stderr of every command, and
log records. The only place shares may appear is the one stdout print of the command that made them.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from core.keys.cosign_format import decrypt_cosign_private_key
from core.store.database import open_store
from tests.support.keys import write_config
from tests.support.oci import push_image
from tui.cli.main import cli

OLD_PASS = "old key passphrase"
NEW_PASS = "new key passphrase"
RESTORED_PASS = "restored key passphrase"
PLAIN_LABELS = (b"BEGIN PRIVATE KEY", b"BEGIN EC PRIVATE KEY", b"BEGIN RSA PRIVATE KEY", b"BEGIN OPENSSH PRIVATE KEY")


def _scalar_forms(pem: bytes, passphrase: str) -> list[bytes]:
    key = decrypt_cosign_private_key(pem, passphrase.encode())
    scalar = key.private_numbers().private_value
    raw = scalar.to_bytes(32, "big")
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw),
            base64.urlsafe_b64encode(raw).rstrip(b"="), str(scalar).encode(), der, base64.b64encode(der)[:60]]


def _share_bodies(stdout: str) -> list[str]:
    shares = re.findall(r"===== share \d+ of \d+.*=====\n(.+)\n===== end", stdout)
    assert shares
    return shares


def test_no_secret_leaks_anywhere(signet_home, registry, tmp_path, tmp_path_factory, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    write_config(signet_home)
    # Files the test feeds in hold secrets by design: kept outside the scanned trees.
    inputs = tmp_path_factory.mktemp("inputs")
    work = tmp_path / "work"       # everything Signet is asked to write outside its home (tmp_path is the home)
    work.mkdir()
    (inputs / "new").write_text(NEW_PASS)
    (inputs / "restored").write_text(RESTORED_PASS)
    outputs: list[str] = []
    share_prints: list[str] = []

    def run(*args, env=None, input=None, shares_printed=False):
        result = CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        (share_prints if shares_printed else outputs).append(result.stdout)
        outputs.append(result.stderr)
        return result

    monkeypatch.setenv("SIGNET_PASSWORD", OLD_PASS)
    # An open connection keeps SQLite from checkpointing and deleting the WAL at each command's exit,
    # so the WAL's frames are there to be searched too.
    holder = open_store(signet_home / "signet.db")
    run("key", "generate", "--name", "old")
    old_pem = next((signet_home / "keys").glob("*.key")).read_bytes()
    secrets = _scalar_forms(old_pem, OLD_PASS)

    made = run("key", "backup", "old", "--shares", "2-of-3", "--out", str(work / "old-backup.json"),
               shares_printed=True)
    shares = _share_bodies(made.stdout)
    for i, share in enumerate(shares[:2]):
        (inputs / f"share{i}").write_text(share)
    run("key", "backup", "test", str(work / "old-backup.json"), "--share-file", str(inputs / "share0"),
        "--share-file", str(inputs / "share1"))

    push_image(registry.url, "team/app", "v1")
    run("sign", f"{registry.host}/team/app:v1", "--key", "old")
    started = run("key", "rotate", "start", "old", "--new-name", "new", "--shares", "2-of-3",
                  "--passphrase-file", str(inputs / "new"), "--backup-out", str(work / "new-backup.json"),
                  "--policy-dir", str(work / "policies"), "--json", shares_printed=True)
    new_shares = [s["mnemonic"] for s in json.loads(started.stdout)["shares"]]
    shares += new_shares
    rid = json.loads(started.stdout)["id"]
    new_key_file = next(p for p in (signet_home / "keys").glob("*.key") if p.read_bytes() != old_pem)
    secrets += _scalar_forms(new_key_file.read_bytes(), NEW_PASS)
    for _ in range(6):
        run("key", "rotate", "next", rid, "--passphrase-file", str(inputs / "new"), "--yes")

    new_key_file.unlink()  # lost disk: bring the new key back from its backup
    for i, share in enumerate(new_shares[1:]):
        (inputs / f"new-share{i}").write_text(share)
    run("key", "restore", str(work / "new-backup.json"), "--share-file", str(inputs / "new-share0"),
        "--share-file", str(inputs / "new-share1"), "--passphrase-file", str(inputs / "restored"))
    assert decrypt_cosign_private_key(new_key_file.read_bytes(), RESTORED_PASS.encode())
    outputs.append(run("audit", "export").stdout)

    passphrases = [p.encode() for p in (OLD_PASS, NEW_PASS, RESTORED_PASS)]
    share_needles = [" ".join(s.split()[4:]).encode() for s in shares]  # the part unique to each share
    written = [p for p in signet_home.rglob("*") if p.is_file()]
    assert any(p.name == "signet.db" for p in written) and any(p.suffix == ".key" for p in written)
    assert any(p.name.endswith("-wal") and p.stat().st_size > 0 for p in written)
    haystacks = {str(p): p.read_bytes() for p in written}
    haystacks.update({f"output#{i}": text.encode() for i, text in enumerate(outputs)})
    haystacks["logs"] = caplog.text.encode()
    for where, data in haystacks.items():
        for label in PLAIN_LABELS:
            assert label not in data, f"unencrypted private key label in {where}"
        for needle in secrets + passphrases + share_needles:
            assert needle not in data, f"secret material found in {where}"
    # Shares appear only in the one print of the command that created them, and nothing else secret does.
    for text in share_prints:
        data = text.encode()
        assert not any(n in data for n in secrets + passphrases) and not any(label in data for label in PLAIN_LABELS)
    assert all(any(n in p.encode() for p in share_prints) for n in share_needles)
    assert Path(work / "old-backup.json").stat().st_mode & 0o077 == 0
    holder.close()
