"""The local key store: a 0700 directory of cosign-encrypted private keys (0600) and public keys.

Nothing unencrypted is ever written: `write_key` refuses a private PEM that is not cosign's
encrypted format, and every secret file is created 0600 with O_EXCL and renamed into place, so a
crash leaves either the old file or the new one, never a half-written or world-readable key.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.atomic_files import write_atomically
from core.errors import InputError, InvalidState, NotFound, StoreError
from core.files import read_limited_file
from core.keys.cosign_format import is_encrypted_cosign_pem

MAX_SECRET_FILE_BYTES = 1024 * 1024


def write_secret_file(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write `data` to `path` as a 0600 file, atomically. Refuses to replace unless `overwrite`."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InvalidState(f"{path} already exists; refusing to overwrite it")
    write_atomically(path, data, mode=0o600)


def read_secret_file(path: Path, *, what: str = "file") -> bytes:
    """Read a secret file, refusing one that group or others can read (like ssh does)."""
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NotFound(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if info.st_mode & 0o077:
        raise InvalidState(f"{what} {path} is readable by others (mode {stat.filemode(info.st_mode)}); "
                           "run chmod 600 on it")
    return read_limited_file(path, MAX_SECRET_FILE_BYTES, what=what)


class LocalKeyStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def ensure(self) -> Path:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            if stat.S_IMODE(self.root.stat().st_mode) != 0o700:
                os.chmod(self.root, 0o700)
        except OSError as exc:
            raise StoreError(f"cannot prepare key store {self.root}: {exc.strerror or exc}") from None
        return self.root

    def private_path(self, key_id: str) -> Path:
        return self.root / f"{_safe_id(key_id)}.key"

    def public_path(self, key_id: str) -> Path:
        return self.root / f"{_safe_id(key_id)}.pub"

    def write_key(self, key_id: str, encrypted_pem: bytes, public_pem: bytes) -> Path:
        if not is_encrypted_cosign_pem(encrypted_pem):
            raise InputError("refusing to store a private key that is not cosign-encrypted")
        self.ensure()
        write_secret_file(self.private_path(key_id), encrypted_pem)
        write_secret_file(self.public_path(key_id), public_pem, overwrite=True)  # public: harmless to refresh
        return self.private_path(key_id)

    def read_private(self, key_id: str) -> bytes:
        return read_secret_file(self.private_path(key_id), what="key file")

    def remove(self, key_id: str, *, keep_public: bool = True) -> bool:
        """Delete the encrypted private key (the public key normally stays for forensics); True if one was there."""
        private = self.private_path(key_id)
        existed = private.exists()
        private.unlink(missing_ok=True)
        if not keep_public:
            self.public_path(key_id).unlink(missing_ok=True)
        return existed


def _safe_id(key_id: str) -> str:
    if not key_id.replace("_", "").isalnum():
        raise InputError(f"bad key id '{key_id}'")
    return key_id
