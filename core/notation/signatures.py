"""Notation signatures of an image: found as OCI referrers, each checked against the trust policy.

A signature is a manifest whose `subject` is the image and whose artifactType (or, when absent, config
media type) is `application/vnd.cncf.notary.signature`, holding exactly one layer: the envelope, in the
format its media type names. Discovery goes through the registry client's `referrers()` (the referrers
API, else the `sha256-<hex>` tag; for an OCI layout every manifest whose subject is the image, as
notation's OCI store walks them), with the same count and size limits as Sigstore bundles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from core.config.model import LimitsConfig
from core.errors import CheckFailed, DigestMismatch, LimitExceeded, NotFound, SignetError
from core.notation.aws_signer import SignerRevocationClient
from core.notation.cose import parse_cose
from core.notation.envelope import (ENVELOPE_FORMATS, MAX_ENVELOPE_BYTES, MEDIA_TYPE_COSE, Envelope,
                                    TargetArtifact)
from core.notation.jws import parse_jws
from core.notation.trust_policy import TrustPolicy
from core.notation.trust_store import TrustStore
from core.notation.verify import NotationVerdict, verify_envelope
from core.registry.manifest import Manifest
from core.registry.manifest import MANIFEST_TYPES as _MANIFEST_TYPES

ARTIFACT_TYPE = "application/vnd.cncf.notary.signature"


class ReferrerSource(Protocol):
    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]: ...
    def get_manifest(self, repository: str, tag_or_digest: str) -> Manifest: ...
    def get_blob(self, repository: str, digest: str, *, max_bytes: int) -> bytes: ...


@dataclass(frozen=True)
class FoundSignature:
    """One notation signature manifest, its parsed envelope, or why it could not be read."""

    manifest_digest: str
    format: str = ""
    envelope: Envelope | None = None
    error: str = ""
    transient: bool = False  # the registry failed, not the signature


@dataclass(frozen=True)
class CheckedSignature:
    found: FoundSignature
    verdict: NotationVerdict


@dataclass(frozen=True)
class NotationOutcome:
    """Every notation signature of one image and what the applicable statement made of each."""

    found: bool
    statement: str = ""            # the trust policy statement that applied ("" when none)
    skipped: bool = False          # that statement's level is skip: nothing was verified
    reason: str = ""               # why nothing could be checked (no applicable statement, ...)
    checks: tuple[CheckedSignature, ...] = field(default_factory=tuple)
    transient: bool = False

    @property
    def verified_by(self) -> CheckedSignature | None:
        return next((c for c in self.checks if c.verdict.ok), None)


def find_notation_signatures(source: ReferrerSource, repository: str, digest: str, *,
                             limits: LimitsConfig) -> list[FoundSignature]:
    found: list[FoundSignature] = []
    for descriptor in source.referrers(repository, digest):
        if len(found) >= limits.max_signatures:
            break
        ref_digest = str(descriptor.get("digest", ""))
        declared = descriptor.get("artifactType")
        if descriptor.get("mediaType") not in _MANIFEST_TYPES or (isinstance(declared, str)
                                                                  and declared != ARTIFACT_TYPE):
            continue  # the referrers API says what it is; other artifacts are not ours
        try:
            manifest = source.get_manifest(repository, ref_digest)
            doc = manifest.json()
            subject, config = doc.get("subject"), doc.get("config")
            subject = subject if isinstance(subject, dict) else {}
            config = config if isinstance(config, dict) else {}
            kind = doc.get("artifactType") or config.get("mediaType")
            if subject.get("digest") != digest or kind != ARTIFACT_TYPE:
                continue
            found.append(_read_envelope(source, repository, ref_digest, manifest, limits))
        except (CheckFailed, DigestMismatch, LimitExceeded) as exc:
            found.append(FoundSignature(ref_digest, error=str(exc)))
        except NotFound as exc:
            found.append(FoundSignature(ref_digest, error=f"signature content missing: {exc}"))
        except SignetError as exc:
            found.append(FoundSignature(ref_digest, error=f"registry: {exc}", transient=True))
    return sorted(found, key=lambda f: f.manifest_digest)


def _read_envelope(source: ReferrerSource, repository: str, ref_digest: str, manifest: Manifest,
                   limits: LimitsConfig) -> FoundSignature:
    layers = manifest.descriptors("layers", max_count=limits.max_layers)
    if len(layers) != 1:
        raise CheckFailed(f"integrity: a notation signature holds exactly one envelope layer, not {len(layers)}")
    layer = layers[0]
    fmt = ENVELOPE_FORMATS.get(layer.media_type)
    if fmt is None:
        raise CheckFailed(f"integrity: envelope media type {layer.media_type[:80]!r} is neither JWS nor COSE")
    cap = min(MAX_ENVELOPE_BYTES, limits.max_blob_bytes)
    if layer.size > cap:
        raise CheckFailed(f"integrity: envelope of {layer.size} bytes (at most {cap})")
    blob = source.get_blob(repository, layer.digest, max_bytes=layer.size)
    envelope = parse_cose(blob) if layer.media_type == MEDIA_TYPE_COSE else parse_jws(blob)
    return FoundSignature(ref_digest, format=fmt, envelope=envelope)


def check_notation_signatures(found: list[FoundSignature], image: TargetArtifact, scope: str | None,
                              policy: TrustPolicy, store: TrustStore, now: datetime,
                              signer_client: SignerRevocationClient | None = None) -> NotationOutcome:
    """notation's decision: the applicable statement, then each signature in turn."""
    statement = policy.statement_for(scope) if scope else policy.statement_for("*")
    if statement is None:
        why = (f"no applicable trust policy statement for {scope}" if scope
               else "no registry scope for this image and no '*' statement in the trust policy")
        return NotationOutcome(found=bool(found), reason=f"{why} ({policy.path})")
    if statement.level == "skip":
        return NotationOutcome(found=bool(found), statement=statement.name, skipped=True,
                               reason=f"trust policy statement {statement.name!r} skips signature verification")
    checks = []
    for item in found:
        if item.envelope is None:
            reason = item.error if item.error.startswith("integrity") else f"integrity: {item.error}"
            verdict = NotationVerdict(False, reason, "integrity", statement=statement.name)
        else:
            try:
                verdict = verify_envelope(item.envelope, image, statement, store, now, signer_client)
            except CheckFailed as exc:  # a malformed certificate deep in a check
                verdict = NotationVerdict(False, f"integrity: {exc}", "integrity", statement=statement.name)
        checks.append(CheckedSignature(item, verdict))
    return NotationOutcome(found=bool(found), statement=statement.name, checks=tuple(checks),
                           transient=any(f.transient for f in found),
                           reason="" if found else "no notation signature found")
