"""notation's X.509 trust store: `<config>/truststore/x509/<ca|signingAuthority|tsa>/<name>/<files>`, each
file one or more PEM certificates or one DER certificate, as `notation cert add` leaves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from core.errors import ConfigError

MAX_FILES_PER_STORE = 100
MAX_CERT_FILE_BYTES = 256 * 1024


@dataclass
class TrustStore:
    """The trust store directory; named stores are read once, on first use."""

    root: Path
    _loaded: dict[tuple[str, str], tuple[x509.Certificate, ...] | None] = field(default_factory=dict)

    def certificates(self, store_type: str, name: str) -> tuple[x509.Certificate, ...] | None:
        """The certificates of `type:name`, or None when that store does not exist."""
        key = (store_type, name)
        if key not in self._loaded:
            self._loaded[key] = _read_store(self.root / "x509" / store_type / name)
        return self._loaded[key]


def _read_store(directory: Path) -> tuple[x509.Certificate, ...] | None:
    if not directory.is_dir():
        return None
    files = sorted(p for p in directory.iterdir() if p.is_file())
    if len(files) > MAX_FILES_PER_STORE:
        raise ConfigError(f"{directory}: more than {MAX_FILES_PER_STORE} files in one trust store")
    certs: list[x509.Certificate] = []
    for path in files:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CERT_FILE_BYTES + 1)
        if len(raw) > MAX_CERT_FILE_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CERT_FILE_BYTES} bytes")
        try:
            certs.extend(x509.load_pem_x509_certificates(raw) if b"-----BEGIN" in raw
                         else [x509.load_der_x509_certificate(raw)])
        except ValueError:
            raise ConfigError(f"{path}: not a PEM or DER certificate") from None
    return tuple(certs)
