"""What a verification says, for one image and for each signature looked at.

`result` is one of core/results.py's RESULTS (`verified`, `unsigned`, `invalid` — each
`SignatureCheck` says why —, `error`); `bypassed` is set where a bypass applies (core/bypass/coverage.py),
never by a verification.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.results import RESULTS, VERIFIED
from core.verify.platforms import PlatformVerdict


@dataclass(frozen=True)
class SignatureCheck:
    """One signature (a `.sig` layer, a bundle) and what checking it against the policy found."""

    source: str            # "cosign-sig" (classic .sig tag layer); other sources add their own names
    index: int             # position within its source (layer index)
    ok: bool
    reason: str            # empty when ok; else why this signature does not count
    key_fingerprint: str | None = None  # the trusted key that verified it (sha256 of DER SPKI)
    identity: str | None = None         # keyless: certificate identity (SAN)
    issuer: str | None = None           # keyless: OIDC issuer
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "index": self.index, "ok": self.ok, "reason": self.reason,
                "key_fingerprint": self.key_fingerprint, "identity": self.identity, "issuer": self.issuer,
                "details": self.details}


@dataclass(frozen=True)
class VerificationResult:
    reference: str
    digest: str | None
    result: str
    reason: str
    matched_keys: tuple[str, ...] = ()
    signatures: tuple[SignatureCheck, ...] = ()
    duration_ms: float = 0.0
    platform_digest: str | None = None
    bypass_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    platforms: tuple[PlatformVerdict, ...] = ()  # an index's children, when asked for (verify_images platforms=)

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"unknown result {self.result}")

    @property
    def verified(self) -> bool:
        return self.result == VERIFIED

    def as_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "result": self.result,
                "reason": self.reason, "matched_keys": list(self.matched_keys),
                "signatures": [s.as_dict() for s in self.signatures], "duration_ms": round(self.duration_ms, 3),
                "platform_digest": self.platform_digest, "bypass_id": self.bypass_id, "details": self.details,
                "platforms": [p.as_dict() for p in self.platforms]}
