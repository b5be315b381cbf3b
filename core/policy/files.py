"""Verifier policy files on disk: written atomically and recorded (table `policy_files`), so that the
revoke step can re-read every file Signet generated and refuse while one still trusts the key.

A recorded file may since have been edited, moved or deleted: checks always re-read the file itself,
never trust the record's copy of its fingerprints. A deleted file trusts nothing.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from core.atomic_files import write_atomically
from core.clock import iso
from core.context import SignetContext
from core.errors import InputError, SignetError
from core.policy.generate import policy_key_fingerprints, to_yaml
from core.store.session import StoreSession

MAX_POLICY_FILE_BYTES = 4 * 1024 * 1024
MAX_POLICY_DOCUMENTS = 100
NEW_FILE_MODE = 0o644  # public keys only: verifiers and kubectl must read it


@dataclass(frozen=True)
class PolicyObject:
    """One policy document found in a file: which keys it embeds now."""

    label: str                     # "ClusterPolicy/signet-verify-images"
    fingerprints: frozenset[str]


@dataclass(frozen=True)
class PolicyFileContent:
    path: str
    objects: tuple[PolicyObject, ...] = ()
    missing: bool = False
    error: str = ""                # unreadable or not a policy file: what it trusts is unknown


def write_policy_file(ctx: SignetContext, db: StoreSession, path: Path | str,
                      docs: Sequence[dict[str, Any]], *, source: str) -> str:
    """Write `docs` as YAML to `path` (atomically, keeping an existing file's permissions) and record it.
    Call inside `ctx.store.write()` with the caller's audit entry. Returns the absolute path."""
    target = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror}") from None
    write_atomically(target, to_yaml(docs).encode("utf-8"), mode=mode)
    db.upsert("policy_files", {
        "path": str(target), "objects": json.dumps([_label(doc) for doc in docs]),
        "fingerprints": json.dumps(sorted({fp for doc in docs for fp in policy_key_fingerprints(doc)})),
        "source": source, "written_at": iso(ctx.clock()), "written_by": ctx.actor}, key="path")
    return str(target)


def save_policy_file(ctx: SignetContext, path: Path | str, docs: Sequence[dict[str, Any]], *, source: str) -> str:
    """`write_policy_file` as a service of its own: refused in read-only mode, audited."""
    ctx.require_write(None, action="writing a verifier policy file")
    with ctx.store.write() as db:
        written = write_policy_file(ctx, db, path, docs, source=source)
        ctx.audit("policy.file.write", written, {"objects": [_label(doc) for doc in docs], "source": source})
    return written


def forget_policy_file(db: StoreSession, path: Path | str) -> None:
    """Drop the record of a file Signet deleted."""
    db.execute("DELETE FROM policy_files WHERE path = ?", (str(Path(os.path.realpath(path))),))


def recorded_policy_files(ctx: SignetContext) -> list[str]:
    return [row["path"] for row in ctx.store.query("SELECT path FROM policy_files ORDER BY path")]


def read_policy_file(path: str) -> PolicyFileContent:
    """What the file trusts now, per policy object (its embedded key fingerprints)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_POLICY_FILE_BYTES + 1)
    except FileNotFoundError:
        return PolicyFileContent(path, missing=True)
    except OSError as exc:
        return PolicyFileContent(path, error=f"cannot read it: {exc.strerror}")
    if len(data) > MAX_POLICY_FILE_BYTES:
        return PolicyFileContent(path, error=f"larger than {MAX_POLICY_FILE_BYTES} bytes")
    objects = []
    try:
        for number, doc in enumerate(yaml.safe_load_all(data.decode("utf-8"))):
            if number >= MAX_POLICY_DOCUMENTS:
                return PolicyFileContent(path, error=f"more than {MAX_POLICY_DOCUMENTS} documents")
            if doc is None:
                continue
            if not isinstance(doc, dict):
                return PolicyFileContent(path, error="a document is not a mapping")
            objects.append(PolicyObject(_label(doc), frozenset(policy_key_fingerprints(doc))))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as exc:
        return PolicyFileContent(path, error=f"not readable YAML: {str(exc).splitlines()[0][:200]}")
    except (SignetError, AttributeError, TypeError) as exc:  # an embedded key that does not load, a wrong shape
        return PolicyFileContent(path, error=f"not a policy Signet can read: {str(exc)[:200]}")
    return PolicyFileContent(path, objects=tuple(objects))


def _label(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"
