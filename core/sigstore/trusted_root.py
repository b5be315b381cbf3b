"""Sigstore `trusted_root.json` (protobuf-specs sigstore_trustroot.proto; cosign-formats.md §5.4).

Every instance (log, CA, CT log, TSA) has a validity window; several instances of each kind may be
valid at once, and callers always ask for the instances valid at the signing time, never "now".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TypeVar

from cryptography import x509

from core.crypto.public_keys import PublicKey, load_public_key, spki_der
from core.errors import CheckFailed, InputError
from core.files import read_limited_file
from core.sigstore.encoding import b64, certificates, load_json, obj, rfc3339, text

MAX_TRUSTED_ROOT_BYTES = 1024 * 1024
MAX_INSTANCES = 64
MAX_CHAIN_CERTS = 10
Instance = TypeVar("Instance")
MEDIA_TYPES = frozenset({
    "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    "application/vnd.dev.sigstore.trustedroot.v0.1+json",
    "application/vnd.dev.sigstore.trustedroot.v0.2+json",
})


@dataclass(frozen=True)
class Validity:
    start: datetime | None
    end: datetime | None

    def contains(self, at: datetime) -> bool:
        return (self.start is None or self.start <= at) and (self.end is None or at <= self.end)


ALWAYS = Validity(None, None)


@dataclass(frozen=True)
class LogInstance:
    """A transparency log or CT log: its key, the id that names it (sha256 of the DER SPKI)."""

    log_id: bytes
    key: PublicKey
    validity: Validity
    base_url: str = ""


@dataclass(frozen=True)
class CertificateAuthority:
    """A Fulcio CA or a TSA: certChain is leaf-most first, the last certificate is the anchor."""

    chain: tuple[x509.Certificate, ...]
    validity: Validity
    uri: str = ""

    @property
    def anchor(self) -> x509.Certificate:
        return self.chain[-1]


@dataclass(frozen=True)
class TrustedRoot:
    tlogs: tuple[LogInstance, ...] = ()
    certificate_authorities: tuple[CertificateAuthority, ...] = ()
    ctlogs: tuple[LogInstance, ...] = ()
    timestamp_authorities: tuple[CertificateAuthority, ...] = ()
    source: str = ""

    def tlog(self, log_id: bytes) -> LogInstance:
        """The transparency log with this id; unknown ids are refused."""
        for log in self.tlogs:
            if log.log_id == log_id:
                return log
        raise CheckFailed(f"transparency log {log_id.hex()[:16]}… is not in the trusted root")

    def ctlog(self, log_id: bytes) -> LogInstance | None:
        return next((log for log in self.ctlogs if log.log_id == log_id), None)


def load_trusted_root(path: str | Path) -> TrustedRoot:
    """Read a trusted_root.json file; malformed files are InputError (exit 2) naming the file."""
    path = Path(path)
    # A capped read, not stat-then-read: st_size is 0 for pipes and devices (/dev/zero).
    data = read_limited_file(path, MAX_TRUSTED_ROOT_BYTES, what="trusted root")
    try:
        return parse_trusted_root(data, source=str(path))
    except CheckFailed as exc:
        raise InputError(f"{path}: {exc.message}") from None


def parse_trusted_root(data: bytes, *, source: str = "") -> TrustedRoot:
    doc = obj(load_json(data, "trusted root", max_bytes=MAX_TRUSTED_ROOT_BYTES), "trusted root")
    media_type = doc.get("mediaType")
    if not isinstance(media_type, str) or media_type not in MEDIA_TYPES:
        raise CheckFailed(f"trusted root: unsupported mediaType {str(media_type)[:80]!r}")
    return TrustedRoot(
        tlogs=_instances(doc, "tlogs", _log),
        certificate_authorities=_instances(doc, "certificateAuthorities", _authority),
        ctlogs=_instances(doc, "ctlogs", _log),
        timestamp_authorities=_instances(doc, "timestampAuthorities", _authority),
        source=source,
    )


def trusted_root_from_pems(*, fulcio_certs: bytes = b"", rekor_keys: tuple[bytes, ...] = (),
                           ctlog_keys: tuple[bytes, ...] = (), source: str = "") -> TrustedRoot:
    """Trust material given as separate PEM files (cosign's SIGSTORE_* variables, connaisseur
    configs): every certificate in `fulcio_certs` is one self-standing anchor, valid whenever the
    certificate itself is."""
    try:
        certs = x509.load_pem_x509_certificates(fulcio_certs) if fulcio_certs.strip() else []
    except ValueError:
        raise InputError("Fulcio certificates: not PEM certificates") from None
    cas = tuple(CertificateAuthority(chain=(cert,), validity=ALWAYS) for cert in certs[:MAX_INSTANCES])
    return TrustedRoot(tlogs=tuple(_log_from_pem(pem) for pem in rekor_keys),
                       certificate_authorities=cas,
                       ctlogs=tuple(_log_from_pem(pem) for pem in ctlog_keys), source=source)


def _log_from_pem(pem: bytes) -> LogInstance:
    key = load_public_key(pem).key
    return LogInstance(log_id=hashlib.sha256(spki_der(key)).digest(), key=key, validity=ALWAYS)


def _instances(doc: dict[str, Any], field: str, parse: Callable[[dict[str, Any], str], Instance]
               ) -> tuple[Instance, ...]:
    items = doc.get(field, [])
    if not isinstance(items, list) or len(items) > MAX_INSTANCES:
        raise CheckFailed(f"trusted root: {field} must be a list of at most {MAX_INSTANCES}")
    return tuple(parse(obj(item, f"{field}[{i}]"), f"{field}[{i}]") for i, item in enumerate(items))


def _validity(value: object, what: str) -> Validity:
    if value is None:
        return ALWAYS
    window = obj(value, what)
    start = rfc3339(window["start"], what + ".start") if "start" in window else None
    end = rfc3339(window["end"], what + ".end") if "end" in window else None
    return Validity(start, end)


def _log(item: dict[str, Any], what: str) -> LogInstance:
    key_doc = obj(item.get("publicKey"), what + ".publicKey")
    der = b64(key_doc.get("rawBytes"), what + ".publicKey.rawBytes", max_bytes=16 * 1024)
    try:
        key = load_public_key(der).key
    except InputError as exc:
        raise CheckFailed(f"{what}: {exc.message}") from None
    # Taken as given: Rekor v1/CT ids are sha256(SPKI) but Rekor v2 ids are signed-note key hashes.
    log_id = b64(obj(item.get("logId"), what + ".logId").get("keyId"), what + ".logId.keyId", max_bytes=64)
    return LogInstance(log_id=log_id, key=key, validity=_validity(key_doc.get("validFor"), what + ".validFor"),
                       base_url=text(item.get("baseUrl", ""), what + ".baseUrl"))


def _authority(item: dict[str, Any], what: str) -> CertificateAuthority:
    chain = certificates(obj(item.get("certChain"), what + ".certChain").get("certificates"), what + ".certChain",
                         max_count=MAX_CHAIN_CERTS)
    return CertificateAuthority(chain=chain, validity=_validity(item.get("validFor"), what + ".validFor"),
                                uri=text(item.get("uri", ""), what + ".uri"))
