"""Replace a file's content atomically: readers see the old file or the new one, never half of either."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from core.errors import StoreError


def write_atomically(path: Path | str, data: bytes, *, mode: int) -> None:
    """Write `data` to a fresh temporary file beside `path` (created with exactly `mode`, whatever the
    umask), fsync it, then rename it over `path`. A failure leaves `path` untouched and no temporary."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")  # unique: threads and leftovers never clash
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode & 0o7777)
        try:
            os.fchmod(fd, mode & 0o7777)  # O_CREAT's mode is filtered by the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from None
