"""Notary Project COSE envelopes (`application/cose`): a tagged COSE_Sign1 (RFC 9052), CBOR via cbor2.

`18([protected: bstr(map), unprotected: map, payload: bstr, signature: bstr])`. The protected map holds
alg (1), crit (2), content type (3) and the notation attributes by name, times as CBOR tag 1 epoch
seconds; the unprotected map holds x5chain (33), the signing agent and an optional timestamp. The
signature covers the CBOR Sig_structure `["Signature1", protected, b"", payload]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import cbor2

from core.errors import CheckFailed
from core.notation.envelope import (AUTHENTIC_SIGNING_TIME, EXPIRY, KNOWN_EXTENDED, MAX_ENVELOPE_BYTES,
                                    SIGNING_AGENT, SIGNING_SCHEME, SIGNING_TIME, TIMESTAMP_SIGNATURE, Envelope,
                                    header_text, header_time, load_chain)

COSE_SIGN1_TAG = 18
ALG, CRIT, CONTENT_TYPE, X5CHAIN = 1, 2, 3, 33
_ALGORITHMS = {-37: "PS256", -38: "PS384", -39: "PS512", -7: "ES256", -35: "ES384", -36: "ES512"}
MAX_DEPTH = 16  # notation's maps are two levels deep; anything deeper is hostile


def parse_cose(raw: bytes) -> Envelope:
    if len(raw) > MAX_ENVELOPE_BYTES:
        raise CheckFailed("COSE envelope larger than allowed")
    message = _decode(raw, "COSE envelope")
    if not isinstance(message, cbor2.CBORTag) or message.tag != COSE_SIGN1_TAG:
        raise CheckFailed("COSE envelope is not a tagged COSE_Sign1")
    body = message.value
    if not isinstance(body, (list, tuple)) or len(body) != 4:
        raise CheckFailed("COSE_Sign1 does not have four parts")
    protected_raw, unprotected, payload, signature = body
    if not all(isinstance(part, bytes) for part in (protected_raw, payload, signature)) \
            or not isinstance(unprotected, Mapping):
        raise CheckFailed("COSE_Sign1 parts have the wrong types")
    protected = _decode(protected_raw, "COSE protected header")
    if not isinstance(protected, Mapping):
        raise CheckFailed("COSE protected header is not a map")
    algorithm = _ALGORITHMS.get(protected.get(ALG, 0))
    if algorithm is None:
        raise CheckFailed(f"unsupported COSE algorithm {str(protected.get(ALG))[:20]}")
    critical = protected.get(CRIT, [])
    if not isinstance(critical, (list, tuple)) or not all(isinstance(c, (str, int)) for c in critical):
        raise CheckFailed("COSE crit is not a list of labels")
    chain = unprotected.get(X5CHAIN)
    ders = [chain] if isinstance(chain, bytes) else chain
    if not isinstance(ders, (list, tuple)) or not all(isinstance(c, bytes) for c in ders):
        raise CheckFailed("certificate chain is not present")
    timestamp = unprotected.get(TIMESTAMP_SIGNATURE)
    signed = cbor2.dumps(["Signature1", protected_raw, b"", payload])
    return Envelope(
        format="notation-cose",
        algorithm=algorithm,
        signing_scheme=header_text(protected, SIGNING_SCHEME, "COSE"),
        signing_time=header_time(protected, SIGNING_TIME, _epoch_time),
        authentic_signing_time=header_time(protected, AUTHENTIC_SIGNING_TIME, _epoch_time),
        expiry=header_time(protected, EXPIRY, _epoch_time),
        content_type=header_text(protected, CONTENT_TYPE, "COSE"),
        payload=payload,
        signed_bytes=signed,
        signature=signature,
        chain=load_chain(list(ders)),
        critical=tuple(str(c) for c in critical),
        extended={k: v for k, v in protected.items() if k in KNOWN_EXTENDED and isinstance(v, str)},
        signing_agent=str(unprotected.get(SIGNING_AGENT, ""))[:200],
        timestamp_token=timestamp if isinstance(timestamp, bytes) else None,
    )


def _decode(raw: bytes, what: str) -> Any:
    try:
        return cbor2.loads(raw, max_depth=MAX_DEPTH, allow_duplicate_keys=False, allow_indefinite=False)
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise CheckFailed(f"{what} is not valid CBOR ({type(exc).__name__})") from None


def _epoch_time(value: object, label: str) -> datetime:
    """Tag 1 epoch time; cbor2 turns it into an aware datetime. A bare number or string is refused."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise CheckFailed(f"{label} is not a CBOR epoch time")
    return value.astimezone(timezone.utc)
