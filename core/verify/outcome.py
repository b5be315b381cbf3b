"""What a signature source is given (the image, the trust) and what it returns (its checks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.registry.reference import ImageReference
from core.sigstore.verifier import SigstoreTrust
from core.verify.policy import TrustPolicy
from core.verify.result import SignatureCheck
from core.verify.session import VerifySession


@dataclass(frozen=True)
class ImageTarget:
    reference: ImageReference  # as the user named it (registry/repository locate the signatures)
    digest: str                # the digest that was resolved and is being verified
    media_type: str = ""       # of that manifest, and its size: Notary Project payloads name all three
    size: int = -1


@dataclass(frozen=True)
class SourceOutcome:
    found: bool                        # any signature material present for the digest
    checks: tuple[SignatureCheck, ...] = ()
    location: str = ""                 # where it was looked for, for messages ("repo:sha256-….sig")
    transient: bool = False            # a check failed for outside reasons: the image is "error", not "invalid"
    note: str = ""                     # signatures exist that the policy does not cover (said when "unsigned")


class SignatureSource(Protocol):
    """Finds one kind of signature for an image digest and checks it. `sigstore` is the Verifier's
    Sigstore trust (None for a key-only policy: plain key checks)."""

    def __call__(self, session: VerifySession, image: ImageTarget, policy: TrustPolicy,
                 sigstore: SigstoreTrust | None) -> SourceOutcome: ...
