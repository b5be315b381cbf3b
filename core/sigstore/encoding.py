"""Strict decoding of the few wire encodings Sigstore JSON uses (base64, int64-as-string, RFC 3339)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from core.errors import CheckFailed
from core.strict_json import loads_strict

MAX_INT64 = 2**63 - 1
# What `cryptography` raises for a certificate it cannot use: not only ValueError (a bad version
# field, a duplicated extension and an unknown key type have their own exception classes).
CERTIFICATE_ERRORS = (ValueError, x509.InvalidVersion, x509.DuplicateExtension, UnsupportedAlgorithm)


def b64(value: object, what: str, *, max_bytes: int = 1024 * 1024) -> bytes:
    """Standard base64 (padded). Line breaks are skipped, as Go's decoder does (some signers wrap).
    Anything else is an error naming the field."""
    if not isinstance(value, str) or not value:
        raise CheckFailed(f"{what}: expected a base64 string")
    if len(value) > (max_bytes * 4) // 3 + 4:
        raise CheckFailed(f"{what}: larger than {max_bytes} bytes")
    try:
        return base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
    except (binascii.Error, ValueError):
        raise CheckFailed(f"{what}: not valid base64") from None


def int64(value: object, what: str) -> int:
    """protobuf JSON writes int64 as a decimal string; classic bundles as a JSON number."""
    if isinstance(value, bool):
        raise CheckFailed(f"{what}: expected an integer")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_INT64:
        raise CheckFailed(f"{what}: expected a non-negative int64")
    return value


def rfc3339(value: object, what: str) -> datetime:
    if not isinstance(value, str) or len(value) > 64:
        raise CheckFailed(f"{what}: expected an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CheckFailed(f"{what}: not an RFC 3339 time: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise CheckFailed(f"{what}: time without a zone")
    return parsed.astimezone(timezone.utc)


def obj(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CheckFailed(f"{what}: expected a JSON object")
    return value


def text(value: object, what: str, *, max_len: int = 4096) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        raise CheckFailed(f"{what}: expected a string of at most {max_len} characters")
    return value


def certificates(items: object, what: str, *, max_count: int) -> tuple[x509.Certificate, ...]:
    """protobuf `X509Certificate` messages: `[{"rawBytes": <base64 DER>}, ...]`, 1 to max_count of them."""
    if not isinstance(items, list) or not 1 <= len(items) <= max_count:
        raise CheckFailed(f"{what} must hold 1 to {max_count} certificates")
    result = []
    for i, item in enumerate(items):
        der = b64(obj(item, f"{what}[{i}]").get("rawBytes"), f"{what}[{i}].rawBytes", max_bytes=64 * 1024)
        try:
            result.append(parsed_certificate(x509.load_der_x509_certificate(der)))
        except CERTIFICATE_ERRORS:
            raise CheckFailed(f"{what}[{i}] is not a DER X.509 certificate") from None
    return tuple(result)


def parsed_certificate(cert: x509.Certificate) -> x509.Certificate:
    """`cert` once its extensions and public key parse: `cryptography` parses them lazily, so a
    duplicated (two SANs saying different things) or malformed extension, or a key of an unknown
    type, would otherwise surface as an unexpected exception wherever it is first read. Raises one
    of CERTIFICATE_ERRORS."""
    cert.extensions  # noqa: B018 - parsing is the point
    cert.public_key()
    return cert


def load_json(data: bytes, what: str, *, max_bytes: int) -> object:
    """Parse JSON refusing oversized input and, like all outside JSON (core/strict_json.py), duplicate
    keys (Go keeps the last one, we keep none), NaN and invalid UTF-8. Raises CheckFailed."""
    if len(data) > max_bytes:
        raise CheckFailed(f"{what}: larger than {max_bytes} bytes")
    return loads_strict(data, what=what, error=CheckFailed)
