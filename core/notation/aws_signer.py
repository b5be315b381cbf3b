"""AWS Signer's Notary Project signatures: what its notation plugin (aws/aws-signer-notation-plugin) adds
to notation's checks, done here so no plugin binary is needed.

- Scheme `notary.x509.signingAuthority`; the chain ends in an AWS Signer root the user puts in a
  `signingAuthority:` trust store (Signet ships none).
- Trusted identities are signing-profile ARNs (`arn:aws:signer:REGION:ACCOUNT:/signing-profiles/NAME`,
  which trusts every version) or profile-version ARNs (`.../NAME/VERSION`), alias ARNs
  (`.../aliases/NAME`); matched case-insensitively against the signed
  `com.amazonaws.signer.signingProfileVersion` (or `signingProfileAlias`). A wildcard is refused, as the
  plugin refuses it.
- Revocation is asked of `signer:GetRevocationStatus` (job, profile version, signing time and the
  certificate hashes below). Without an answer (offline, no credentials, an error) the status is unknown.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography import x509

from core.notation.envelope import (AWS_PLUGIN, AWS_PROFILE_ALIAS, AWS_PROFILE_VERSION, AWS_SIGNING_JOB,
                                    VERIFICATION_PLUGIN, Envelope)

PLATFORM = "Notation-OCI-SHA384-ECDSA"
WILDCARD_REFUSED = "AWS Signer signatures need signing-profile ARNs as trusted identities; '*' is refused"


class SignerRevocationClient(Protocol):
    """The part of boto3's `signer` client used here."""

    def get_revocation_status(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SignerArn:
    text: str
    kind: str  # profile | profile-version | alias | aliased-profile


def parse_signer_arn(text: str) -> SignerArn | None:
    """A signer ARN Signet can match, else None (wildcards are never a valid ARN here)."""
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1].startswith("aws") or parts[2] != "signer" or "*" in text:
        return None
    resource = parts[5]
    segments = resource.split("/")
    if resource.startswith("/aliases/") and len(segments) == 3 and segments[2]:
        return SignerArn(text, "alias")
    if resource.startswith("/aliased-signing-profiles/"):
        return SignerArn(text, "aliased-profile")
    if resource.startswith("/signing-profiles/") and len(segments) in (3, 4) and all(segments[2:]):
        return SignerArn(text, "profile" if len(segments) == 3 else "profile-version")
    return None


def is_aws_signed(env: Envelope) -> bool:
    return env.extended.get(VERIFICATION_PLUGIN) == AWS_PLUGIN or AWS_PROFILE_VERSION in env.extended


def identity_matches(env: Envelope, identities: tuple[SignerArn, ...]) -> str | None:
    """The trusted identity the signature's profile matches, else None (the plugin's rules)."""
    version = env.extended.get(AWS_PROFILE_VERSION, "")
    alias = env.extended.get(AWS_PROFILE_ALIAS, "")
    for identity in identities:
        wanted = identity.text.lower()
        if identity.kind == "alias":
            hit = bool(alias) and alias.lower() == wanted
        elif identity.kind == "profile":
            hit = "/" in version and version.rsplit("/", 1)[0].lower() == wanted
        else:
            hit = version.lower() == wanted
        if hit:
            return identity.text
    return None


def certificate_hashes(chain: tuple[x509.Certificate, ...]) -> list[str]:
    """Each certificate's SHA-384 TBS hash followed by its issuer's (the root pairs with itself)."""
    hashes = [hashlib.sha384(cert.tbs_certificate_bytes).hexdigest() for cert in chain]
    return [h + (hashes[i + 1] if i + 1 < len(hashes) else h) for i, h in enumerate(hashes)]


class RegionalSignerClients:
    """GetRevocationStatus asked in the region of each signature's signing profile (a signer ARN names
    it); one client per region, made by `make_client(region)` on first use."""

    def __init__(self, make_client: Any) -> None:
        self._make = make_client
        self._clients: dict[str, SignerRevocationClient] = {}

    def get_revocation_status(self, **kwargs: Any) -> dict[str, Any]:
        parts = str(kwargs.get("profileVersionArn", "")).split(":")
        region = parts[3] if len(parts) > 3 else ""
        if region not in self._clients:
            self._clients[region] = self._make(region or None)
        return self._clients[region].get_revocation_status(**kwargs)


def revocation_status(client: SignerRevocationClient, env: Envelope) -> tuple[bool | None, str]:
    """(True, why) revoked, (False, "") not revoked, (None, why) unknown."""
    job, version = env.extended.get(AWS_SIGNING_JOB), env.extended.get(AWS_PROFILE_VERSION)
    if not job or not version or env.authentic_signing_time is None:
        return None, "the signature lacks the signing job, profile version or authentic signing time"
    try:
        answer = client.get_revocation_status(
            signatureTimestamp=env.authentic_signing_time, platformId=PLATFORM, profileVersionArn=version,
            jobArn=job, certificateHashes=certificate_hashes(env.chain))
    except Exception as exc:  # botocore raises many kinds; any failure means "not known", never "fine"
        return None, f"signer:GetRevocationStatus failed: {type(exc).__name__}: {str(exc)[:160]}"
    revoked = [str(e) for e in answer.get("revokedEntities") or []]
    if not revoked:
        return False, ""
    resources = [e for e in revoked if e.startswith("arn")]
    certs = len(revoked) - len(resources)
    return True, "revoked: " + ", ".join(resources[:3] + ([f"{certs} certificate(s)"] if certs else []))
