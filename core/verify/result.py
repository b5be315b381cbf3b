"""What a verification says, for one image and for each signature looked at.

`result` is one of:
- `verified`: at least `threshold` distinct trusted keys each signed this exact digest;
- `unsigned`: no signature was found for the digest;
- `invalid`: signatures were found but not enough of them are valid for the trusted keys (each
  `SignatureCheck` says why);
- `error`: the registry, network or a limit failed, so nothing could be decided (fail closed);
- `bypassed`: not verified, but an active bypass covers it (set by sweeps and the gate, never here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RESULTS = ("verified", "unsigned", "invalid", "error", "bypassed")


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

    def __post_init__(self) -> None:
        if self.result not in RESULTS:
            raise ValueError(f"unknown result {self.result}")

    @property
    def verified(self) -> bool:
        return self.result == "verified"

    def as_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "result": self.result,
                "reason": self.reason, "matched_keys": list(self.matched_keys),
                "signatures": [s.as_dict() for s in self.signatures], "duration_ms": round(self.duration_ms, 3),
                "platform_digest": self.platform_digest, "bypass_id": self.bypass_id, "details": self.details}
