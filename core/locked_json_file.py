"""The demo's fake services (cluster, Lambda) keep their state in small JSON files that the console
and a shell may change at the same time: reads are bounded, writes replace the file atomically
under an exclusive lock held across the read-modify-write."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from core.errors import SignetError
from core.files import read_limited_file


def load_json_file(path: Path, *, max_bytes: int, error: Callable[[str], SignetError]) -> dict[str, Any]:
    """The JSON object in `path`; `error(reason)` is raised when it is missing, too large or not an object."""
    try:
        raw = read_limited_file(path, max_bytes, what="state file")
    except SignetError as exc:
        raise error(str(exc)) from None
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise error(f"{path} is not a JSON object")
    return doc


def save_json_file(path: Path, doc: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


@contextmanager
def locked_update(path: Path, load: Callable[[], dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Yields the loaded document; saves it back only when the block finished without an error."""
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = load()
        yield doc
        save_json_file(path, doc)
