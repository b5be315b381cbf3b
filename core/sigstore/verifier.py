"""One verification path for every Sigstore signature shape: bundles (message signature or DSSE),
classic `.sig` layers and classic `.att` layers. Each shape only says what was signed and what
material came with it; the checks are the same for all (cosign-formats.md §1.5, §3.6):

1. the signature verifies with a trusted key, or with the certificate's key;
2. every transparency-log entry verifies (SET and/or inclusion proof + checkpoint) AND records this
   signature, payload and key/certificate; `require_tlog` demands at least one;
3. every RFC 3161 timestamp verifies with a trusted TSA;
4. keyless: the certificate chains to a trusted CA at every verified signing time (never "now" unless
   the log was explicitly waived and no signed time exists), carries a valid embedded SCT when the
   root has CT logs, and names an identity and issuer the policy accepts.

Any failure raises CheckFailed with the reason; callers turn it into a failed check.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from core.crypto.public_keys import PublicKey, TrustedKey, spki_der, verify_signature
from core.errors import CheckFailed
from core.sigstore.attestation import Statement, parse_statement
from core.sigstore.bundle import Bundle
from core.sigstore.certificate_identity import CertificateIdentity
from core.sigstore.dsse import INTOTO_PAYLOAD_TYPE, Envelope, load_envelope
from core.sigstore.encoding import CERTIFICATE_ERRORS, b64, load_json, obj, parsed_certificate
from core.sigstore.fulcio import certificate_summary, is_self_signed, verify_chain, verify_embedded_scts
from core.sigstore.rekor import SignedContent, TlogEntry, parse_cosign_bundle_annotation, verify_entry
from core.sigstore.timestamp import verify_timestamp
from core.sigstore.trusted_root import TrustedRoot

ANN_SIGNATURE = "dev.cosignproject.cosign/signature"
ANN_CERTIFICATE = "dev.sigstore.cosign/certificate"
ANN_CHAIN = "dev.sigstore.cosign/chain"
ANN_BUNDLE = "dev.sigstore.cosign/bundle"
ANN_TIMESTAMP = "dev.sigstore.cosign/rfc3161timestamp"
MAX_PEM_BYTES = 64 * 1024


@dataclass(frozen=True)
class SigstoreTrust:
    """What we trust for Sigstore checks: keys, and/or keyless identities (which need a root; there is
    no "any identity" default). `require_tlog` None: required for keyless signatures only."""

    root: TrustedRoot | None = None
    identities: tuple[CertificateIdentity, ...] = ()
    keys: tuple[TrustedKey, ...] = ()
    require_tlog: bool | None = None
    ignore_tlog: bool = False  # cosign's --insecure-ignore-tlog: log entries are not looked at at all


@dataclass(frozen=True)
class VerifiedSignature:
    key_fingerprint: str
    identity: str = ""          # the SAN that matched the policy (keyless)
    issuer: str = ""            # the OIDC issuer (keyless)
    signed_at: tuple[datetime, ...] = ()  # verified times: Rekor SETs and RFC 3161 timestamps
    tlog_indexes: tuple[int, ...] = ()
    statement: Statement | None = None    # DSSE content, already bound to the image digest


def verify_bundle(bundle: Bundle, *, digest: str, trust: SigstoreTrust, now: datetime) -> VerifiedSignature:
    """Verify a bundle for the artifact (image manifest) `digest` = "sha256:<hex>"."""
    artifact = _sha256_of(digest)
    if bundle.message_signature is not None:
        message = bundle.message_signature
        if message.digest != artifact:
            raise CheckFailed("bundle signs a different digest")
        content = dict(digest=artifact)
        check = lambda key: _verify_prehashed(key, message.signature, artifact)  # noqa: E731
        statement = None
    else:
        assert bundle.envelope is not None
        statement = _statement_for(bundle.envelope, digest)
        content = dict(dsse_payload=bundle.envelope.payload)
        pae = bundle.envelope.pae()
        check = lambda key: verify_signature(key, bundle.signature, pae)  # noqa: E731
    leaf = bundle.certificates[0] if bundle.certificates else None
    hints = bundle.certificates[1:]
    if any(is_self_signed(cert) for cert in hints):
        # The trust anchor must come from the trusted root, never from the bundle (conformance).
        raise CheckFailed("bundle carries a root certificate; anchors come only from the trusted root")
    verified = _verify(bundle.signature, check, content, leaf, hints, bundle.tlog_entries, bundle.timestamps,
                       trust, now)
    return verified if statement is None else _with_statement(verified, statement)


def verify_cosign_signature(payload: bytes, annotations: Mapping[str, str], *, trust: SigstoreTrust,
                            now: datetime) -> VerifiedSignature:
    """A classic `.sig` layer: `payload` is the layer blob (simple-signing JSON, digest already checked
    by the caller), `annotations` the layer's. The digest claim inside the payload is the caller's
    check (core/verify), as for key-based signatures."""
    signature = b64(annotations.get(ANN_SIGNATURE), "signature annotation", max_bytes=8192)
    check = lambda key: verify_signature(key, signature, payload)  # noqa: E731
    return _verify_classic(signature, check, dict(digest=hashlib.sha256(payload).digest()), annotations, trust, now)


def verify_cosign_attestation(envelope_bytes: bytes, annotations: Mapping[str, str], *, digest: str,
                              trust: SigstoreTrust, now: datetime) -> VerifiedSignature:
    """A classic `.att` layer: the blob is a DSSE envelope; the signature annotation is empty."""
    envelope = load_envelope(envelope_bytes, "attestation envelope")
    statement = _statement_for(envelope, digest)
    signature = envelope.only_signature()
    pae = envelope.pae()
    check = lambda key: verify_signature(key, signature, pae)  # noqa: E731
    # cosign timestamps an attestation over the layer bytes (its signature annotation is empty).
    verified = _verify_classic(signature, check, dict(dsse_payload=envelope.payload), annotations, trust, now,
                               stamped=envelope_bytes)
    return _with_statement(verified, statement)


def _verify_classic(signature: bytes, check: Callable[[PublicKey], bool], content: dict[str, Any],
                    annotations: Mapping[str, str], trust: SigstoreTrust, now: datetime,
                    stamped: bytes | None = None) -> VerifiedSignature:
    leaf, hints = None, []
    if annotations.get(ANN_CERTIFICATE):
        leaf = _pem_certificates(annotations[ANN_CERTIFICATE], "certificate annotation")[0]
        if annotations.get(ANN_CHAIN):
            # The chain annotation often ends with the root: harmless, anchors come from the root only.
            hints = [c for c in _pem_certificates(annotations[ANN_CHAIN], "chain annotation") if not is_self_signed(c)]
    entries: tuple[TlogEntry, ...] = ()
    if annotations.get(ANN_BUNDLE):
        entries = (parse_cosign_bundle_annotation(annotations[ANN_BUNDLE]),)
    stamps: tuple[bytes, ...] = ()
    if annotations.get(ANN_TIMESTAMP):
        stamp_doc = obj(load_json(annotations[ANN_TIMESTAMP].encode(), "timestamp annotation", max_bytes=128 * 1024),
                        "timestamp annotation")
        stamps = (b64(stamp_doc.get("SignedRFC3161Timestamp"), "SignedRFC3161Timestamp", max_bytes=64 * 1024),)
    return _verify(signature, check, content, leaf, hints, entries, stamps, trust, now, stamped=stamped)


def _verify(signature: bytes, check: Callable[[PublicKey], bool], content: dict[str, Any],
            leaf: x509.Certificate | None,
            hints: Sequence[x509.Certificate], entries: Sequence[TlogEntry], stamps: Sequence[bytes],
            trust: SigstoreTrust, now: datetime, stamped: bytes | None = None) -> VerifiedSignature:
    """`stamped`: what RFC 3161 timestamps cover when not the signature itself."""
    # A trusted key that verifies wins; otherwise the certificate, if keyless identities are trusted.
    key = next((k.key for k in trust.keys if check(k.key)), None)
    keyless = key is None
    verifier: x509.Certificate | PublicKey
    if not keyless:
        if leaf is not None and spki_der(leaf.public_key()) != spki_der(key):  # type: ignore[arg-type]
            raise CheckFailed("the certificate shipped with the signature holds a different key")
        verifier = leaf if leaf is not None else key  # type: ignore[assignment]
    else:
        if not trust.identities:
            raise CheckFailed("signature does not verify with any trusted key" if trust.keys else
                              "keyless verification needs a certificate identity and issuer")
        if leaf is None:
            raise CheckFailed("no certificate with the signature (keyless) and no trusted key verifies it")
        if trust.root is None:
            raise CheckFailed("keyless verification needs a trusted root")
        if not check(leaf.public_key()):  # type: ignore[arg-type]
            raise CheckFailed("signature does not verify with the certificate's key")
        verifier = leaf
    require_tlog = trust.require_tlog if trust.require_tlog is not None else keyless
    binding = SignedContent(signature=signature, verifier=verifier, **content)
    times: list[datetime] = []
    indexes: list[int] = []
    if trust.ignore_tlog:
        entries = ()
    if entries and trust.root is None:
        raise CheckFailed("transparency log entries need a trusted root to verify")
    for entry in entries:
        when = verify_entry(entry, trust.root, binding)  # type: ignore[arg-type]
        indexes.append(entry.log_index)
        if when is not None:
            times.append(when)
    if require_tlog and not entries:
        raise CheckFailed("no transparency log entry (required)")
    for stamp in stamps:
        if trust.root is None:
            raise CheckFailed("RFC 3161 timestamps need a trusted root to verify")
        times.append(verify_timestamp(stamp, signature if stamped is None else stamped, trust.root))
    verifying_key = verifier.public_key() if isinstance(verifier, x509.Certificate) else verifier
    key_der = spki_der(verifying_key)  # type: ignore[arg-type]
    key_fp = hashlib.sha256(key_der).hexdigest()
    if not keyless:
        return VerifiedSignature(key_fingerprint=key_fp, signed_at=tuple(times), tlog_indexes=tuple(indexes))
    assert leaf is not None and trust.root is not None
    if not times and require_tlog:
        raise CheckFailed("no verified signing time (transparency log or RFC 3161 timestamp)")
    # With the log explicitly waived and no signed time, only a certificate valid now can pass.
    for when in times or [now]:
        path = verify_chain(leaf, hints, trust.root, when)
    if trust.root.ctlogs:
        if len(path) < 2 or verify_embedded_scts(leaf, path[1], trust.root) < 1:
            raise CheckFailed("certificate has no valid embedded SCT from a trusted CT log")
    summary = certificate_summary(leaf)
    for identity in trust.identities:
        if identity.matches(summary.sans, summary.issuer):
            matched = next(san for san in summary.sans if identity.matches((san,), summary.issuer))
            return VerifiedSignature(key_fingerprint=key_fp, identity=matched, issuer=summary.issuer,
                                     signed_at=tuple(times), tlog_indexes=tuple(indexes))
    expected = "; ".join(identity.describe() for identity in trust.identities)
    raise CheckFailed(f"certificate identity {', '.join(summary.sans)[:200] or '(none)'} from "
                      f"{summary.issuer or '(no issuer)'} matches none of the expected identities ({expected[:300]})")


def _statement_for(envelope: Envelope, digest: str) -> Statement:
    if envelope.payload_type != INTOTO_PAYLOAD_TYPE:
        raise CheckFailed(f"DSSE payloadType {envelope.payload_type[:80]!r} is not an in-toto statement")
    statement = parse_statement(envelope.payload)
    if not statement.names_digest(digest):
        raise CheckFailed("the statement's subjects do not name this digest")
    return statement


def _with_statement(verified: VerifiedSignature, statement: Statement) -> VerifiedSignature:
    return replace(verified, statement=statement)


def _verify_prehashed(key: PublicKey, signature: bytes, digest: bytes) -> bool:
    """Message signatures sign the artifact; with its SHA-256 we verify prehashed (ECDSA, RSA)."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        else:
            return False  # Ed25519 cannot verify from a digest alone
    except (InvalidSignature, ValueError):
        return False
    return True


def _sha256_of(digest: str) -> bytes:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64:
        raise CheckFailed(f"expected a sha256 digest, got {digest[:80]!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise CheckFailed("digest is not hex") from None


def _pem_certificates(pem: str, what: str) -> list[x509.Certificate]:
    if len(pem) > MAX_PEM_BYTES:
        raise CheckFailed(f"{what}: larger than {MAX_PEM_BYTES} bytes")
    try:
        certs = [parsed_certificate(c) for c in x509.load_pem_x509_certificates(pem.encode())]
    except CERTIFICATE_ERRORS:
        raise CheckFailed(f"{what}: not PEM certificates") from None
    if not certs or len(certs) > 10:
        raise CheckFailed(f"{what}: expected 1 to 10 certificates")
    return certs
