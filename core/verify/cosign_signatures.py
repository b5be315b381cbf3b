"""Classic cosign signatures: the `sha256-<hex>.sig` manifest, one simple-signing layer per signature.

Per layer, in cosign's order: media type, signature annotation, payload size cap, payload blob
(digest-checked), signature over the exact payload bytes with each trusted key, then the claims
(strict JSON, `critical.type`, `docker-manifest-digest` == the digest being verified, required
`optional` annotations). Limits (cosign-formats.md §7): a manifest with more than `max_layers`
layers is an error; at most `max_signatures` layers are read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Hashable

from core.crypto.public_keys import verify_signature
from core.errors import CheckFailed, DigestMismatch, LimitExceeded, NotFound, RegistryError, SignetError
from core.registry.cache import CachedSource, RegistryCache, source_key
from core.registry.manifest import Descriptor
from core.registry.reference import ImageReference
from core.sigstore.encoding import b64
from core.sigstore.verifier import SigstoreTrust, verify_cosign_signature
from core.verify.outcome import ImageTarget, SourceOutcome
from core.verify.policy import TrustPolicy
from core.verify.result import SignatureCheck
from core.verify.session import VerifySession
from core.verify.simple_signing import SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, parse_payload

SOURCE = "cosign-sig"


def signature_tag(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}-{hexpart}.sig"


def signature_repository(reference: ImageReference, policy: TrustPolicy) -> ImageReference:
    """Where the `.sig` lives: the policy's signature repository (COSIGN_REPOSITORY), else the image's."""
    return policy.signature_repository or reference


def _verdict_key(image: ImageTarget, signature_manifest_digest: str, policy: TrustPolicy) -> tuple[Hashable, ...]:
    return (SOURCE, image.digest, signature_manifest_digest, policy.fingerprint)


def cached_cosign_signatures(cache: RegistryCache, image: ImageTarget, policy: TrustPolicy) -> SourceOutcome | None:
    """The outcome `check_cosign_signatures` would return, if the cache alone can tell (no I/O)."""
    sig_ref = signature_repository(image.reference, policy)
    sig_digest = cache.tags.get((source_key(sig_ref), sig_ref.repository, signature_tag(image.digest)), None)
    if not sig_digest:
        return None
    outcome: SourceOutcome | None = cache.verdicts.get(_verdict_key(image, sig_digest, policy))
    return outcome


def check_cosign_signatures(session: VerifySession, image: ImageTarget, policy: TrustPolicy,
                            sigstore: SigstoreTrust | None) -> SourceOutcome:
    sig_ref = signature_repository(image.reference, policy)
    source = session.source_for(sig_ref)
    tag = signature_tag(image.digest)
    location = f"{sig_ref.name}:{tag}"
    try:
        manifest = source.get_manifest(sig_ref.repository, tag)
    except NotFound:
        return SourceOutcome(found=False, location=location)
    verdict_key = _verdict_key(image, manifest.digest, policy)
    cached: SourceOutcome | None = session.cache.verdicts.get(verdict_key)
    if cached is not None:
        return cached
    limits = session.limits
    # Keyless / Rekor-bound signatures go through core/sigstore (certificate, chain, log entry).
    at = (sigstore, session.ctx.clock()) if sigstore is not None else None
    layers = manifest.descriptors("layers", max_count=limits.max_layers)
    checks: list[SignatureCheck] = []
    transient = False
    for index, layer in enumerate(layers):
        if index >= limits.max_signatures:
            checks.append(SignatureCheck(SOURCE, index, False, f"not read: only the first {limits.max_signatures} "
                                         f"of {len(layers)} signatures are considered (limit max_signatures)"))
            break
        check, outside_failure = _check_layer(source, sig_ref.repository, index, layer, image.digest, policy,
                                              limits.max_payload_bytes, at)
        checks.append(check)
        transient = transient or outside_failure
    outcome = SourceOutcome(found=bool(layers), checks=tuple(checks), location=location, transient=transient)
    if not transient:
        session.cache.verdicts.put(verdict_key, outcome)
    return outcome


def _check_layer(source: CachedSource, repository: str, index: int, layer: Descriptor, digest: str,
                 policy: TrustPolicy, max_payload: int,
                 sigstore: tuple[SigstoreTrust, datetime] | None = None) -> tuple[SignatureCheck, bool]:
    """(check, failed-for-outside-reasons). `sigstore`: trust and time for keyless/Rekor checks."""

    def fail(reason: str, *, fingerprint: str | None = None, outside: bool = False) -> tuple[SignatureCheck, bool]:
        return SignatureCheck(SOURCE, index, False, reason, key_fingerprint=fingerprint,
                              details={"layer_digest": layer.digest}), outside

    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE:
        return fail(f"not a cosign signature layer (media type '{layer.media_type[:80]}')")
    encoded = layer.annotations.get(SIGNATURE_ANNOTATION, "")
    if not encoded:
        return fail(f"no {SIGNATURE_ANNOTATION} annotation")
    try:
        signature = b64(encoded, "signature annotation")
    except CheckFailed:
        return fail("signature annotation is not base64")
    if layer.size > max_payload:
        return fail(f"limit exceeded: max_payload_bytes ({layer.size} > {max_payload})")
    try:
        payload = source.get_blob(repository, layer.digest, max_bytes=layer.size)
    except NotFound:
        return fail(f"payload blob {layer.digest[:19]} not found")
    except (DigestMismatch, LimitExceeded) as exc:
        return fail(f"payload blob: {exc}")
    except SignetError as exc:
        return fail(f"payload blob could not be read: {exc}", outside=True)
    if len(payload) != layer.size:
        return fail(f"payload blob is {len(payload)} bytes, descriptor says {layer.size}")
    identity: str | None = None
    issuer: str | None = None
    fingerprint: str | None
    if sigstore is not None:
        try:
            verified = verify_cosign_signature(payload, layer.annotations, trust=sigstore[0], now=sigstore[1])
        except CheckFailed as exc:
            return fail(str(exc))
        fingerprint, identity, issuer = verified.key_fingerprint, verified.identity or None, verified.issuer or None
    else:
        fingerprint = next((k.fingerprint for k in policy.keys if verify_signature(k.key, signature, payload)), None)
    if fingerprint is None:
        return fail("signature does not verify with any trusted key (untrusted key or bad signature)")
    try:
        claim = parse_payload(payload)
    except RegistryError as exc:
        return fail(f"signed payload is malformed: {exc}", fingerprint=fingerprint)
    if claim.type not in policy.allowed_payload_types:
        return fail(f"payload type '{claim.type[:80]}' is not allowed", fingerprint=fingerprint)
    if claim.digest != digest:
        return fail(f"payload is for {claim.digest[:80]}, not this image's digest", fingerprint=fingerprint)
    for key, wanted in policy.annotations.items():
        if key not in claim.optional:
            return fail(f"missing annotation {key}={wanted}", fingerprint=fingerprint)
        if claim.optional[key] != wanted:
            return fail(f"annotation {key} is '{str(claim.optional[key])[:80]}', not '{wanted}'",
                        fingerprint=fingerprint)
    return SignatureCheck(SOURCE, index, True, "", key_fingerprint=fingerprint, identity=identity, issuer=issuer,
                          details={"layer_digest": layer.digest}), False
