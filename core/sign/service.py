"""Sign an image the way `cosign sign --key` does, so cosign, Kyverno and policy-controller accept it.

Writes the simple-signing payload for the resolved digest, signs it, uploads the payload blob, and
appends a layer to `<repo>:sha256-<hex>.sig` (keeping every layer already there), with cosign's media
types, annotation and a regenerated config blob. Then reads the signature back through the normal
verification path with the signer's public key, and records history + audit in one transaction.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from core.context import SignetContext
from core.crypto.ed25519ph import sign_ed25519ph
from core.crypto.public_keys import (CURVE_HASH, PublicKey, fingerprint, load_public_key, public_key_pem,
                                     verify_signature)
from core.errors import InputError, LimitExceeded, NotFound
from core.history.records import record_verification
from core.identity import Role
from core.registry.cache import CachedSource
from core.registry.manifest import OCI_CONFIG, OCI_MANIFEST, sha256_digest
from core.registry.reference import ImageReference, parse_reference, parse_repository
from core.verify.cosign_signatures import signature_tag
from core.verify.policy import TrustPolicy
from core.verify.result import VerificationResult
from core.verify.service import verify_image
from core.verify.session import VerifySession
from core.verify.simple_signing import SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, build_payload, go_json
from core.verify.verifier import Verifier

_ZERO_TIME = "0001-01-01T00:00:00Z"  # what go-containerregistry writes for an empty image's config


class Signer(Protocol):
    """Something that signs with one key: a local key, a key in Secrets Manager, a KMS key."""

    public_key: PublicKey
    fingerprint: str
    key_id: str | None

    def sign(self, data: bytes) -> bytes:
        """Signature over `data` in cosign's encoding (ECDSA: ASN.1 DER; RSA: PKCS#1 v1.5 / SHA-256;
        Ed25519: Ed25519ph)."""


class LocalKeySigner:
    """Signs with a decrypted private key held in memory (never written anywhere by this class)."""

    def __init__(self, private_key: Any, *, key_id: str | None = None) -> None:
        if not isinstance(private_key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
            raise InputError(f"unsupported private key type {type(private_key).__name__}")
        self._key = private_key
        self.public_key = private_key.public_key()
        self.fingerprint = fingerprint(self.public_key)
        self.key_id = key_id

    def sign(self, data: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(CURVE_HASH[self._key.curve.name]()))
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return sign_ed25519ph(self._key, data)  # what cosign writes and verifies for Ed25519 keys
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@dataclass(frozen=True)
class SignResult:
    reference: str
    digest: str
    signature_tag: str
    signature_repository: str
    signature_manifest_digest: str
    payload_digest: str
    key_fingerprint: str
    layers: int                          # signature layers in the .sig manifest after signing
    verification: VerificationResult     # the read-back check with the signer's public key

    def as_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "digest": self.digest, "signature_tag": self.signature_tag,
                "signature_repository": self.signature_repository,
                "signature_manifest_digest": self.signature_manifest_digest, "payload_digest": self.payload_digest,
                "key_fingerprint": self.key_fingerprint, "layers": self.layers,
                "verification": self.verification.as_dict()}


def sign_image(ctx: SignetContext, reference: str | ImageReference, signer: Signer, *,
               annotations: dict[str, str] | None = None, signature_repository: str | None = None,
               allow_http: bool = False, provenance: dict[str, Any] | None = None) -> SignResult:
    """Sign the digest `reference` resolves to; raises SignetError when anything fails (nothing recorded).

    `provenance` (why this signature was made, e.g. the rotation and the old signature it carries over)
    is recorded with the history row and the audit entry."""
    ctx.require_write(Role.OPERATOR, action="signing an image")
    ref = reference if isinstance(reference, ImageReference) else parse_reference(reference)
    repo_text = signature_repository or os.environ.get("COSIGN_REPOSITORY") or None
    sig_ref = parse_repository(repo_text) if repo_text else ref
    session = VerifySession(ctx, allow_http=allow_http)
    try:
        digest = session.source_for(ref).resolve(ref).digest
        payload = build_payload(ref.identity, digest, annotations)
        signature = signer.sign(payload)
        if not verify_signature(signer.public_key, signature, payload):
            raise InputError("the signer produced a signature its own public key does not verify")
        tag = signature_tag(digest)
        sig_source = session.source_for(sig_ref)
        layers = _existing_layers(sig_source, sig_ref.repository, tag, session.limits.max_layers)
        new_layer = {"mediaType": SIMPLE_SIGNING_MEDIA_TYPE, "size": len(payload), "digest": sha256_digest(payload),
                     "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()}}
        layers.append(new_layer)
        if len(layers) > session.limits.max_layers:
            raise LimitExceeded("max_layers", len(layers), f"{tag} already holds the maximum")
        config = _config_blob(layers)
        sig_source.put_blob(sig_ref.repository, payload)
        sig_source.put_blob(sig_ref.repository, config)
        manifest = go_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                            "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": sha256_digest(config)},
                            "layers": layers})
        manifest_digest = sig_source.put_manifest(sig_ref.repository, tag, manifest, OCI_MANIFEST)
    finally:
        session.close()
    trusted = load_public_key(public_key_pem(signer.public_key), name=signer.key_id or "signer")
    policy = TrustPolicy(keys=(trusted,), annotations=dict(annotations or {}),
                         signature_repository=parse_repository(repo_text) if repo_text else None)
    check = verify_image(ctx, ref.with_digest(digest), Verifier(policy), record=False, allow_http=allow_http)
    result = SignResult(reference=str(ref), digest=digest, signature_tag=tag, signature_repository=sig_ref.name,
                        signature_manifest_digest=manifest_digest, payload_digest=str(new_layer["digest"]),
                        key_fingerprint=signer.fingerprint, layers=len(layers), verification=check)
    with ctx.store.write() as db:
        record_verification(db, at=ctx.clock(), actor=ctx.actor, source=ctx.interface, reference=str(ref),
                            digest=digest, result=check.result, reason=f"after signing: {check.reason}",
                            matched_keys=check.matched_keys, duration_ms=check.duration_ms,
                            details={"action": "sign", "signature_manifest": manifest_digest,
                                     **({"provenance": provenance} if provenance else {})})
        ctx.audit("image.sign", f"{ref.name}@{digest}",
                  {"digest": digest, "key_fingerprint": signer.fingerprint, "key_id": signer.key_id,
                   "signature_tag": f"{sig_ref.name}:{tag}", "signature_manifest": manifest_digest,
                   "annotations": sorted((annotations or {}).keys()), "readback": check.result,
                   **({"provenance": provenance} if provenance else {})})
    return result


def _existing_layers(source: CachedSource, repository: str, tag: str, max_layers: int) -> list[dict[str, Any]]:
    """Layers of the current `.sig` manifest, exactly as they are (read fresh, not from the tag cache)."""
    source.forget_tag(repository, tag)
    try:
        current = source.get_manifest(repository, tag)
    except NotFound:
        return []
    return [d.raw or {} for d in current.descriptors("layers", max_count=max_layers)]


def _config_blob(layers: list[dict[str, Any]]) -> bytes:
    """The image config go-containerregistry derives for cosign's signature image (one diff_id per layer)."""
    return go_json({"architecture": "", "created": _ZERO_TIME,
                    "history": [{"created": _ZERO_TIME} for _ in layers], "os": "",
                    "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
                    "config": {}})
