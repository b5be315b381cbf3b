"""Emergency revocation of a compromised key: no soak, no waiting.

Order matters: first the key is revoked and the policy files rewritten without it (one transaction,
so signing and trust stop together), open rotations involving it are aborted, then its private
material is destroyed, and only then is the exposure measured: every in-use image that no other
trusted key vouches for but the compromised key does ("signed only by that key"). Those images need
re-signing with a trusted key, or a bypass, before verifiers that dropped the key reject them.
Unlike the rotation's revoke step, nothing that still names the key blocks this: the report lists
those places (`[trust] keys`, recorded policy files) so they get fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from core.context import SignetContext
from core.errors import InputError, InvalidState, SignetError
from core.identity import Role
from core.keys.custody import destroy_private_key
from core.keys.in_use import in_use_images
from core.keys.inventory import TRUSTED_STATES, KeyRecord, find_key, list_keys, set_key_state, set_trusted_by
from core.rotation.key_policy import fresh_key_verifier
from core.rotation.publish import (
    DEFAULT_IMAGE_GLOBS,
    KYVERNO_FILE,
    SIGSTORE_FILE,
    PublishHook,
    default_policy_dir,
    file_verifiers,
    publish_policies,
)
from core.rotation.resign import Progress
from core.rotation.rotation import MAX_REASON_LEN, abort_rotations_of
from core.rotation.trust_config import TrustListing, trust_listings
from core.policy.files import forget_policy_file
from core.verify.service import verify_images


@dataclass(frozen=True)
class EmergencyRevocation:
    key: KeyRecord
    reason: str
    aborted_rotations: tuple[str, ...]
    policy_files: tuple[str, ...]
    destroyed: str
    in_use: int
    signed_only_by_revoked: tuple[str, ...]   # in-use images no remaining trusted key verifies, the revoked one does
    unverified: tuple[str, ...]               # in-use images no key verifies at all (already failing)
    still_trusted_in: tuple[TrustListing, ...] = ()  # [trust] keys / recorded policy files still naming the key

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key.as_dict(), "reason": self.reason, "aborted_rotations": list(self.aborted_rotations),
                "policy_files": list(self.policy_files), "destroyed": self.destroyed, "in_use": self.in_use,
                "signed_only_by_revoked": list(self.signed_only_by_revoked), "unverified": list(self.unverified),
                "still_trusted_in": [listing.as_dict() | {"message": listing.describe(self.key, None)}
                                     for listing in self.still_trusted_in]}


def emergency_revoke(ctx: SignetContext, key_ref: str, *, reason: str, policy_dir: Path | None = None,
                     image_globs: Sequence[str] = DEFAULT_IMAGE_GLOBS, publish_hook: PublishHook | None = None,
                     progress: Progress | None = None, allow_http: bool = False) -> EmergencyRevocation:
    ctx.require_write(Role.CUSTODIAN, action="emergency key revocation")
    reason = reason.strip()
    if not reason:
        raise InputError("an emergency revocation needs a reason")
    key = find_key(ctx, key_ref)
    if key.state == "revoked":
        raise InvalidState(f"key {key.name} is already revoked")
    directory = Path(policy_dir) if policy_dir else default_policy_dir(ctx)
    files: tuple[str, ...] = ()
    documents: tuple[dict[str, Any], ...] = ()
    with ctx.store.write() as db:
        key = set_key_state(ctx, db, key.id, "revoked", {"emergency": True, "reason": reason[:MAX_REASON_LEN]})
        aborted = abort_rotations_of(ctx, db, key.id, f"key {key.name} revoked in an emergency: {reason}")
        if any(k.state in TRUSTED_STATES for k in list_keys(ctx)):
            published = publish_policies(ctx, db, directory=directory, image_globs=image_globs,
                                         source=f"emergency revocation of {key.name}")
            files, documents = published.files, published.documents
        else:
            # No key is left to trust: stale files must not keep trusting the revoked key.
            for name in (KYVERNO_FILE, SIGSTORE_FILE):
                (directory / name).unlink(missing_ok=True)
                forget_policy_file(db, directory / name)
            set_trusted_by(db, key.id, sorted(set(key.trusted_by) - set(file_verifiers(ctx))))
        ctx.audit("key.revoke.emergency", key.id, {"fingerprint": key.fingerprint, "reason": reason[:MAX_REASON_LEN],
                                                   "aborted_rotations": aborted, "policy_files": list(files)})
    if publish_hook is not None and documents:
        publish_hook(documents)
    destroyed = _destroy(ctx, key)
    # Break-glass: the key is revoked whatever still names it; say where, so those files get fixed.
    still_trusted_in = tuple(trust_listings(ctx, key, None))
    refs = [image.reference for image in in_use_images(ctx)]
    others = list_keys(ctx, states=TRUSTED_STATES)
    covered = set()
    if refs and others:
        results = verify_images(ctx, refs, fresh_key_verifier(ctx, others, refs), source="rotation", record=False,
                                allow_http=allow_http, progress=progress)
        covered = {ref for ref, result in zip(refs, results, strict=True) if result.result == "verified"}
    rest = [ref for ref in refs if ref not in covered]
    only_revoked: list[str] = []
    if rest:
        results = verify_images(ctx, rest, fresh_key_verifier(ctx, [key], rest), source="rotation", record=False,
                                allow_http=allow_http)
        only_revoked = [ref for ref, result in zip(rest, results, strict=True) if result.result == "verified"]
    return EmergencyRevocation(key=key, reason=reason, aborted_rotations=tuple(aborted), policy_files=files,
                               destroyed=destroyed, in_use=len(refs), signed_only_by_revoked=tuple(only_revoked),
                               unverified=tuple(ref for ref in rest if ref not in set(only_revoked)),
                               still_trusted_in=still_trusted_in)


def _destroy(ctx: SignetContext, key: KeyRecord) -> str:
    # The key is already revoked and untrusted; failing to delete a copy must be reported, not hide the report.
    try:
        return destroy_private_key(ctx, key)
    except SignetError as exc:
        return f"NOT destroyed: {exc}"
