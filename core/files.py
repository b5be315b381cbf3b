"""Files Signet was pointed at (keys, backups, policies, trust material): read with a cap, one error each."""

from __future__ import annotations

from pathlib import Path

from core.errors import FileTooLarge, InputError, NotFound


def read_limited_file(path: Path | str, max_bytes: int, *, what: str = "file") -> bytes:
    """The bytes of a file we were pointed at, refusing one larger than `max_bytes` (read at most one more):
    NotFound when it is missing, FileTooLarge when too large, InputError when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise NotFound(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise FileTooLarge(f"{what} {path} is larger than {max_bytes} bytes")
    return data
