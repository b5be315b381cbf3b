"""Rekor transparency-log entries: the signed entry timestamp (SET), the inclusion proof with its
signed checkpoint, and — the part past CVEs kept missing — the binding of the entry's body to *this*
signature, payload and key/certificate (cosign-formats.md §2, §3.3, §7).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.crypto.public_keys import PublicKey, spki_der
from core.errors import CheckFailed
from core.sigstore.checkpoint import verify_checkpoint
from core.sigstore.encoding import CERTIFICATE_ERRORS, b64, int64, load_json, obj, text
from core.sigstore.merkle import leaf_hash, verify_inclusion
from core.sigstore.trusted_root import TrustedRoot

MAX_BODY_BYTES = 32 * 1024 * 1024  # intoto entries carry the whole attestation (SBOMs run to MBs)
MAX_BODY_SIGNATURES = 32
SUPPORTED_KINDS = frozenset({("hashedrekord", "0.0.1"), ("rekord", "0.0.1"), ("dsse", "0.0.1"),
                             ("intoto", "0.0.1"), ("intoto", "0.0.2"),
                             ("hashedrekord", "0.0.2"), ("dsse", "0.0.2")})  # 0.0.2: Rekor v2 (protobuf JSON)


@dataclass(frozen=True)
class InclusionProof:
    log_index: int  # shard-local, unlike TlogEntry.log_index
    root_hash: bytes
    tree_size: int
    hashes: tuple[bytes, ...]
    checkpoint: str | None  # old v0.1 bundles have proofs without one; such a proof proves nothing alone


@dataclass(frozen=True)
class TlogEntry:
    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int
    body_b64: str  # exactly as the log sent it: the SET covers this text
    body: bytes
    signed_entry_timestamp: bytes | None = None
    inclusion_proof: InclusionProof | None = None


@dataclass(frozen=True)
class SignedContent:
    """What a log entry must be about: the signature, who made it, and what was signed."""

    signature: bytes
    verifier: x509.Certificate | PublicKey
    digest: bytes | None = None        # sha256 of the artifact, for message signatures
    dsse_payload: bytes | None = None  # the envelope payload, for DSSE


def parse_bundle_entry(item: dict[str, Any], what: str) -> TlogEntry:
    """One `verificationMaterial.tlogEntries[]` element (protobuf JSON)."""
    item = obj(item, what)
    kind_version = obj(item.get("kindVersion"), what + ".kindVersion")
    body_b64 = text(item.get("canonicalizedBody"), what + ".canonicalizedBody", max_len=MAX_BODY_BYTES * 2)
    promise = item.get("inclusionPromise")
    proof_doc = item.get("inclusionProof")
    proof = None
    if proof_doc is not None:
        proof_doc = obj(proof_doc, what + ".inclusionProof")
        hashes_doc = proof_doc.get("hashes", [])
        if not isinstance(hashes_doc, list) or len(hashes_doc) > 64:
            raise CheckFailed(f"{what}: inclusionProof.hashes must be a list of at most 64")
        proof = InclusionProof(
            log_index=int64(proof_doc.get("logIndex", "0"), what + ".inclusionProof.logIndex"),
            root_hash=b64(proof_doc.get("rootHash"), what + ".inclusionProof.rootHash", max_bytes=64),
            tree_size=int64(proof_doc.get("treeSize"), what + ".inclusionProof.treeSize"),
            hashes=tuple(b64(h, what + ".inclusionProof.hashes", max_bytes=64) for h in hashes_doc),
            checkpoint=(text(obj(proof_doc["checkpoint"], what + ".checkpoint").get("envelope"),
                             what + ".checkpoint.envelope", max_len=16 * 1024) if "checkpoint" in proof_doc else None))
    return TlogEntry(
        log_index=int64(item.get("logIndex", "0"), what + ".logIndex"),
        log_id=b64(obj(item.get("logId"), what + ".logId").get("keyId"), what + ".logId.keyId", max_bytes=64),
        kind=text(kind_version.get("kind"), what + ".kind", max_len=32),
        version=text(kind_version.get("version"), what + ".version", max_len=32),
        integrated_time=int64(item.get("integratedTime", "0"), what + ".integratedTime"),
        body_b64=body_b64, body=b64(body_b64, what + ".canonicalizedBody", max_bytes=MAX_BODY_BYTES),
        signed_entry_timestamp=(b64(obj(promise, what + ".inclusionPromise").get("signedEntryTimestamp"),
                                    what + ".signedEntryTimestamp", max_bytes=1024) if promise is not None else None),
        inclusion_proof=proof)


def parse_cosign_bundle_annotation(value: str) -> TlogEntry:
    """The classic `dev.sigstore.cosign/bundle` layer annotation: a SET, no inclusion proof."""
    doc = obj(load_json(value.encode(), "Rekor bundle annotation", max_bytes=MAX_BODY_BYTES * 2), "Rekor bundle")
    payload = obj(doc.get("Payload"), "Rekor bundle Payload")
    body_b64 = text(payload.get("body"), "Rekor bundle body", max_len=MAX_BODY_BYTES * 2)
    body = b64(body_b64, "Rekor bundle body", max_bytes=MAX_BODY_BYTES)
    kind, version = _kind_of(_body_doc(body))
    log_id_hex = text(payload.get("logID"), "Rekor bundle logID", max_len=64)
    try:
        log_id = bytes.fromhex(log_id_hex)
    except ValueError:
        raise CheckFailed("Rekor bundle logID: not hex") from None
    return TlogEntry(log_index=int64(payload.get("logIndex"), "Rekor bundle logIndex"), log_id=log_id,
                     kind=kind, version=version,
                     integrated_time=int64(payload.get("integratedTime"), "Rekor bundle integratedTime"),
                     body_b64=body_b64, body=body,
                     signed_entry_timestamp=b64(doc.get("SignedEntryTimestamp"), "SignedEntryTimestamp",
                                                max_bytes=1024))


def verify_entry(entry: TlogEntry, root: TrustedRoot, content: SignedContent) -> datetime | None:
    """Check one entry completely. Returns the integrated time when a valid SET vouches for it (the
    only log time that is signed), None when only an inclusion proof was present."""
    log = root.tlog(entry.log_id)
    body = _body_doc(entry.body)
    if _kind_of(body) != (entry.kind, entry.version):
        raise CheckFailed("tlog entry: kindVersion does not match the body")
    check_body_binding(body, content)
    if entry.signed_entry_timestamp is None and entry.inclusion_proof is None:
        raise CheckFailed("tlog entry: neither a signed entry timestamp nor an inclusion proof")
    verified_time = None
    if entry.signed_entry_timestamp is not None:
        canonical = json.dumps({"body": entry.body_b64, "integratedTime": entry.integrated_time,
                                "logID": entry.log_id.hex(), "logIndex": entry.log_index},
                               sort_keys=True, separators=(",", ":")).encode()
        if not isinstance(log.key, ec.EllipticCurvePublicKey):
            raise CheckFailed("tlog entry: signed entry timestamp from a log without an ECDSA key")
        try:
            log.key.verify(entry.signed_entry_timestamp, canonical, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise CheckFailed("tlog entry: signed entry timestamp does not verify with the log key") from None
        verified_time = datetime.fromtimestamp(entry.integrated_time, timezone.utc)
        if not log.validity.contains(verified_time):
            raise CheckFailed("tlog entry: integrated time outside the log key's validity")
    if entry.inclusion_proof is not None:
        proof = entry.inclusion_proof
        verify_inclusion(index=proof.log_index, tree_size=proof.tree_size, leaf=leaf_hash(entry.body),
                         proof=proof.hashes, root=proof.root_hash)
        if proof.checkpoint is None:
            if verified_time is None:
                raise CheckFailed("tlog entry: inclusion proof without a signed checkpoint")
            return verified_time
        checkpoint = verify_checkpoint(proof.checkpoint, log)
        if (checkpoint.tree_size, checkpoint.root_hash) != (proof.tree_size, proof.root_hash):
            raise CheckFailed("tlog entry: checkpoint does not commit to the proof's tree")
    return verified_time


def check_body_binding(body: dict[str, Any], content: SignedContent) -> None:
    """The entry must record this signature, this key/certificate and this payload (CVE-2022-23649,
    CVE-2022-36056, CVE-2026-22703)."""
    kind, version = _kind_of(body)
    spec = obj(body.get("spec"), "tlog body spec")
    if version == "0.0.2" and kind in ("hashedrekord", "dsse"):
        _check_v2_binding(kind, spec, content)
        return
    if kind in ("hashedrekord", "rekord"):
        if content.digest is None:
            raise CheckFailed(f"tlog entry: a {kind} entry cannot record a DSSE envelope")
        digest = obj(obj(spec.get("data"), "body data").get("hash"), "body data.hash")
        _same_hash(digest, content.digest, "artifact")
        sig = obj(spec.get("signature"), "body signature")
        if b64(sig.get("content"), "body signature.content", max_bytes=8192) != content.signature:
            raise CheckFailed("tlog entry: records a different signature")
        _same_verifier(obj(sig.get("publicKey"), "body publicKey").get("content"), content.verifier)
        return
    if content.dsse_payload is None:
        raise CheckFailed(f"tlog entry: a {kind} entry cannot record a message signature")
    payload_hash = hashlib.sha256(content.dsse_payload).digest()
    if kind == "dsse":
        _same_hash(obj(spec.get("payloadHash"), "body payloadHash"), payload_hash, "DSSE payload")
        _one_matching(spec.get("signatures"), content,
                      lambda s: (b64(s.get("signature"), "body signature", max_bytes=8192), s.get("verifier")))
        return
    inner = obj(spec.get("content"), "body content")
    _same_hash(obj(inner.get("payloadHash"), "body payloadHash"), payload_hash, "DSSE payload")
    if version == "0.0.1":
        _same_verifier(spec.get("publicKey"), content.verifier)
        return
    envelope = obj(inner.get("envelope"), "body envelope")
    _one_matching(envelope.get("signatures"), content,
                  lambda s: (_double_b64(s.get("sig")), s.get("publicKey")))


def _check_v2_binding(kind: str, spec: dict[str, Any], content: SignedContent) -> None:
    """Rekor v2 bodies: `hashedRekordV002{data, signature}` or `dsseV002{payloadHash, signatures}`,
    digests base64 with protobuf algorithm names, verifiers as DER (certificate or public key)."""
    if kind == "hashedrekord":
        if content.digest is None:
            raise CheckFailed("tlog entry: a hashedrekord entry cannot record a DSSE envelope")
        record = obj(spec.get("hashedRekordV002"), "body hashedRekordV002")
        _same_v2_hash(obj(record.get("data"), "body data"), content.digest, "artifact")
        signatures: object = [record.get("signature")]
    else:
        if content.dsse_payload is None:
            raise CheckFailed("tlog entry: a dsse entry cannot record a message signature")
        record = obj(spec.get("dsseV002"), "body dsseV002")
        _same_v2_hash(obj(record.get("payloadHash"), "body payloadHash"),
                      hashlib.sha256(content.dsse_payload).digest(), "DSSE payload")
        signatures = record.get("signatures")
    if not isinstance(signatures, list) or not 1 <= len(signatures) <= MAX_BODY_SIGNATURES:
        raise CheckFailed("tlog entry: malformed signature list")
    for item in signatures:
        item = obj(item, "body signature")
        if b64(item.get("content"), "body signature.content", max_bytes=8192) == content.signature:
            _same_v2_verifier(obj(item.get("verifier"), "body verifier"), content.verifier)
            return
    raise CheckFailed("tlog entry: records a different signature")


def _same_v2_hash(doc: dict[str, Any], expected: bytes, what: str) -> None:
    if doc.get("algorithm") != "SHA2_256" or b64(doc.get("digest"), "body digest", max_bytes=64) != expected:
        raise CheckFailed(f"tlog entry: records a different {what} hash")


def _same_v2_verifier(verifier_doc: dict[str, Any], verifier: x509.Certificate | PublicKey) -> None:
    if "x509Certificate" in verifier_doc:
        der = b64(obj(verifier_doc["x509Certificate"], "body x509Certificate").get("rawBytes"),
                  "body x509Certificate.rawBytes", max_bytes=64 * 1024)
        if not isinstance(verifier, x509.Certificate) or der != verifier.public_bytes(serialization.Encoding.DER):
            raise CheckFailed("tlog entry: records a different certificate")
        return
    der = b64(obj(verifier_doc.get("publicKey"), "body publicKey").get("rawBytes"), "body publicKey.rawBytes",
              max_bytes=64 * 1024)
    key = verifier.public_key() if isinstance(verifier, x509.Certificate) else verifier
    if der != spki_der(key):  # type: ignore[arg-type]
        raise CheckFailed("tlog entry: records a different public key")


def _double_b64(value: object) -> bytes:
    """intoto 0.0.2 bodies store the envelope's base64 fields base64-encoded a second time; a raw
    signature is never valid base64 text, so a single encoding is recognised (and then compared)."""
    once = b64(value, "body sig", max_bytes=16384)
    try:
        return b64(once.decode("ascii"), "body sig", max_bytes=8192)
    except (UnicodeDecodeError, CheckFailed):
        return once


def _body_doc(body: bytes) -> dict[str, Any]:
    return obj(load_json(body, "tlog body", max_bytes=MAX_BODY_BYTES), "tlog body")


def _kind_of(body: dict[str, Any]) -> tuple[str, str]:
    kind = (body.get("kind"), body.get("apiVersion"))
    if not all(isinstance(part, str) for part in kind) or kind not in SUPPORTED_KINDS:
        raise CheckFailed(f"tlog entry: unsupported kind {str(kind[0])[:32]} {str(kind[1])[:16]}")
    return kind


def _same_hash(doc: dict[str, Any], expected: bytes, what: str) -> None:
    if doc.get("algorithm") != "sha256" or doc.get("value") != expected.hex():
        raise CheckFailed(f"tlog entry: records a different {what} hash")


def _one_matching(signatures: object, content: SignedContent,
                  unpack: Callable[[dict[str, Any]], tuple[bytes, object]]) -> None:
    if not isinstance(signatures, list) or not 1 <= len(signatures) <= MAX_BODY_SIGNATURES:
        raise CheckFailed("tlog entry: malformed signature list")
    for item in signatures:
        signature, verifier = unpack(obj(item, "body signature"))
        if signature == content.signature:
            _same_verifier(verifier, content.verifier)
            return
    raise CheckFailed("tlog entry: records a different signature")


def _same_verifier(pem_b64: object, verifier: x509.Certificate | PublicKey) -> None:
    """The body holds a PEM certificate or public key (base64 once more); compare DER, not text."""
    pem = b64(pem_b64, "body public key", max_bytes=64 * 1024)
    if b"CERTIFICATE" in pem:
        try:
            recorded = x509.load_pem_x509_certificate(pem)
        except CERTIFICATE_ERRORS:
            raise CheckFailed("tlog entry: recorded certificate does not parse") from None
        if not isinstance(verifier, x509.Certificate) or recorded != verifier:
            raise CheckFailed("tlog entry: records a different certificate")
        return
    try:
        recorded_key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise CheckFailed("tlog entry: recorded public key does not parse") from None
    key = verifier.public_key() if isinstance(verifier, x509.Certificate) else verifier
    if spki_der(recorded_key) != spki_der(key):  # type: ignore[arg-type]
        raise CheckFailed("tlog entry: records a different public key")
