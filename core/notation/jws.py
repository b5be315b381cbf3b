"""Notary Project JWS envelopes (`application/jose+json`): the JSON serialization with one signature.

`{"payload": b64url, "protected": b64url(JSON header), "header": {"x5c": [b64 DER, leaf first],
"io.cncf.notary.signingAgent": ..., "io.cncf.notary.timestampSignature": b64}, "signature": b64url}`.
The signature covers ASCII(protected "." payload), as RFC 7515 says.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime
from typing import Any

from core.errors import CheckFailed
from core.notation.envelope import (AUTHENTIC_SIGNING_TIME, EXPIRY, KNOWN_EXTENDED, MAX_ENVELOPE_BYTES,
                                    SIGNING_AGENT, SIGNING_SCHEME, SIGNING_TIME, TIMESTAMP_SIGNATURE, Envelope,
                                    header_text, header_time, load_chain)
from core.strict_json import loads_strict

_TOP_LEVEL = {"payload", "protected", "header", "signature"}
_UNPROTECTED = {"x5c", SIGNING_AGENT, TIMESTAMP_SIGNATURE}
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def parse_jws(raw: bytes) -> Envelope:
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise CheckFailed("JWS envelope larger than allowed")
    doc = loads_strict(raw, what="JWS envelope", error=CheckFailed)
    if not isinstance(doc, dict) or set(doc) - _TOP_LEVEL or not {"payload", "protected", "signature"} <= set(doc):
        raise CheckFailed("JWS envelope is not a single-signature JSON serialization")
    protected_b64, payload_b64 = _text(doc, "protected"), _text(doc, "payload")
    header = loads_strict(_b64url(protected_b64, "protected header"), what="JWS protected header", error=CheckFailed)
    if not isinstance(header, dict):
        raise CheckFailed("JWS protected header is not an object")
    unprotected = doc.get("header", {})
    if not isinstance(unprotected, dict) or set(unprotected) - _UNPROTECTED:
        raise CheckFailed("JWS unprotected header holds unexpected fields")
    x5c = unprotected.get("x5c")
    if not isinstance(x5c, list) or not all(isinstance(c, str) for c in x5c):
        raise CheckFailed("certificate chain is not present")
    critical = header.get("crit", [])
    if not isinstance(critical, list) or not all(isinstance(c, str) for c in critical):
        raise CheckFailed("JWS crit is not a list of names")
    timestamp = unprotected.get(TIMESTAMP_SIGNATURE)
    return Envelope(
        format="notation-jws",
        algorithm=header_text(header, "alg", "JWS"),
        signing_scheme=header_text(header, SIGNING_SCHEME, "JWS"),
        signing_time=header_time(header, SIGNING_TIME, _rfc3339_time),
        authentic_signing_time=header_time(header, AUTHENTIC_SIGNING_TIME, _rfc3339_time),
        expiry=header_time(header, EXPIRY, _rfc3339_time),
        content_type=header_text(header, "cty", "JWS"),
        payload=_b64url(payload_b64, "payload"),
        signed_bytes=f"{protected_b64}.{payload_b64}".encode("ascii"),
        signature=_b64url(_text(doc, "signature"), "signature"),
        chain=load_chain([_b64std(c, "x5c certificate") for c in x5c]),
        critical=tuple(critical),
        extended={k: v for k, v in header.items() if k in KNOWN_EXTENDED and isinstance(v, str)},
        signing_agent=str(unprotected.get(SIGNING_AGENT, ""))[:200],
        timestamp_token=_b64std(timestamp, "timestamp signature") if isinstance(timestamp, str) else None,
    )


def _text(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value.isascii():
        raise CheckFailed(f"JWS {name} is not a base64url string")
    return value


def _rfc3339_time(value: object, label: str) -> datetime:
    if not isinstance(value, str):
        raise CheckFailed(f"{label} is not an RFC 3339 time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CheckFailed(f"{label} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise CheckFailed(f"{label} has no time zone")
    return parsed


def _b64url(text: str, what: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise CheckFailed(f"JWS {what} is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise CheckFailed(f"JWS {what} is not base64url") from None


def _b64std(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CheckFailed(f"{what} is not base64") from None
