"""Input from people through the CLI: malformed, huge, or carrying control characters and terminal
escape sequences. Each ends in one clear line on stderr and exit 2 (never a traceback or an
"internal error"), writes nothing half-way (database dump and key store files are byte-identical
before and after), and nothing reaches the terminal as an escape sequence.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from core.store.database import open_store
from core.text import has_control_chars
from tui.cli.main import cli

FIXTURES = Path(__file__).parent / "fixtures" / "cosign-encrypted-keys"
PUBLIC_KEY = FIXTURES / "policy-controller-example" / "cosign.pub"
DIGEST = "sha256:" + "a" * 64

# What a hostile string may carry into a terminal.
HOSTILE = {
    "osc52-clipboard": "\x1b]52;c;ZWNobyBwd25lZA==\x07",
    "csi-clear-colour": "\x1b[2J\x1b[31m",
    "c1-csi": "\x9b31m",
    "nul": "a\x00b",
    "newline-forged-line": "x\nsignet: verified OK",
    "carriage-return": "x\rsignet: ok",
    "bidi-override": "\u202egnp.exe",
    "backspaces": "ok\b\b\b\bbad",
}


@pytest.fixture
def home(signet_home, monkeypatch):
    (signet_home / "config.toml").write_text(
        'identity = "alice"\n[roles]\noperator = ["alice"]\ncustodian = ["alice"]\napprover = ["bob"]\n'
        '[[clusters]]\ncontext = "prod"\n')
    monkeypatch.setenv("SIGNET_PASSWORD", "correct horse battery")
    open_store(signet_home / "signet.db").close()
    return signet_home


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def snapshot(home: Path) -> tuple[str, dict[str, str]]:
    """Every row of the database (logical dump) and every other file under the home, hashed."""
    conn = sqlite3.connect(home / "signet.db")
    try:
        dump = hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()
    files = {str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(home.rglob("*")) if p.is_file() and not p.name.startswith("signet.db")
             and p.name != "config.toml"}
    return dump, files


def assert_inert(text: str) -> None:
    """No control character (so no escape sequence) reaches the terminal; tabs and newlines only."""
    assert not has_control_chars(text), repr(text[:400])


def assert_clean_usage_error(result, before=None, home: Path | None = None) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout[-500:], result.stderr[-500:])
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("signet: error:"), result.stderr[-800:]
    assert "Traceback" not in result.stderr + result.stdout
    assert "internal error" not in result.stderr
    assert len(lines[0]) < 2000, "a one-line error should not echo megabytes of input"
    assert_inert(result.stdout + result.stderr)
    if before is not None:
        assert snapshot(home) == before, "a refused command changed the database or the files"


# --- image references ----------------------------------------------------------------------------------

BAD_REFERENCES = {**{name: f"registry.example/team/app{text}:v1" for name, text in HOSTILE.items()},
                  "huge": "registry.example/" + "a" * 100_000, "uppercase-repo": "registry.example/Team/App:v1",
                  "empty": "", "bad-digest": "registry.example/app@sha256:zz",
                  "bad-port": "registry.example:99999999/a",
                  "space": "registry.example/app :v1", "markup": "registry.example/[bold]app[/bold]:v1"}


@pytest.mark.parametrize("name", sorted(BAD_REFERENCES))
def test_malformed_image_reference_is_a_usage_error_before_anything_is_recorded(home, name):
    before = snapshot(home)
    result = run("verify", "--key", str(PUBLIC_KEY), BAD_REFERENCES[name])
    assert_clean_usage_error(result, before, home)


# --- configuration files -----------------------------------------------------------------------------------


def _config_cases(tmp: Path) -> dict[str, Path]:
    cases = {
        "binary": b"\x00\x01\x02\xff" * 100,
        "not-utf8": b'identity = "\xff\xfe"\n',
        "deeply-nested": b"a = " + b"[" * 100_000 + b"]" * 100_000 + b"\n",
        "huge": b"# " + b"x" * (2 * 1024 * 1024) + b"\n",
        "escape-in-unknown-key": b'"\\u001b]52;c;ZXZpbA==\\u0007" = 1\n',
        "escape-in-wrong-type": b'read_only = "\\u001b[2Jyes"\n',
        "escape-in-table-name": b'[limits]\n"\\u001b[31mmax" = 1\n',
        "negative-limit": b"[limits]\ntotal_timeout = -1\n",
        "huge-limit-type": b"[limits]\nmax_layers = 1e400\n",
        "registry-url-with-escape": b'[[registries]]\nname = "r"\nurl = "https://r.example/\\u001b[2J"\n',
    }
    paths = {}
    for name, data in cases.items():
        path = tmp / f"{name}.toml"
        path.write_bytes(data)
        paths[name] = path
    paths["dev-zero"] = Path("/dev/zero")
    paths["directory"] = tmp
    return paths


CONFIG_CASES = ["binary", "not-utf8", "deeply-nested", "huge", "escape-in-unknown-key", "escape-in-wrong-type",
                "escape-in-table-name", "negative-limit", "huge-limit-type", "registry-url-with-escape", "dev-zero",
                "directory"]


@pytest.mark.parametrize("name", CONFIG_CASES)
def test_malformed_config_file_is_one_clear_line(home, tmp_path, name):
    path = _config_cases(tmp_path)[name]
    result = run("--config", str(path), "config", "show")
    assert_clean_usage_error(result)


def test_identity_with_escape_sequences_is_shown_inert_everywhere(home):
    (home / "config.toml").write_text('identity = "mallory\\u001b]52;c;ZXZpbA==\\u0007\\u001b[2J"\n')
    for args in (("config", "show"), ("audit", "list"), ("history",), ("bypass", "list")):
        result = run(*args)
        assert "Traceback" not in result.stdout + result.stderr and "internal error" not in result.stderr, args
        assert_inert(result.stdout + result.stderr)


# --- key files, passphrase files, backups, share words ----------------------------------------------------


def _key_files(tmp: Path) -> dict[str, Path]:
    real = (FIXTURES / "cosign-keys-test" / "encrypted-cosign-labeled.key").read_bytes()
    cases = {
        "empty": b"",
        "garbage": bytes(range(256)) * 40,
        "huge": b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + b"A" * 200_000,
        "sec1-plaintext": (FIXTURES / "cosign-keys-test" / "encrypted-cosign-labeled-sec1-plaintext.key").read_bytes(),
        "escape-label": real.replace(b"ENCRYPTED COSIGN PRIVATE KEY", b"\x1b]52;c;ZXZpbA==\x07"),
        "truncated": real[: len(real) // 2],
        "public-key": PUBLIC_KEY.read_bytes(),
        "json-bomb": b'{"kdf":' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        "json-bomb-in-armour": b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + base64.encodebytes(
            b'{"kdf":' + b"[" * 20_000 + b"]" * 20_000 + b"}") + b"-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
    }
    paths = {}
    for name, data in cases.items():
        path = tmp / f"{name}.key"
        path.write_bytes(data)
        path.chmod(0o600)
        paths[name] = path
    paths["dev-zero"] = Path("/dev/zero")
    paths["missing"] = tmp / "does-not-exist.key"
    paths["directory"] = tmp
    return paths


@pytest.mark.parametrize("name", ["empty", "garbage", "huge", "sec1-plaintext", "escape-label", "truncated",
                                  "public-key", "json-bomb", "json-bomb-in-armour", "dev-zero", "missing",
                                  "directory"])
def test_malformed_key_file_is_refused_and_nothing_is_imported(home, tmp_path, name):
    path = _key_files(tmp_path)[name]
    before = snapshot(home)
    result = run("key", "import", "--name", "imported", str(path))
    assert_clean_usage_error(result, before, home)


def test_wrong_passphrase_imports_nothing(home, monkeypatch):
    monkeypatch.setenv("SIGNET_PASSWORD", "not the passphrase")
    before = snapshot(home)
    result = run("key", "import", "--name", "imported",
                 str(FIXTURES / "cosign-keys-test" / "encrypted-cosign-labeled.key"))
    assert_clean_usage_error(result, before, home)


@pytest.mark.parametrize("passphrase_file", ["/dev/zero", "huge", "missing"])
def test_hostile_passphrase_file_is_refused(home, tmp_path, passphrase_file):
    path = {"/dev/zero": Path("/dev/zero"), "huge": tmp_path / "huge", "missing": tmp_path / "missing"}[passphrase_file]
    if passphrase_file == "huge":
        path.write_bytes(b"p" * 1_000_000)
    before = snapshot(home)
    result = run("key", "generate", "--name", "newkey", "--passphrase-file", str(path))
    assert_clean_usage_error(result, before, home)


@pytest.fixture
def backup(home, tmp_path):
    assert run("key", "generate", "--name", "k1").exit_code == 0
    out = tmp_path / "k1.backup"
    created = run("key", "backup", "create", "k1", "--shares", "2-of-3", "--custodian", "a", "--custodian", "b",
                  "--custodian", "c", "--out", str(out))
    assert created.exit_code == 0, created.stderr
    shares = [line.strip() for line in created.stdout.splitlines() if len(line.split()) >= 20]
    assert len(shares) == 3
    return out, shares


def _share_file(tmp: Path, lines: list[str]) -> Path:
    path = tmp / "shares.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("case", ["one-share", "same-share-twice", "words-changed", "escape-in-words",
                                  "not-words", "huge", "dev-zero", "shares-of-another-backup"])
def test_bad_share_words_restore_nothing(home, tmp_path, backup, case):
    path, shares = backup
    lines = {
        "one-share": shares[:1],
        "same-share-twice": [shares[0], shares[0]],
        "words-changed": [shares[0], " ".join(shares[1].split()[:-1] + ["academic"])],
        "escape-in-words": [shares[0], shares[1].replace(" ", " \x1b]52;c;ZXZpbA==\x07", 1)],
        "not-words": [shares[0], "\x1b[2J " * 20],
    }.get(case)
    if case == "huge":
        share_path = tmp_path / "huge.txt"
        share_path.write_text((shares[0] + "\n") * 50_000)
    elif case == "dev-zero":
        share_path = Path("/dev/zero")
    elif case == "shares-of-another-backup":
        other = run("key", "backup", "create", "k1", "--shares", "2-of-3", "--custodian", "a", "--custodian", "b",
                    "--custodian", "c", "--out", str(tmp_path / "other.backup"))
        other_shares = [line.strip() for line in other.stdout.splitlines() if len(line.split()) >= 20]
        share_path = _share_file(tmp_path, other_shares[:2])
    else:
        share_path = _share_file(tmp_path, lines)
    before = snapshot(home)
    result = run("key", "restore", "--share-file", str(share_path), "--name", "restored", str(path))
    assert_clean_usage_error(result, before, home)


@pytest.mark.parametrize("case", ["garbage", "empty", "escape-in-format", "nested", "dev-zero", "directory"])
def test_malformed_backup_file_restores_nothing(home, tmp_path, backup, case):
    _, shares = backup
    data = {"garbage": bytes(range(256)) * 10, "empty": b"",
            "escape-in-format": b'{"format": "\\u001b]52;c;ZXZpbA==\\u0007", "version": 1}',
            "nested": b'{"format":' + b"[" * 100_000 + b"]" * 100_000 + b"}"}.get(case)
    if data is not None:
        path = tmp_path / "bad.backup"
        path.write_bytes(data)
    else:
        path = Path("/dev/zero") if case == "dev-zero" else tmp_path
    share_path = _share_file(tmp_path, shares[:2])
    before = snapshot(home)
    result = run("key", "restore", "--share-file", str(share_path), str(path))
    assert_clean_usage_error(result, before, home)


# --- bypass forms --------------------------------------------------------------------------------------------


def _bypass(**overrides: str):
    fields = {"--cluster": "prod", "--namespace": "payments", "--digest": DIGEST, "--ticket": "INC-1234",
              "--duration": "1h", "--justification": "hotfix rollback while the signing pipeline is down"}
    fields.update(overrides)
    return run("bypass", "request", *[part for item in fields.items() for part in item])


@pytest.mark.parametrize("field,value", [
    # (a newline is allowed in a justification: it is free text, shown in a table cell)
    *[("--justification", "hotfix rollback while signing is down " + text) for name, text in HOSTILE.items()
      if name != "newline-forged-line"],
    ("--justification", "x" * 1_000_000), ("--justification", "short"),
    ("--justification", "[bold red]FAKE APPROVED[/] " * 3 + "\x1b[0m"),
    ("--ticket", "INC-1\x1b[31m"), ("--ticket", "javascript:alert(1)"), ("--ticket", "x" * 10_000),
    ("--digest", "registry.example/app:latest"), ("--digest", "sha256:" + "A" * 64), ("--digest", DIGEST + "\x1b"),
    ("--duration", "99999999999999999999h"), ("--duration", "-1h"), ("--duration", "1e9"), ("--duration", "\x1b[2J"),
    ("--namespace", "pay\x1b]52;c;x\x07ments"), ("--namespace", "../../etc"), ("--cluster", "prod\x00"),
])
def test_hostile_bypass_form_is_refused_and_writes_nothing(home, field, value):
    before = snapshot(home)
    assert_clean_usage_error(_bypass(**{field: value}), before, home)


def test_markup_in_a_justification_is_stored_and_shown_literally(home):
    """Markup is not an escape sequence: it is kept as typed and never interpreted."""
    text = "hotfix [bold red]rollback[/] while the signing pipeline is down"
    result = _bypass(**{"--justification": text})
    assert result.exit_code == 0, result.stderr
    listed = run("bypass", "list", "--json")
    assert "[bold red]rollback[/]" in listed.stdout
    assert_inert(listed.stdout)


# --- other flags -------------------------------------------------------------------------------------------


def test_history_filters_with_escapes_are_inert_or_refused(home):
    shown = run("history", "--image", HOSTILE["osc52-clipboard"])
    assert shown.exit_code == 0 and "internal error" not in shown.stderr
    assert_inert(shown.stdout + shown.stderr)
    assert_clean_usage_error(run("history", "--since", HOSTILE["csi-clear-colour"]))


@pytest.mark.parametrize("annotation", ["novalue", "=v", "k=\x1b[2J", "k=1\nk2=2"])
def test_malformed_annotation_flags_are_usage_errors(home, annotation):
    result = run("verify", "--key", str(PUBLIC_KEY), "-a", annotation, "registry.example/app:v1")
    if annotation.startswith("k="):  # well-formed key=value: accepted as data, never echoed raw
        assert_inert(result.stdout + result.stderr)
        return
    assert_clean_usage_error(result)


@pytest.mark.parametrize("trusted_root", ["/dev/zero", "garbage", "escape"])
def test_hostile_trusted_root_file_is_a_usage_error(home, tmp_path, trusted_root):
    path = Path("/dev/zero")
    if trusted_root != "/dev/zero":
        path = tmp_path / "root.json"
        path.write_bytes(b"\x00garbage" if trusted_root == "garbage" else b'{"mediaType": "\\u001b]52;c;x\\u0007"}')
    result = run("verify", "--certificate-identity", "a@example.com", "--certificate-oidc-issuer",
                 "https://issuer.example", "--trusted-root", str(path), "registry.example/app:v1")
    assert_clean_usage_error(result)


@pytest.mark.parametrize("name", ["k9\n", "k9\x1b[31m", "../k9", "k" * 1000, "", "-k9"])
def test_malformed_key_name_creates_nothing(home, name):
    before = snapshot(home)
    assert_clean_usage_error(run("key", "generate", "--name", name), before, home)


@pytest.mark.parametrize("ref", ["/nonexistent.pub", "./missing/cosign.pub", "~/no-such-key.pem", "cosign.pub"])
def test_a_missing_key_file_is_named_as_a_missing_file(home, ref):
    result = CliRunner().invoke(cli, ["verify", "--key", ref, "localhost:1/x:y"])
    assert result.exit_code == 2
    assert result.stderr == f"signet: error: key file {ref} does not exist\n"
    by_name = CliRunner().invoke(cli, ["verify", "--key", "release-z", "localhost:1/x:y"])
    assert by_name.exit_code == 2 and "no key with id, name or fingerprint prefix 'release-z'" in by_name.stderr


def test_an_image_that_cannot_be_checked_says_why_on_stderr_too(home):
    result = CliRunner().invoke(cli, ["verify", "--key", str(PUBLIC_KEY), "localhost:1/x:y"])
    assert result.exit_code == 3
    [line] = result.stderr.splitlines()
    assert line.startswith("signet: localhost:1/x:y: ") and "localhost:1" in line[len("signet: localhost:1/x:y"):]
    assert "error" in result.stdout  # the table still says it
    as_json = CliRunner().invoke(cli, ["verify", "--key", str(PUBLIC_KEY), "localhost:1/x:y", "--json"])
    assert as_json.exit_code == 3 and len(as_json.stderr.splitlines()) == 1
