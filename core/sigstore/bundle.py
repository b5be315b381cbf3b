"""Sigstore bundles v0.1 / v0.2 / v0.3 (protobuf-specs sigstore_bundle.proto, proto3 JSON mapping;
cosign-formats.md §3.3). Parsing is strict and bounded (sigstore-go limits, GHSA-cq38-jh5f-37mq).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509

from core.errors import CheckFailed
from core.sigstore.dsse import Envelope, parse_envelope
from core.sigstore.encoding import b64, certificates, load_json, obj, text
from core.sigstore.rekor import TlogEntry, parse_bundle_entry

MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # DSSE payloads (SBOMs) can be large; still bounded
MAX_TLOG_ENTRIES = 32
MAX_TIMESTAMPS = 32
MAX_CERTIFICATES = 10
MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
MEDIA_TYPES = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": 1,
    "application/vnd.dev.sigstore.bundle+json;version=0.2": 2,
    "application/vnd.dev.sigstore.bundle+json;version=0.3": 3,
    "application/vnd.dev.sigstore.bundle.v0.3+json": 3,
}


@dataclass(frozen=True)
class MessageSignature:
    digest: bytes  # SHA-256 of the artifact (the only algorithm accepted)
    signature: bytes


@dataclass(frozen=True)
class Bundle:
    media_type: str
    minor_version: int
    certificates: tuple[x509.Certificate, ...]  # leaf first; hints only, never anchors
    public_key_hint: str | None
    tlog_entries: tuple[TlogEntry, ...]
    timestamps: tuple[bytes, ...]  # DER RFC 3161 TimeStampResp
    message_signature: MessageSignature | None = None
    envelope: Envelope | None = None

    @property
    def signature(self) -> bytes:
        if self.message_signature is not None:
            return self.message_signature.signature
        assert self.envelope is not None
        return self.envelope.only_signature()


def parse_bundle(data: bytes) -> Bundle:
    doc = obj(load_json(data, "bundle", max_bytes=MAX_BUNDLE_BYTES), "bundle")
    media_type = doc.get("mediaType")
    minor = MEDIA_TYPES.get(media_type) if isinstance(media_type, str) else None
    if minor is None or not isinstance(media_type, str):
        raise CheckFailed(f"bundle: unsupported mediaType {str(media_type)[:80]!r}")
    material = obj(doc.get("verificationMaterial"), "bundle verificationMaterial")
    certificates, hint = _verifier_material(material, minor)
    entries_doc = material.get("tlogEntries", [])
    if not isinstance(entries_doc, list) or len(entries_doc) > MAX_TLOG_ENTRIES:
        raise CheckFailed(f"bundle: tlogEntries must be a list of at most {MAX_TLOG_ENTRIES}")
    entries = tuple(parse_bundle_entry(item, f"tlogEntries[{i}]") for i, item in enumerate(entries_doc))
    for entry in entries:
        # v0.1 bundles carry promises; from v0.2 on the inclusion proof is mandatory.
        if minor == 1 and entry.signed_entry_timestamp is None:
            raise CheckFailed("bundle v0.1: tlog entry without an inclusion promise")
        if minor >= 2 and (entry.inclusion_proof is None or entry.inclusion_proof.checkpoint is None):
            raise CheckFailed(f"bundle v0.{minor}: tlog entry without an inclusion proof and checkpoint")
    tsd = obj(material.get("timestampVerificationData", {}), "timestampVerificationData")
    stamps_doc = tsd.get("rfc3161Timestamps", [])
    if not isinstance(stamps_doc, list) or len(stamps_doc) > MAX_TIMESTAMPS:
        raise CheckFailed(f"bundle: rfc3161Timestamps must be a list of at most {MAX_TIMESTAMPS}")
    timestamps = tuple(b64(obj(s, "rfc3161Timestamp").get("signedTimestamp"), "signedTimestamp",
                           max_bytes=64 * 1024) for s in stamps_doc)
    has_message, has_dsse = "messageSignature" in doc, "dsseEnvelope" in doc
    if has_message == has_dsse:
        raise CheckFailed("bundle: needs exactly one of messageSignature and dsseEnvelope")
    message = envelope = None
    if has_message:
        ms = obj(doc["messageSignature"], "messageSignature")
        digest_doc = obj(ms.get("messageDigest"), "messageSignature.messageDigest")
        if digest_doc.get("algorithm") != "SHA2_256":
            raise CheckFailed("bundle: only SHA2_256 message digests are accepted")
        digest = b64(digest_doc.get("digest"), "messageDigest.digest", max_bytes=64)
        if len(digest) != 32:
            raise CheckFailed("bundle: SHA-256 message digest of the wrong length")
        message = MessageSignature(digest=digest,
                                   signature=b64(ms.get("signature"), "messageSignature.signature", max_bytes=8192))
    else:
        envelope = parse_envelope(doc["dsseEnvelope"], "dsseEnvelope")
        envelope.only_signature()
    return Bundle(media_type=media_type, minor_version=minor, certificates=certificates, public_key_hint=hint,
                  tlog_entries=entries, timestamps=timestamps, message_signature=message, envelope=envelope)


def _verifier_material(material: dict[str, Any], minor: int) -> tuple[tuple[x509.Certificate, ...], str | None]:
    present = [k for k in ("publicKey", "x509CertificateChain", "certificate") if k in material]
    if len(present) != 1:
        raise CheckFailed("bundle: needs exactly one of publicKey, x509CertificateChain, certificate")
    kind = present[0]
    if kind == "publicKey":
        return (), text(obj(material["publicKey"], "publicKey").get("hint", ""), "publicKey.hint", max_len=512)
    if kind == "certificate":
        return certificates([material["certificate"]], "bundle certificate", max_count=1), None
    if minor >= 3:
        raise CheckFailed("bundle v0.3: x509CertificateChain is not allowed (leaf certificate only)")
    chain = obj(material["x509CertificateChain"], "x509CertificateChain").get("certificates")
    return certificates(chain, "bundle certificate chain", max_count=MAX_CERTIFICATES), None
