"""Sigstore bundles attached to an image as OCI 1.1 referrers (cosign-formats.md §3.4-§3.5), and the
signature source the Verifier counts them with (the checks themselves are core/sigstore's).

Discovery goes through the registry client's `referrers()` (the referrers API, else the
`sha256-<hex>` fallback tag). The index is only a list of manifest digests: its artifactType and
annotations are not trusted (old fallback indexes lack them, a registry could lie). Each listed
manifest is opened by digest, must name the image as its `subject`, and must hold exactly one
bundle layer; anything else listed there (SBOMs pushed by other tools, …) is not ours and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.config.model import LimitsConfig
from core.errors import CheckFailed, DigestMismatch, LimitExceeded, NotFound, RegistryError, SignetError
from core.registry.client import RegistrySource
from core.sigstore.attestation import COSIGN_SIGN_PREDICATE, parse_statement
from core.sigstore.bundle import MAX_BUNDLE_BYTES, MEDIA_TYPE_PREFIX, Bundle, parse_bundle
from core.sigstore.verifier import SigstoreTrust, VerifiedSignature, verify_bundle
from core.verify.outcome import ImageTarget, SourceOutcome
from core.verify.policy import TrustPolicy
from core.verify.result import SignatureCheck
from core.verify.session import VerifySession

SOURCE = "sigstore-bundle"
MANIFEST_TYPES = frozenset({"application/vnd.oci.image.manifest.v1+json"})


@dataclass(frozen=True)
class FoundBundle:
    """One referrer that holds a Sigstore bundle, or why it could not be read."""

    index: int
    manifest_digest: str
    bundle: Bundle | None = None
    error: str = ""
    transient: bool = False  # the registry failed, not the bundle

    def is_signature(self) -> bool:
        """Message signatures, and DSSE statements of cosign's signature type; other attestations
        (SBOM, provenance) never make an image "signed". Unreadable bundles count as candidates so
        a broken signature is reported, not mistaken for no signature."""
        if self.bundle is None or self.bundle.envelope is None:
            return True
        try:
            return parse_statement(self.bundle.envelope.payload).predicate_type == COSIGN_SIGN_PREDICATE
        except CheckFailed:
            return True


def find_bundles(source: RegistrySource, repository: str, digest: str, *, limits: LimitsConfig) -> list[FoundBundle]:
    found: list[FoundBundle] = []
    for index, descriptor in enumerate(source.referrers(repository, digest)):
        ref_digest = str(descriptor.get("digest", ""))
        if not isinstance(descriptor.get("mediaType"), str) or descriptor["mediaType"] not in MANIFEST_TYPES:
            continue
        try:
            manifest = source.get_manifest(repository, ref_digest)
            doc = manifest.json()
            claimed = doc.get("subject")
            subject = claimed if isinstance(claimed, dict) else {}
            if subject.get("digest") != digest:
                continue  # listed for this digest, but is not about it
            layers = [layer for layer in manifest.descriptors("layers", max_count=limits.max_layers)
                      if layer.media_type.startswith(MEDIA_TYPE_PREFIX)]
            if not layers:
                continue
            if len(layers) != 1:
                raise CheckFailed(f"{len(layers)} bundle layers in one referrer; exactly one expected")
            cap = min(MAX_BUNDLE_BYTES, limits.max_blob_bytes)
            if layers[0].size > cap:
                raise CheckFailed(f"limit exceeded: bundle of {layers[0].size} bytes (at most {cap})")
            blob = source.get_blob(repository, layers[0].digest, max_bytes=layers[0].size)
            found.append(FoundBundle(index, ref_digest, bundle=parse_bundle(blob)))
        except (CheckFailed, DigestMismatch, LimitExceeded) as exc:
            found.append(FoundBundle(index, ref_digest, error=str(exc)))
        except NotFound as exc:
            found.append(FoundBundle(index, ref_digest, error=f"referrer content missing: {exc}"))
        except SignetError as exc:
            found.append(FoundBundle(index, ref_digest, error=f"registry: {exc}", transient=True))
    return found


def check_sigstore_bundles(session: VerifySession, image: ImageTarget, policy: TrustPolicy,
                           sigstore: SigstoreTrust | None) -> SourceOutcome:
    """Signature source for the Verifier: every bundle signature referring to the image digest."""
    if sigstore is None:
        return SourceOutcome(found=False, location="referrers (not consulted: no trusted root or identity)")
    location = f"{image.reference.name}@{image.digest[:19]}… referrers"
    source = session.source_for(image.reference)
    try:
        found = [b for b in find_bundles(source, image.reference.repository, image.digest, limits=session.limits)
                 if b.is_signature()]
    except RegistryError as exc:
        check = SignatureCheck(SOURCE, 0, False, f"referrers could not be listed: {exc}")
        return SourceOutcome(found=True, checks=(check,), location=location, transient=True)
    now = session.ctx.clock()
    checks: list[SignatureCheck] = []
    for item in found[:session.limits.max_signatures]:
        details: dict[str, Any] = {"referrer": item.manifest_digest}
        if item.bundle is None:
            checks.append(SignatureCheck(SOURCE, item.index, False, item.error, details=details))
            continue
        key = (SOURCE, image.digest, item.manifest_digest, policy.fingerprint)
        cached: SignatureCheck | None = session.cache.verdicts.get(key)
        if cached is None:
            cached = _check(item, item.bundle, image.digest, policy, sigstore, now, details)
            session.cache.verdicts.put(key, cached)
        checks.append(cached)
    return SourceOutcome(found=bool(found), checks=tuple(checks), location=location,
                         transient=any(b.transient for b in found))


def _check(item: FoundBundle, bundle: Bundle, digest: str, policy: TrustPolicy, trust: SigstoreTrust, now: datetime,
           details: dict[str, Any]) -> SignatureCheck:
    try:
        verified: VerifiedSignature = verify_bundle(bundle, digest=digest, trust=trust, now=now)
        _check_claims(verified, digest, policy)
    except CheckFailed as exc:
        return SignatureCheck(SOURCE, item.index, False, str(exc), details=details)
    return SignatureCheck(SOURCE, item.index, True, "", key_fingerprint=verified.key_fingerprint,
                          identity=verified.identity or None, issuer=verified.issuer or None,
                          details={**details, "tlog_indexes": list(verified.tlog_indexes),
                                   "signed_at": [t.isoformat() for t in verified.signed_at]})


def _check_claims(verified: VerifiedSignature, digest: str, policy: TrustPolicy) -> None:
    """On the verified statement: cosign's signature type, and the `-a key=value` annotations the
    policy requires (cosign v3 puts them on the subject). A message signature carries no claims, so
    it cannot satisfy required annotations."""
    statement = verified.statement
    if statement is not None and statement.predicate_type != COSIGN_SIGN_PREDICATE:
        raise CheckFailed(f"predicate type {statement.predicate_type[:120]} is not a cosign signature")
    if not policy.annotations:
        return
    subjects = statement.subjects_for(digest) if statement is not None else ()
    for key, wanted in policy.annotations.items():
        if not any(subject.annotations.get(key) == wanted for subject in subjects):
            raise CheckFailed(f"missing annotation {key}={wanted}")
