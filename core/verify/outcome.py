"""What a signature source is given (the image) and what it returns (its checks)."""

from __future__ import annotations

from dataclasses import dataclass

from core.registry.reference import ImageReference
from core.verify.result import SignatureCheck


@dataclass(frozen=True)
class ImageTarget:
    reference: ImageReference  # as the user named it (registry/repository locate the signatures)
    digest: str                # the digest that was resolved and is being verified


@dataclass(frozen=True)
class SourceOutcome:
    found: bool                        # any signature material present for the digest
    checks: tuple[SignatureCheck, ...] = ()
    location: str = ""                 # where it was looked for, for messages ("repo:sha256-….sig")
    transient: bool = False            # a check failed for outside reasons: the image is "error", not "invalid"
