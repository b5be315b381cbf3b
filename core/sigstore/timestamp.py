"""RFC 3161 signed timestamps from trusted timestamp authorities.

DER parsing uses asn1crypto (CMS / TSP structures); every signature check uses `cryptography`.
The timestamp's message imprint covers the raw signature bytes (cosign-formats.md §1.5), so a
verified timestamp proves the signature existed at genTime.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Callable

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from core.errors import CheckFailed
from core.sigstore.fulcio import valid_at
from core.sigstore.trusted_root import CertificateAuthority, TrustedRoot

MAX_TIMESTAMP_BYTES = 64 * 1024
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"sha256": hashes.SHA256, "sha384": hashes.SHA384,
                                                          "sha512": hashes.SHA512}


def verify_timestamp(der: bytes, signature: bytes, root: TrustedRoot) -> datetime:
    """Verify a DER TimeStampResp over `signature` (the bytes it must cover); returns genTime (UTC)."""
    if len(der) > MAX_TIMESTAMP_BYTES:
        raise CheckFailed("RFC 3161 timestamp larger than allowed")
    try:
        response = tsp.TimeStampResp.load(der, strict=True)
        status = response["status"]["status"].native
        token = response["time_stamp_token"]
        if status not in ("granted", "granted_with_mods") or token["content_type"].native != "signed_data":
            raise CheckFailed("RFC 3161 timestamp: not a granted signed token")
        signed_data = token["content"]
        encap = signed_data["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise CheckFailed("RFC 3161 timestamp: content is not TSTInfo")
        tst_der = encap["content"].contents
        tst_info = tsp.TSTInfo.load(tst_der, strict=True)
        imprint = tst_info["message_imprint"]
        imprint_hash = _hash_name(imprint["hash_algorithm"]["algorithm"].native)
        if imprint["hashed_message"].native != _digest(imprint_hash, signature):
            raise CheckFailed("RFC 3161 timestamp: covers a different signature")
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise CheckFailed("RFC 3161 timestamp: exactly one signer expected")
        signer = signer_infos[0]
        signed_attrs = signer["signed_attrs"]
        digest_name = _hash_name(signer["digest_algorithm"]["algorithm"].native)
        attributes = {attr["type"].native: attr["values"] for attr in signed_attrs}
        if [v.native for v in attributes.get("content_type", [])] != ["tst_info"]:
            raise CheckFailed("RFC 3161 timestamp: signed content type is not TSTInfo")
        if [v.native for v in attributes.get("message_digest", [])] != [_digest(digest_name, tst_der)]:
            raise CheckFailed("RFC 3161 timestamp: signed digest does not match TSTInfo")
        # Signed attributes are signed as an explicit SET OF, not the [0] IMPLICIT form they travel in.
        signed_bytes = b"\x31" + signed_attrs.dump()[1:]
        sig_hash = _signature_hash(signer["signature_algorithm"], digest_name)
        gen_time: datetime = tst_info["gen_time"].native.astimezone(timezone.utc)
        sid = signer["sid"]
        signature_bytes = signer["signature"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckFailed(f"RFC 3161 timestamp: malformed ({type(exc).__name__})") from None
    for authority in root.timestamp_authorities:
        if authority.validity.contains(gen_time) and _signed_by(authority, sid, sig_hash, signature_bytes,
                                                                signed_bytes, gen_time):
            return gen_time
    raise CheckFailed("RFC 3161 timestamp: not signed by a trusted timestamp authority valid at its time")


def _signed_by(authority: CertificateAuthority, sid: cms.SignerIdentifier, hash_name: str, signature: bytes,
               signed: bytes, at: datetime) -> bool:
    leaf = authority.chain[0]
    if not _identifies(sid, leaf) or not all(valid_at(cert, at) for cert in authority.chain):
        return False
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    if ExtendedKeyUsageOID.TIME_STAMPING not in usages:
        return False
    key = leaf.public_key()
    algorithm = _HASHES[_hash_name(hash_name)]()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), algorithm)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _identifies(sid: cms.SignerIdentifier, cert: x509.Certificate) -> bool:
    if sid.name == "issuer_and_serial_number":
        chosen = sid.chosen
        return bool(chosen["serial_number"].native == cert.serial_number
                    and chosen["issuer"].dump() == cert.issuer.public_bytes())
    try:
        ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return False
    return bool(sid.chosen.native == ski)


def _signature_hash(algorithm: cms.SignedDigestAlgorithm, digest_name: str) -> str:
    """ecdsa-with-SHA256 and sha256WithRSA name their hash; bare rsaEncryption uses the digest one."""
    try:
        return str(algorithm.hash_algo)
    except ValueError:
        return digest_name


def _hash_name(name: str) -> str:
    if name not in _HASHES:
        raise CheckFailed(f"RFC 3161 timestamp: unsupported hash {str(name)[:20]}")
    return name


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()
