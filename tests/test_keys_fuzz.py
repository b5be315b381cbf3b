"""Key and backup files from hostile or damaged sources: mutations never load and never crash.

Each property starts from a file that opens (checked once), so a refusal is caused by the mutation.
Only Signet's own errors may come out (InputError / WrongPassphrase / CheckFailed): no tracebacks.
"""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import CheckFailed, InputError, NotFound
from core.keys.backup import PassphraseScheme, ShareScheme, create_backup, open_backup, read_backup_file
from core.keys.cosign_format import decrypt_cosign_private_key
from core.keys.custody import generate_key
from tests.conftest import FIXTURES
from tests.support.keys import custodian_context

KEY = (FIXTURES / "cosign-encrypted-keys/policy-controller-example/cosign.key").read_bytes()  # password ""
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _envelope() -> dict:
    body = re.search(rb"-----\n(.*?)-----END", KEY, re.S).group(1)
    return json.loads(base64.b64decode(b"".join(body.split())))


def _wrap(doc: object, label: str = "ENCRYPTED COSIGN PRIVATE KEY") -> bytes:
    body = base64.b64encode(json.dumps(doc).encode()).decode()
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


ORIGINAL = decrypt_cosign_private_key(KEY, b"")


@SETTINGS
@given(position=st.integers(min_value=0, max_value=len(KEY) - 1), value=st.integers(min_value=0, max_value=255))
def test_byte_mutations_of_a_key_file_never_load(position, value):
    mutated = bytearray(KEY)
    if mutated[position] == value:
        return
    mutated[position] = value
    try:
        key = decrypt_cosign_private_key(bytes(mutated), b"")
    except InputError:  # WrongPassphrase is an InputError
        return
    # Bytes outside the PEM block (e.g. after the END line) do not matter; what loads is the same key.
    assert key.private_numbers() == ORIGINAL.private_numbers()


_json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                         max_size=3), max_leaves=8)


def _replaced(doc: dict, path: tuple[str, ...], value: object) -> bool:
    """Put `value` at `path` in `doc`; False (nothing to test) when it is already there."""
    target = doc
    for part in path[:-1]:
        target = target[part]
    if target[path[-1]] == value:
        return False
    target[path[-1]] = value
    return True


@SETTINGS
@given(path=st.sampled_from([("kdf",), ("kdf", "name"), ("kdf", "params"), ("kdf", "params", "N"), ("kdf", "salt"),
                             ("cipher",), ("cipher", "name"), ("cipher", "nonce"), ("ciphertext",)]),
       value=_json_values)
def test_envelope_field_replacements_are_refused(path, value):
    doc = _envelope()
    if not _replaced(doc, path, value):
        return
    with pytest.raises(InputError):
        decrypt_cosign_private_key(_wrap(doc), b"")


@SETTINGS
@given(doc=_json_values)
def test_arbitrary_json_bodies_are_refused(doc):
    with pytest.raises(InputError):
        decrypt_cosign_private_key(_wrap(doc), b"")


@pytest.fixture(scope="module")
def backups(tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("SIGNET_DB", str(home / "signet.db"))
    mp.setenv("SIGNET_CONFIG", str(home / "config.toml"))
    mp.setenv("SIGNET_KEY_STORE", str(home / "keys"))
    ctx = custodian_context(home)
    generate_key(ctx, name="k", passphrase=b"key passphrase")

    def provider(_name):
        return b"key passphrase"

    shares = create_backup(ctx, "k", ShareScheme(2, 3), passphrase_provider=provider, out=home / "s.json")
    phrase = create_backup(ctx, "k", PassphraseScheme(b"backup passphrase"), passphrase_provider=provider,
                           out=home / "p.json")
    ctx.close()
    yield {"shares": (shares.path.read_text(), {"shares": [s.mnemonic for s in shares.shares[:2]]}),
           "passphrase": (phrase.path.read_text(), {"passphrase": b"backup passphrase"}), "dir": home}
    mp.undo()


@SETTINGS
@given(kind=st.sampled_from(["shares", "passphrase"]), data=st.data())
def test_mutated_backup_files_never_open(backups, kind, data):
    text, unlock = backups[kind]
    path = backups["dir"] / f"mutated-{kind}.json"
    doc = json.loads(text)
    leaves = [("payload", "nonce"), ("payload", "ciphertext"), ("backup_id",), ("key", "fingerprint"),
              ("key", "public_pem"), ("version",), ("protection", "scheme")]
    leaves += [("protection", "identifier"), ("protection", "threshold")] if kind == "shares" else \
        [("protection", "wrapped_key"), ("protection", "nonce"), ("protection", "kdf")]
    leaf = data.draw(st.sampled_from(leaves))
    value = data.draw(_json_values | st.binary(min_size=1, max_size=64).map(lambda b: base64.b64encode(b).decode()))
    if not _replaced(doc, leaf, value):
        return
    path.write_text(json.dumps(doc))
    with pytest.raises((InputError, CheckFailed, NotFound)):
        open_backup(read_backup_file(path), **unlock)
