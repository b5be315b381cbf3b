"""The rotation's re-sign step: carry the old key's signatures over to the new key, and nothing else.

A rotation must never turn an unsigned, tampered or foreign-signed image into a signed one:
* the plan (`plan_resign`) checks every in-use digest (core/keys/in_use.py) through the verification
  service with the policy `signet verify --key OLD` uses. A digest is carried over only when a
  signature by the old key itself verifies for it; every other digest is "not carried over", with why.
* the plan is shown and confirmed before anything is signed. Only digests of the confirmed plan are
  signed, by digest (repository@sha256:..., never a tag, so a tag moved meanwhile cannot bring another
  image in), and each is checked again under the old key just before its signature: a stale plan, a
  kill and resume, or an old signature deleted since the plan cannot get an unverified digest signed.
* each new signature records the old signature(s) it carries over (its history row and audit entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from core.context import SignetContext
from core.errors import InvalidState, SignetError
from core.keys.in_use import in_use_images
from core.keys.inventory import KeyRecord
from core.rotation.key_policy import fresh_key_verifier, single_key_verifier
from core.registry.reference import parse_reference
from core.sign.service import Signer, sign_image
from core.verify.result import VerificationResult
from core.verify.service import verify_images

MAX_LISTED = 200   # items named per list in step details and audit; counts are always exact
MAX_REASON = 300
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ResignItem:
    reference: str                              # repository@digest: what is checked and signed
    digest: str
    reason: str                                 # the old-key verdict: why it is, or is not, carried over
    old_signatures: tuple[dict[str, Any], ...] = ()  # the old key's verified signatures (empty: not carried)
    already_carried: bool = False               # the new key signed it already (a resumed run)

    def as_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "reason": self.reason,
                "old_signatures": list(self.old_signatures), "already_carried": self.already_carried}


@dataclass(frozen=True)
class ResignPlan:
    """What the re-sign step will sign (`carry`) and will not (`skip`), to be shown and confirmed."""

    rotation_id: str
    old_key: KeyRecord
    new_key: KeyRecord
    in_use: int
    carry: tuple[ResignItem, ...]
    skip: tuple[ResignItem, ...]

    @property
    def to_sign(self) -> int:
        return sum(1 for item in self.carry if not item.already_carried)

    def lines(self, rows: int = 5) -> list[str]:
        """The plan for people: counts, then the first `rows` of each list (outside text: make it safe)."""
        old, new = self.old_key.name, self.new_key.name
        already = len(self.carry) - self.to_sign
        out = [f"{len(self.carry)} of {self.in_use} in-use image(s) verify under the old key {old}: their signature "
               f"is carried over to {new}" + (f" ({already} already carried)" if already else "")]
        out += [f"  carry  {item.reference}  (old signature {_signature_name(item)})" for item in self.carry[:rows]]
        if len(self.carry) > rows:
            out.append(f"  ... and {len(self.carry) - rows} more")
        out.append(f"{len(self.skip)} image(s) NOT carried over (they do not verify under {old}; nothing is signed):")
        out += [f"  skip   {item.reference}  {item.reason}" for item in self.skip[:rows]]
        if len(self.skip) > rows:
            out.append(f"  ... and {len(self.skip) - rows} more")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"rotation": self.rotation_id, "old_key": self.old_key.id, "new_key": self.new_key.id,
                "in_use": self.in_use, "carry": [i.as_dict() for i in self.carry],
                "skip": [i.as_dict() for i in self.skip]}


@dataclass(frozen=True)
class ResignOutcome:
    """What the step did; `as_details()` is what the rotation records."""

    in_use: int
    carried: tuple[dict[str, Any], ...]   # {reference, digest, old_signatures, signature_manifest | already}
    not_carried: dict[str, str]           # reference -> why
    failures: dict[str, str]              # verified under the old key but signing failed: reference -> why
    changed: dict[str, str] = field(default_factory=dict)  # in the confirmed plan, no longer verifying: -> why

    def as_details(self) -> dict[str, Any]:
        return {"in_use": self.in_use, "verified_under_old": len(self.carried) + len(self.failures),
                "carried_over": len(self.carried), "signed": sum(1 for c in self.carried if not c.get("already")),
                "already_carried": sum(1 for c in self.carried if c.get("already")),
                "not_carried_over": len(self.not_carried), "failed": len(self.failures),
                "changed_since_plan": dict(sorted(self.changed.items())[:MAX_LISTED]),
                "carried": list(self.carried[:MAX_LISTED]),
                "not_carried": dict(sorted(self.not_carried.items())[:MAX_LISTED]),
                "failures": dict(sorted(self.failures.items())[:MAX_LISTED])}


def old_key_verdicts(ctx: SignetContext, old: KeyRecord, refs: Sequence[str], *, allow_http: bool,
                     progress: Progress | None = None) -> list[VerificationResult]:
    """The one place rotation asks "does this digest verify under the old key, now?": the verification
    service, with the policy `signet verify --key OLD` uses."""
    if not refs:
        return []
    verifier = single_key_verifier(ctx, old, refs)
    return verify_images(ctx, refs, verifier, source="rotation", record=False, allow_http=allow_http,
                         progress=progress)


def old_signatures(result: VerificationResult, old: KeyRecord) -> tuple[dict[str, Any], ...]:
    """The old key's own signatures that verified for the digest (empty: the digest is not carried over).
    A verdict reached any other way (another key, an identity) does not count."""
    if result.result != "verified" or old.fingerprint not in result.matched_keys:
        return ()
    return tuple({"source": c.source, "index": c.index,
                  **{k: v for k, v in c.details.items() if k in ("layer_digest", "referrer")}}
                 for c in result.signatures if c.ok and c.key_fingerprint == old.fingerprint)


def plan_resign(ctx: SignetContext, rotation_id: str, old: KeyRecord, new: KeyRecord, *, allow_http: bool = False,
                progress: Progress | None = None) -> ResignPlan:
    """Read-only: which in-use digests verify under the old key now (carried over), which do not, and why."""
    refs = [image.reference for image in in_use_images(ctx)]
    verdicts = old_key_verdicts(ctx, old, refs, allow_http=allow_http, progress=progress)
    carry_refs = [ref for ref, result in zip(refs, verdicts, strict=True) if old_signatures(result, old)]
    on_new = verify_images(ctx, carry_refs, fresh_key_verifier(ctx, [new], carry_refs), source="rotation",
                           record=False, allow_http=allow_http) if carry_refs else []
    signed_by_new = {ref for ref, result in zip(carry_refs, on_new, strict=True) if result.verified}
    carry: list[ResignItem] = []
    skip: list[ResignItem] = []
    for ref, result in zip(refs, verdicts, strict=True):
        sigs = old_signatures(result, old)
        item = ResignItem(reference=ref, digest=ref.rsplit("@", 1)[1], reason=_verdict(result, old),
                          old_signatures=sigs, already_carried=ref in signed_by_new)
        (carry if sigs else skip).append(item)
    return ResignPlan(rotation_id=rotation_id, old_key=old, new_key=new, in_use=len(refs), carry=tuple(carry),
                      skip=tuple(skip))


def carry_over(ctx: SignetContext, plan: ResignPlan, signer_for_new: Callable[[], Signer], *, allow_http: bool,
               progress: Progress | None = None) -> ResignOutcome:
    """Sign, with the new key, the digests of the confirmed `plan` that still verify under the old key.

    `signer_for_new` is called once, before the first signature (and not at all when nothing needs one).
    """
    old, new = plan.old_key, plan.new_key
    carried: list[dict[str, Any]] = []
    not_carried = {item.reference: item.reason for item in plan.skip}
    failures: dict[str, str] = {}
    changed: dict[str, str] = {}
    signer: Signer | None = None
    for done, item in enumerate(plan.carry, start=1):
        # Checked again now, for this digest alone: only what verifies under the old key is ever signed.
        recheck = old_key_verdicts(ctx, old, [item.reference], allow_http=allow_http)[0]
        sigs = old_signatures(recheck, old)
        if not sigs or recheck.digest != item.digest:
            changed[item.reference] = not_carried[item.reference] = \
                f"no longer verifies under {old.name}: {_verdict(recheck, old)}"
        elif item.already_carried:
            carried.append({"reference": item.reference, "digest": item.digest, "old_signatures": list(sigs),
                            "already": True})
        else:
            if signer is None:
                signer = signer_for_new()
                if signer.fingerprint != new.fingerprint:
                    raise InvalidState(f"the signer given is not the new key {new.name}")
            provenance = {"rotation": plan.rotation_id, "carried_over_from": old.fingerprint,
                          "old_signatures": list(sigs)}
            try:
                signed = sign_image(ctx, parse_reference(item.reference, default_tag=None), signer,
                                    allow_http=allow_http, provenance=provenance)
                if signed.digest != item.digest or not signed.verification.verified:
                    raise InvalidState(f"read-back under {new.name}: {signed.verification.result}: "
                                       f"{signed.verification.reason}")
                carried.append({"reference": item.reference, "digest": item.digest, "old_signatures": list(sigs),
                                "signature_manifest": signed.signature_manifest_digest})
            except SignetError as exc:  # one registry failing does not stop the others; soak counts it
                failures[item.reference] = str(exc)[:MAX_REASON]
        if progress is not None:
            progress(done, len(plan.carry))
    return ResignOutcome(in_use=plan.in_use, carried=tuple(carried), not_carried=not_carried, failures=failures,
                         changed=changed)


def resign_warnings(details: dict[str, Any], old_name: str) -> list[str]:
    """One line per image the confirmed plan would have signed and the step did not: it changed since
    the plan (no longer verifies under the old key) or its signing failed. From a step's `resign` details."""
    return ([f"{ref}: changed since the re-sign plan, not signed ({why})"
             for ref, why in (details.get("changed_since_plan") or {}).items()]
            + [f"{ref}: verified under {old_name} but signing failed ({why})"
               for ref, why in (details.get("failures") or {}).items()])


def _verdict(result: VerificationResult, old: KeyRecord) -> str:
    if result.verified and not old_signatures(result, old):
        return f"verified, but not by a signature of {old.name}"
    return f"{result.result}: {result.reason}"[:MAX_REASON]


def _signature_name(item: ResignItem) -> str:
    first = item.old_signatures[0] if item.old_signatures else {}
    name = first.get("layer_digest") or first.get("referrer") or ""
    return f"{first.get('source', '')} {name[:19]}".strip()
