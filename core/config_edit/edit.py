"""Edit the Signet configuration file in place, keeping its comments, order and formatting.

An edit is planned first (`plan_list_edit`: the new text, the exact unified diff, the hash of the text
it was computed from) and applied later (`apply_config_edit`), usually after a person has read the
diff. Applying refuses when the file is no longer the one the diff was computed from, writes the new
text atomically with the file's permissions, and audits the change (names only, never secrets).
The TOML is edited through tomlkit's document model, never with regular expressions.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
from dataclasses import dataclass
from dataclasses import field as dataclass_field  # a dataclass below has a field named `field`
from pathlib import Path
from typing import Any, Mapping, Sequence

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array

from core.atomic_files import write_atomically
from core.config.loader import parse_config_text, read_config_text
from core.context import SignetContext
from core.errors import ConfigError, InvalidState
from core.identity import Role


@dataclass(frozen=True)
class ConfigEdit:
    """A planned change of one list of strings in the configuration file."""

    path: str                   # the file written (symlinks resolved)
    field: str                  # dotted, e.g. "trust.keys"
    before_sha256: str          # of the text the diff was computed from
    diff: str                   # unified diff, exactly what applying writes
    removed: tuple[str, ...]
    added: tuple[str, ...]
    after_text: str = dataclass_field(repr=False, default="")

    @property
    def label(self) -> str:
        """How people name the field: `[trust] keys`."""
        table, _, key = self.field.rpartition(".")
        return f"[{table}] {key}" if table else key

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.path, "field": self.field, "removed": list(self.removed), "added": list(self.added),
                "before_sha256": self.before_sha256, "diff": self.diff}


def config_string_list(path: Path, dotted: str) -> list[str]:
    """The strings of the list at `dotted` (empty when the file, the table or the key is absent)."""
    if not path.exists():
        return []
    array = _find_array(_parse(path, read_config_text(path)), dotted, str(path))
    return [] if array is None else [str(item) for item in array]


def plan_list_edit(path: Path, dotted: str, replacements: Mapping[int, Sequence[str]]) -> ConfigEdit | None:
    """Replace entry i of the list at `dotted` by `replacements[i]` (no values: remove it; a list starting
    with the entry itself: keep it, with its comment, and add the rest after it). None when nothing changes."""
    real = Path(os.path.realpath(path))  # edit the file a symlink points at, keep the link
    before = read_config_text(real)
    document = _parse(real, before)
    array = _find_array(document, dotted, str(real))
    if array is None:
        raise ConfigError(f"no list '{dotted}' to edit", path=str(real))
    original = [str(item) for item in array]
    if any(not 0 <= index < len(original) for index in replacements):
        raise ConfigError(f"'{dotted}' has no entry to replace at {sorted(replacements)} (the file changed?)",
                          path=str(real))
    removed: list[str] = []
    added: list[str] = []
    for index in sorted(replacements):
        values = list(replacements[index])
        kept = values[:1] == [original[index]]
        removed += [] if kept else [original[index]]
        added += values[1:] if kept else values
    for index in sorted(replacements, reverse=True):  # from the end: earlier indexes stay valid
        values = list(replacements[index])
        if values[:1] == [original[index]]:  # keep the entry (and its comment), add the rest after it
            for offset, value in enumerate(values[1:], start=1):
                array.insert(index + offset, value)
            continue
        for offset, value in enumerate(values):
            array.insert(index + offset, value)
        del array[index + len(values)]
    after = tomlkit.dumps(document)
    if after == before:
        return None
    parse_config_text(str(real), after)  # the result must still be a valid configuration
    return ConfigEdit(path=str(real), field=dotted, before_sha256=_sha256(before), diff=unified_diff(before, after,
                      str(real)), removed=tuple(removed), added=tuple(added), after_text=after)


def apply_config_edit(ctx: SignetContext, edit: ConfigEdit, *, subject: str, details: Mapping[str, Any]) -> None:
    """Write `edit` if the file still holds the text its diff was computed from; audited with the change."""
    ctx.require_write(Role.CUSTODIAN, action="changing the trust configuration")
    path = Path(edit.path)
    with ctx.store.write():  # the audit entry commits only if the file was written
        current = read_config_text(path)
        if _sha256(current) != edit.before_sha256:
            raise InvalidState(f"{path} changed since the diff was computed; nothing was written. "
                               "Show the change again and apply the new diff")
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
        ctx.audit("config.edit", str(path), {"field": edit.field, "removed": list(edit.removed),
                                             "added": list(edit.added), "before_sha256": edit.before_sha256,
                                             "after_sha256": _sha256(edit.after_text), **details})
        write_atomically(path, edit.after_text.encode("utf-8"), mode=mode)


def config_sha256(path: Path) -> str:
    """The hash an edit of this file is checked against."""
    return _sha256(read_config_text(Path(os.path.realpath(path))))


def unified_diff(before: str, after: str, name: str) -> str:
    """`diff -u` output, including its marker for a last line without a newline."""
    lines = []
    for line in difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                     fromfile=f"{name} (now)", tofile=f"{name} (after)"):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def _parse(path: Path, text: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except (TOMLKitError, RecursionError) as exc:
        raise ConfigError(f"not valid TOML: {str(exc)[:200]}", path=str(path)) from None


def _find_array(document: tomlkit.TOMLDocument, dotted: str, path: str) -> Array | None:
    node: Any = document
    parts = dotted.split(".")
    for part in parts[:-1]:
        if not hasattr(node, "get") or part not in node:
            return None
        node = node[part]
    if not hasattr(node, "get") or parts[-1] not in node:
        return None
    value = node[parts[-1]]
    if not isinstance(value, Array) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"'{dotted}' is not a list of strings", path=path)
    return value


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
