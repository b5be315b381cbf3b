"""Rotation and the trust configuration: the `[trust] keys` change each step needs, and every place
(configuration, generated policy files) that still trusts a key about to be revoked.

Rotation practice is add, overlap, remove (keys-bypass-anchors.md §1). For `[trust] keys`:
- publish .. soak ("overlap"): the new key is added right after the entry naming the old key, so
  images signed by either key verify while signers switch and images are re-signed;
- retire, revoke ("after"): the entries naming the old key are removed (the new key takes the first
  one's place if it is not listed yet). Retiring requires full re-signing coverage (or a recorded,
  forced reason), so what is in use verifies with the new key alone, and the configuration stops
  trusting the old key when the policy files do.
A list that does not name the old key is left alone: a rotation never adds trust where there was none.

Revocation refuses while any trust list still names the old key, whether next to the new key or not:
`signet verify` refuses a revoked key named in `[trust] keys` (every verification would fail), a
policy file that embeds it would keep admitting what it signed, and one naming only the old key
would reject every re-signed image. The configuration is `[trust] keys`, the only setting that names
keys; policy files are those Signet wrote and recorded (`core/policy/files.py`), re-read from disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.config_edit.edit import ConfigEdit, apply_config_edit, config_sha256, config_string_list, plan_list_edit
from core.context import SignetContext
from core.errors import ConfigError, InputError, InvalidState, SignetError
from core.keys.inventory import KeyRecord
from core.policy.files import read_policy_file, recorded_policy_files
from core.verify.policy import resolve_key_reference

if TYPE_CHECKING:  # rotation.py calls this module
    from core.keys.rotation_records import RotationStatus

CONFIG_FIELD = "trust.keys"
CONFIG_LABEL = "[trust] keys"
OVERLAP_STEPS = ("publish", "switch", "resign", "soak")
AFTER_STEPS = ("retire", "revoke")
_ORDER = ("stage", *OVERLAP_STEPS, *AFTER_STEPS)


@dataclass(frozen=True)
class TrustListing:
    """One place that still trusts a key."""

    file: str
    field: str                       # "[trust] keys", or the policy object "ClusterPolicy/name"
    names_successor: bool = False    # also trusts the key replacing it
    problem: str = ""                # the file could not be read: what it trusts is unknown

    def describe(self, key: KeyRecord, successor: KeyRecord | None) -> str:
        if self.problem:
            return (f"{self.file}: cannot tell whether it trusts {key.name} ({self.problem}); "
                    "fix, regenerate or delete it")
        if successor is not None and not self.names_successor:
            return (f"{self.file}: {self.field} trusts only {key.name}, not {successor.name}: replace "
                    f"{key.name} by {successor.name} there")
        return f"{self.file}: {self.field} still trusts {key.name}: remove it there"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "field": self.field, "names_successor": self.names_successor,
                "problem": self.problem}


def rotation_config_edit(ctx: SignetContext, status: RotationStatus, *, step: str | None = None) -> ConfigEdit | None:
    """The `[trust] keys` change that goes with `step` (default: the last step completed, i.e. what the
    file should say now); None when the file already says it, does not name the old key, or is absent."""
    path = ctx.paths.config
    step = step or settled_step(status)
    new = status.new_key
    if (status.status == "aborted" or new is None or step not in OVERLAP_STEPS + AFTER_STEPS or path is None
            or not Path(path).exists()):
        return None
    old = status.old_key
    entries = _config_fingerprints(ctx, Path(path))
    old_at = [i for i, fingerprint in enumerate(entries) if fingerprint == old.fingerprint]
    if not old_at:
        return None
    has_new = new.fingerprint in entries
    if step in OVERLAP_STEPS:
        if has_new:
            return None
        values = config_string_list(Path(path), CONFIG_FIELD)
        return plan_list_edit(Path(path), CONFIG_FIELD, {old_at[0]: [values[old_at[0]], new.name]})
    replacements: dict[int, list[str]] = {i: [] for i in old_at}
    if not has_new:
        replacements[old_at[0]] = [new.name]
    return plan_list_edit(Path(path), CONFIG_FIELD, replacements)


def apply_rotation_config_edit(ctx: SignetContext, status: RotationStatus, edit: ConfigEdit, *,
                               step: str | None = None) -> None:
    """Write `edit` (a diff shown to someone) if it is still exactly the change `step` needs; audited."""
    if config_sha256(Path(edit.path)) != edit.before_sha256:
        raise InvalidState(f"{edit.path} changed since the diff was computed; nothing was written. "
                           "Show the change again and apply the new diff")
    step = step or settled_step(status)
    expected = rotation_config_edit(ctx, status, step=step)
    if expected is None or (expected.path, expected.after_text) != (edit.path, edit.after_text):
        raise InputError(f"that {CONFIG_LABEL} change is not the one the '{step}' step of rotation {status.id} "
                         "needs; show the change again")
    new_name = status.new_key.name if status.new_key else ""
    apply_config_edit(ctx, edit, subject=status.id, details={"rotation": status.id, "step": step,
                                                             "key": status.old_key.name, "new_key": new_name})


def settled_step(status: RotationStatus) -> str:
    """The last step the rotation completed ("stage" before any)."""
    if status.step not in _ORDER:  # done
        return _ORDER[-1]
    return _ORDER[max(_ORDER.index(status.step) - 1, 0)]


def trust_listings(ctx: SignetContext, key: KeyRecord, successor: KeyRecord | None) -> list[TrustListing]:
    """Every place that still trusts `key`: `[trust] keys` entries naming it (by name, id, fingerprint or
    public key file) and recorded policy files embedding it (or unreadable, so possibly embedding it)."""
    listings: list[TrustListing] = []
    path = ctx.paths.config
    if path is not None and Path(path).exists():
        try:
            entries = _config_fingerprints(ctx, Path(path))
        except ConfigError as exc:  # edited into an unreadable state meanwhile: what it trusts is unknown
            listings.append(TrustListing(str(Path(path).resolve()), CONFIG_LABEL, problem=exc.message))
            entries = []
        if key.fingerprint in entries:
            listings.append(TrustListing(str(Path(path).resolve()), CONFIG_LABEL,
                                         names_successor=successor is not None and successor.fingerprint in entries))
    for file in recorded_policy_files(ctx):
        content = read_policy_file(file)
        if content.error:
            listings.append(TrustListing(file, "", problem=content.error))
        for obj in content.objects:
            if key.fingerprint in obj.fingerprints:
                listings.append(TrustListing(file, obj.label, names_successor=successor is not None
                                             and successor.fingerprint in obj.fingerprints))
    return listings


def _config_fingerprints(ctx: SignetContext, path: Path) -> list[str | None]:
    """The fingerprint each `[trust] keys` entry names (None: the entry names no key we can load)."""
    fingerprints: list[str | None] = []
    for ref in config_string_list(path, CONFIG_FIELD):
        try:
            fingerprints.append(resolve_key_reference(ctx, ref)[0].fingerprint)
        except SignetError:  # not a key we know: it cannot be the old key (and verify rejects it anyway)
            fingerprints.append(None)
    return fingerprints
