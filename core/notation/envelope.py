"""A Notary Project signature envelope, whichever its encoding (JWS or COSE_Sign1), and its integrity.

Both encodings carry the same signed attributes (notaryproject specification, signature-specification.md):
the signing scheme, the signing time (or the authentic signing time for `notary.x509.signingAuthority`),
an optional expiry, extended attributes (AWS Signer's profile and job), the payload (the target artifact
descriptor) and, unsigned, the certificate chain, the signing agent and an optional RFC 3161 countersignature.
The parsers (core/notation/jws.py, cose.py) fill `Envelope`; `check_integrity` is the one place that
verifies the signature bytes, for both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from core.errors import CheckFailed
from core.registry.reference import DIGEST_RE
from core.strict_json import loads_strict

MEDIA_TYPE_JWS = "application/jose+json"
MEDIA_TYPE_COSE = "application/cose"
ENVELOPE_FORMATS = {MEDIA_TYPE_JWS: "notation-jws", MEDIA_TYPE_COSE: "notation-cose"}
PAYLOAD_CONTENT_TYPE = "application/vnd.cncf.notary.payload.v1+json"
SCHEME_X509 = "notary.x509"
SCHEME_SIGNING_AUTHORITY = "notary.x509.signingAuthority"
SCHEMES = (SCHEME_X509, SCHEME_SIGNING_AUTHORITY)

SIGNING_SCHEME = "io.cncf.notary.signingScheme"
SIGNING_TIME = "io.cncf.notary.signingTime"
AUTHENTIC_SIGNING_TIME = "io.cncf.notary.authenticSigningTime"
EXPIRY = "io.cncf.notary.expiry"
SIGNING_AGENT = "io.cncf.notary.signingAgent"
TIMESTAMP_SIGNATURE = "io.cncf.notary.timestampSignature"
VERIFICATION_PLUGIN = "io.cncf.notary.verificationPlugin"
VERIFICATION_PLUGIN_MIN_VERSION = "io.cncf.notary.verificationPluginMinVersion"
# AWS Signer's plugin and critical extended attributes: Signet does that plugin's checks itself
# (core/notation/aws_signer.py); a signature that needs any other plugin fails closed.
AWS_PLUGIN = "com.amazonaws.signer.notation.plugin"
AWS_PROFILE_VERSION = "com.amazonaws.signer.signingProfileVersion"
AWS_SIGNING_JOB = "com.amazonaws.signer.signingJob"
AWS_PROFILE_ALIAS = "com.amazonaws.signer.signingProfileAlias"
KNOWN_EXTENDED = frozenset({VERIFICATION_PLUGIN, VERIFICATION_PLUGIN_MIN_VERSION, AWS_PROFILE_VERSION,
                            AWS_SIGNING_JOB, AWS_PROFILE_ALIAS})

MAX_ENVELOPE_BYTES = 1024 * 1024
MAX_CHAIN_CERTS = 10
MAX_CERT_BYTES = 64 * 1024
MAX_PAYLOAD_BYTES = 64 * 1024

# Algorithm name -> (hash, key kind, key size or curve) as the specification ties them together.
_ALGORITHMS: dict[str, tuple[type[hashes.HashAlgorithm], str, object]] = {
    "PS256": (hashes.SHA256, "rsa", 2048), "PS384": (hashes.SHA384, "rsa", 3072),
    "PS512": (hashes.SHA512, "rsa", 4096),
    "ES256": (hashes.SHA256, "ec", "secp256r1"), "ES384": (hashes.SHA384, "ec", "secp384r1"),
    "ES512": (hashes.SHA512, "ec", "secp521r1"),
}
ALGORITHMS = frozenset(_ALGORITHMS)


@dataclass(frozen=True)
class TargetArtifact:
    media_type: str
    digest: str
    size: int


@dataclass(frozen=True)
class Envelope:
    format: str                       # "notation-jws" | "notation-cose"
    algorithm: str                    # PS256 ... ES512
    signing_scheme: str
    signing_time: datetime | None     # notary.x509: claimed by the signer
    authentic_signing_time: datetime | None  # notary.x509.signingAuthority: vouched for by the authority
    expiry: datetime | None
    content_type: str
    payload: bytes
    signed_bytes: bytes               # exactly what the signature covers
    signature: bytes                  # JWS/COSE form (ECDSA raw r||s)
    chain: tuple[x509.Certificate, ...]
    critical: tuple[str, ...]
    extended: dict[str, str] = field(default_factory=dict)
    signing_agent: str = ""
    timestamp_token: bytes | None = None

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]


def header_text(header: Mapping[Any, Any], label: str | int, encoding: str) -> str:
    """An optional text attribute of a protected header ("" when absent); any other type is refused."""
    value = header.get(label, "")
    if not isinstance(value, str):
        raise CheckFailed(f"{encoding} header {label} is not a string")
    return value


def header_time(header: Mapping[Any, Any], label: str,
                decode: Callable[[object, str], datetime]) -> datetime | None:
    """An optional time attribute of a protected header (None when absent), read the way its encoding writes
    times (`decode` refuses anything else)."""
    value = header.get(label)
    return None if value is None else decode(value, label)


def check_headers(env: Envelope) -> None:
    """Rules every notation envelope meets before its signature is even looked at. Unknown critical
    attributes fail closed: a verifier must understand everything the signer marked critical."""
    if env.algorithm not in ALGORITHMS:
        raise CheckFailed(f"unsupported signature algorithm {env.algorithm[:20]!r}")
    if env.content_type != PAYLOAD_CONTENT_TYPE:
        raise CheckFailed(f"payload content type {env.content_type[:80]!r} is not {PAYLOAD_CONTENT_TYPE}")
    if env.signing_scheme not in SCHEMES:
        raise CheckFailed(f"unknown signing scheme {env.signing_scheme[:60]!r}")
    if len(set(env.critical)) != len(env.critical):
        raise CheckFailed("critical header list repeats an entry")
    required = {SIGNING_SCHEME}
    if env.expiry is not None:
        required.add(EXPIRY)
    if env.signing_scheme == SCHEME_SIGNING_AUTHORITY:
        required.add(AUTHENTIC_SIGNING_TIME)
    missing = required - set(env.critical)
    if missing:
        raise CheckFailed(f"{sorted(missing)[0]} must be marked critical")
    understood = {SIGNING_SCHEME, EXPIRY, AUTHENTIC_SIGNING_TIME} | KNOWN_EXTENDED
    unknown = [name for name in env.critical if name not in understood]
    if unknown:
        raise CheckFailed(f"unknown critical header {unknown[0][:80]!r}")
    plugin = env.extended.get(VERIFICATION_PLUGIN)
    if VERIFICATION_PLUGIN in env.critical and plugin != AWS_PLUGIN:
        raise CheckFailed(f"the signature needs verification plugin {str(plugin)[:80]!r}, which Signet does not run")
    if env.signing_scheme == SCHEME_X509 and env.signing_time is None:
        raise CheckFailed(f"{SIGNING_TIME} is missing")
    if env.signing_scheme == SCHEME_SIGNING_AUTHORITY and env.authentic_signing_time is None:
        raise CheckFailed(f"{AUTHENTIC_SIGNING_TIME} is missing")
    signed_at = env.signing_time or env.authentic_signing_time
    if env.expiry is not None and signed_at is not None and env.expiry <= signed_at:
        raise CheckFailed("expiry is not after the signing time")
    if not env.chain:
        raise CheckFailed("certificate chain is not present")


def check_integrity(env: Envelope) -> TargetArtifact:
    """The signature over the signed bytes with the leaf's key, an algorithm that fits that key, and a
    well-formed payload. Returns the target artifact the payload names."""
    check_headers(env)
    hash_cls, kind, size = _ALGORITHMS[env.algorithm]
    key = env.leaf.public_key()
    try:
        if kind == "rsa":
            if not isinstance(key, rsa.RSAPublicKey) or key.key_size != size:
                raise CheckFailed(f"{env.algorithm} does not fit the signing certificate's key")
            algorithm = hash_cls()
            key.verify(env.signature, env.signed_bytes,
                       padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size), algorithm)
        else:
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != size:
                raise CheckFailed(f"{env.algorithm} does not fit the signing certificate's key")
            half = (key.curve.key_size + 7) // 8
            if len(env.signature) != 2 * half:
                raise CheckFailed("ECDSA signature has the wrong length")
            der = encode_dss_signature(int.from_bytes(env.signature[:half], "big"),
                                       int.from_bytes(env.signature[half:], "big"))
            key.verify(der, env.signed_bytes, ec.ECDSA(hash_cls()))
    except InvalidSignature:
        raise CheckFailed("signature does not verify with the signing certificate's key") from None
    return parse_payload(env.payload)


def parse_payload(payload: bytes) -> TargetArtifact:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CheckFailed("payload larger than allowed")
    doc = loads_strict(payload, what="notation payload", error=CheckFailed)
    target = doc.get("targetArtifact") if isinstance(doc, dict) else None
    if not isinstance(target, dict):
        raise CheckFailed("payload has no targetArtifact")
    media_type, digest, size = target.get("mediaType"), target.get("digest"), target.get("size")
    if not isinstance(media_type, str) or not isinstance(digest, str) or not DIGEST_RE.match(digest) \
            or not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise CheckFailed("payload targetArtifact needs mediaType, a sha256 digest and a size")
    return TargetArtifact(media_type=media_type, digest=digest, size=size)


def load_chain(ders: list[bytes]) -> tuple[x509.Certificate, ...]:
    if not ders:
        raise CheckFailed("certificate chain is not present")
    if len(ders) > MAX_CHAIN_CERTS:
        raise CheckFailed(f"certificate chain of {len(ders)} certificates (at most {MAX_CHAIN_CERTS})")
    chain = []
    for der in ders:
        if len(der) > MAX_CERT_BYTES:
            raise CheckFailed("certificate larger than allowed")
        try:
            chain.append(x509.load_der_x509_certificate(der))
        except ValueError:
            raise CheckFailed("certificate chain holds something that is not a DER certificate") from None
    return tuple(chain)
