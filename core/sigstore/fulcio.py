"""Fulcio (and other X.509) signing certificates: the chain to a trusted CA at the signing time,
the identity (SANs) and OIDC issuer the certificate was issued for, and embedded SCTs
(cosign-formats.md §5).

Certificates that travel with a signature (bundle chains, `dev.sigstore.cosign/chain`) are only hints
for intermediates; anchors come from the trusted root alone.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence

from asn1crypto.core import UTF8String
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ObjectIdentifier

from core.crypto.public_keys import PublicKey, spki_der
from core.errors import CheckFailed
from core.sigstore.trusted_root import CertificateAuthority, TrustedRoot

OID_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")  # raw UTF-8 bytes
OID_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")  # DER UTF8String
OID_OTHERNAME_SAN = ObjectIdentifier("1.3.6.1.4.1.57264.1.7")
MAX_CHAIN_DEPTH = 6
MAX_HINTS = 10
MAX_SANS = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class CertificateSummary:
    """What a signing certificate says about its subject."""

    sans: tuple[str, ...]
    issuer: str  # OIDC issuer from the Fulcio extensions, "" when absent


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and _signed_by(cert, cert)


def certificate_summary(cert: x509.Certificate) -> CertificateSummary:
    return CertificateSummary(sans=subject_alternative_names(cert), issuer=oidc_issuer(cert))


def subject_alternative_names(cert: x509.Certificate) -> tuple[str, ...]:
    """Email, URI, DNS, IP and Fulcio OtherName (username) SANs, as cosign compares them."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    names: list[str] = []
    for general_name in list(ext)[:MAX_SANS]:
        if isinstance(general_name, (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName)):
            names.append(general_name.value)
        elif isinstance(general_name, x509.IPAddress):
            names.append(str(general_name.value))
        elif isinstance(general_name, x509.OtherName) and general_name.type_id == OID_OTHERNAME_SAN:
            names.append(_der_utf8(general_name.value, "OtherName SAN"))
    return tuple(names)


def oidc_issuer(cert: x509.Certificate) -> str:
    """Issuer from .1.8 (DER UTF8String), else legacy .1.1 (raw bytes); both present and different
    is refused rather than guessed."""
    v2 = _extension_bytes(cert, OID_ISSUER_V2)
    v1 = _extension_bytes(cert, OID_ISSUER_V1)
    issuer_v2 = _der_utf8(v2, "OIDC issuer extension") if v2 is not None else None
    try:
        issuer_v1 = v1.decode("utf-8") if v1 is not None else None
    except UnicodeDecodeError:
        raise CheckFailed("certificate: OIDC issuer extension 1.1 is not UTF-8") from None
    if issuer_v1 is not None and issuer_v2 is not None and issuer_v1 != issuer_v2:
        raise CheckFailed("certificate: the two OIDC issuer extensions disagree")
    return issuer_v2 if issuer_v2 is not None else (issuer_v1 or "")


def verify_chain(leaf: x509.Certificate, hints: Sequence[x509.Certificate], root: TrustedRoot,
                 at: datetime) -> tuple[x509.Certificate, ...]:
    """The path leaf → … → anchor of a trusted CA valid at `at`; every certificate on it valid at `at`.

    `at` is a verified signing time (Rekor SET or RFC 3161), never the current time for short-lived
    certificates.
    """
    _require_code_signing(leaf)
    hints = [cert for cert in hints[:MAX_HINTS] if not is_self_signed(cert)]
    for ca in root.certificate_authorities:
        if not ca.validity.contains(at):
            continue
        path = _build_path(leaf, ca, hints, at)
        if path:
            return path
    raise CheckFailed(f"certificate does not chain to a trusted CA valid at {at.isoformat()}")


def valid_at(cert: x509.Certificate, at: datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def _build_path(leaf: x509.Certificate, ca: CertificateAuthority, hints: list[x509.Certificate],
                at: datetime) -> tuple[x509.Certificate, ...] | None:
    pool = list(ca.chain) + hints
    path = [leaf]
    while len(path) <= MAX_CHAIN_DEPTH:
        current = path[-1]
        if not valid_at(current, at):
            return None
        if current == ca.anchor:
            return tuple(path)
        issuer = next((cand for cand in pool if cand not in path and _issued(current, cand)), None)
        if issuer is None:
            return None
        path.append(issuer)
    return None


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca and _signed_by(cert, issuer)


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer`'s key made `cert`'s signature (names and CA constraints are the caller's to check)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _require_code_signing(leaf: x509.Certificate) -> None:
    """Go's x509 (what cosign uses) treats a leaf without the EKU extension as usable for anything."""
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return
    if ExtendedKeyUsageOID.CODE_SIGNING not in usages and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in usages:
        raise CheckFailed("certificate is not for code signing")


def verify_embedded_scts(leaf: x509.Certificate, issuer: x509.Certificate, root: TrustedRoot) -> int:
    """Count the embedded SCTs that verify with a CT log of the trusted root (RFC 6962 §3.2)."""
    try:
        scts = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps).value
        tbs = leaf.tbs_precertificate_bytes
    except (x509.ExtensionNotFound, ValueError):
        return 0
    issuer_key_hash = hashlib.sha256(spki_der(issuer.public_key())).digest()  # type: ignore[arg-type]
    valid = 0
    for sct in list(scts)[:MAX_SANS]:
        log = root.ctlog(sct.log_id)
        timestamp = sct.timestamp.replace(tzinfo=timezone.utc)
        if log is None or not log.validity.contains(timestamp):
            continue
        millis = (timestamp - _EPOCH) // timedelta(milliseconds=1)
        ext = sct.extension_bytes
        signed = (struct.pack(">BBQH", 0, 0, millis, 1) + issuer_key_hash + len(tbs).to_bytes(3, "big") + tbs
                  + len(ext).to_bytes(2, "big") + ext)
        if _sct_signature_ok(log.key, sct.signature, signed):
            valid += 1
    return valid


def _sct_signature_ok(key: PublicKey, signature: bytes, signed: bytes) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _extension_bytes(cert: x509.Certificate, oid: ObjectIdentifier) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    # Sigstore's OIDs are unknown to cryptography: the raw extnValue contents
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _der_utf8(data: bytes, what: str) -> str:
    try:
        return str(UTF8String.load(data, strict=True).native)
    except (ValueError, TypeError):
        raise CheckFailed(f"certificate: {what} is not a DER UTF8String") from None
