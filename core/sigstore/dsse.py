"""DSSE envelopes (secure-systems-lab/dsse): the signature covers PAE(payloadType, payload)."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import CheckFailed
from core.sigstore.encoding import b64, load_json, obj, text

INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_ENVELOPE_BYTES = 16 * 1024 * 1024
MAX_SIGNATURES = 32


@dataclass(frozen=True)
class DsseSignature:
    sig: bytes
    keyid: str = ""


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[DsseSignature, ...]

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def only_signature(self) -> bytes:
        """Sigstore bundles (and cosign attestations) carry exactly one signature; more is refused
        rather than letting one valid signature vouch for an envelope others also signed."""
        if len(self.signatures) != 1:
            raise CheckFailed(f"DSSE envelope has {len(self.signatures)} signatures; exactly one is allowed")
        return self.signatures[0].sig


def pae(payload_type: str, payload: bytes) -> bytes:
    """Pre-Authentication Encoding: "DSSEv1 " len(type) " " type " " len(body) " " body."""
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(payload), payload)


def parse_envelope(doc: object, what: str = "DSSE envelope") -> Envelope:
    """From the JSON object (bundle `dsseEnvelope`, or a parsed `.att` layer)."""
    doc = obj(doc, what)
    signatures = doc.get("signatures")
    if not isinstance(signatures, list) or not 1 <= len(signatures) <= MAX_SIGNATURES:
        raise CheckFailed(f"{what}: signatures must be a list of 1 to {MAX_SIGNATURES}")
    return Envelope(
        payload_type=text(doc.get("payloadType"), what + ".payloadType", max_len=256),
        payload=b64(doc.get("payload"), what + ".payload", max_bytes=MAX_ENVELOPE_BYTES),
        signatures=tuple(DsseSignature(sig=b64(obj(s, what + ".signature").get("sig"), what + ".sig", max_bytes=8192),
                                       keyid=text(s.get("keyid", ""), what + ".keyid", max_len=512))
                         for s in signatures))


def load_envelope(data: bytes, what: str = "DSSE envelope") -> Envelope:
    return parse_envelope(load_json(data, what, max_bytes=MAX_ENVELOPE_BYTES), what)
