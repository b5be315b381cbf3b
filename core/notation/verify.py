"""Verify notation signatures the way notation-go does (`notation verify`), offline.

Per signature, in order: integrity (always enforced), authenticity (chain to a certificate in the trust
store, trusted identity), expiry, authentic timestamp, revocation; each failure is enforced, logged or
skipped as the statement's level and overrides say. Then the payload's target artifact must be the image.
The first signature that passes verifies the image; a statement at level skip verifies nothing (Signet
never counts it as a signer). Revocation needs CRL/OCSP over the network: offline it is "unknown", which a
statement enforcing revocation treats as a failure, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Callable

from asn1crypto import cms, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from core.errors import CheckFailed
from core.notation.aws_signer import (WILDCARD_REFUSED, SignerRevocationClient, identity_matches, is_aws_signed,
                                      revocation_status)
from core.notation.envelope import (AWS_PROFILE_VERSION, SCHEME_SIGNING_AUTHORITY, Envelope, TargetArtifact,
                                    check_integrity)
from core.notation.trust_policy import TrustStatement
from core.notation.trust_store import TrustStore
from core.sigstore.fulcio import valid_at
from core.sigstore.timestamp import verify_timestamp
from core.sigstore.trusted_root import ALWAYS, CertificateAuthority, TrustedRoot


@dataclass(frozen=True)
class NotationVerdict:
    """What checking one signature against one trust policy statement found."""

    ok: bool
    reason: str                      # empty when ok; the enforced failure otherwise
    # integrity | authenticity | trustedIdentity | expiry | authenticTimestamp | revocation
    failed_check: str = ""
    logged: tuple[str, ...] = ()     # failures the level only logs
    identity: str = ""               # leaf subject (RFC 4514)
    signing_time: datetime | None = None
    expiry: datetime | None = None
    statement: str = ""


class _Failure(Exception):
    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason


def verify_envelope(env: Envelope, image: TargetArtifact, statement: TrustStatement, store: TrustStore,
                    now: datetime, signer_client: SignerRevocationClient | None = None) -> NotationVerdict:
    """One parsed envelope against the statement that applies to the image's scope."""
    logged: list[str] = []
    identity = env.leaf.subject.rfc4514_string() if env.chain else ""
    signed_at = env.signing_time or env.authentic_signing_time

    def run(check: str, fn: Callable[[], None]) -> None:
        action = statement.actions[check]
        if action == "skip":
            return
        try:
            fn()
        except _Failure as failure:
            if action == "enforce":
                raise
            logged.append(f"{failure.check}: {failure.reason}")

    try:
        try:
            target = check_integrity(env)
        except CheckFailed as exc:
            raise _Failure("integrity", str(exc)) from None
        run("authenticity", lambda: _authenticity(env, statement, store))
        run("expiry", lambda: _expiry(env, now))
        run("authenticTimestamp", lambda: _authentic_timestamp(env, statement, store, now))
        run("revocation", lambda: _revocation(env, signer_client))
        if target != image:
            raise _Failure("integrity", f"signed for {target.digest[:19]}… ({target.media_type}, {target.size} bytes), "
                                        f"not this image ({image.digest[:19]}…)")
    except _Failure as failure:
        return NotationVerdict(False, f"{failure.check}: {failure.reason}", failure.check, tuple(logged), identity,
                               signed_at, env.expiry, statement.name)
    return NotationVerdict(True, "", "", tuple(logged), identity, signed_at, env.expiry, statement.name)


def _authenticity(env: Envelope, statement: TrustStatement, store: TrustStore) -> None:
    try:
        _check_chain(env.chain)
    except CheckFailed as exc:
        raise _Failure("authenticity", str(exc)) from None
    wanted = "signingAuthority" if env.signing_scheme == SCHEME_SIGNING_AUTHORITY else "ca"
    names = [name for kind, name in statement.trust_stores if kind == wanted]
    if not names:
        raise _Failure("authenticity",
                       f"the trust policy names no {wanted}: trust store for scheme {env.signing_scheme}")
    trusted: list[x509.Certificate] = []
    for name in names:
        certs = store.certificates(wanted, name)
        if certs is None:
            raise _Failure("authenticity", f"trust store {wanted}:{name} does not exist in {store.root}")
        trusted.extend(certs)
    trusted_der = {cert.public_bytes(Encoding.DER) for cert in trusted}
    if not any(cert.public_bytes(Encoding.DER) in trusted_der for cert in env.chain):
        raise _Failure("authenticity", "the signature's certificate chain does not contain any trusted certificate")
    if is_aws_signed(env):
        if statement.wildcard_identity:
            raise _Failure("trustedIdentity", WILDCARD_REFUSED)
        if identity_matches(env, statement.signer_identities) is None:
            raise _Failure("trustedIdentity", f"signing profile {env.extended.get(AWS_PROFILE_VERSION, '?')[:160]} "
                                              "matches none of the trust policy's AWS Signer identities")
        return
    if not statement.wildcard_identity and not any(dn.matches(env.leaf.subject)
                                                   for dn in statement.trusted_identities):
        raise _Failure("trustedIdentity", f"signing certificate {env.leaf.subject.rfc4514_string()[:160]} does not "
                                          "match the X.509 trusted identities of the trust policy")


def _check_chain(chain: tuple[x509.Certificate, ...]) -> None:
    """Leaf first, each certificate issued by the next, ending in a self-signed root; the leaf may sign code."""
    leaf = chain[0]
    for cert, issuer in pairwise(chain):
        if not _issued(cert, issuer):
            raise CheckFailed("certificate chain is not in order (a certificate is not issued by the next)")
        if not _is_ca(issuer):
            raise CheckFailed("certificate chain has a non-CA certificate above the leaf")
    if chain[-1].issuer != chain[-1].subject or not _issued(chain[-1], chain[-1]):
        raise CheckFailed("certificate chain does not end in a self-signed root")
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.digital_signature:
            raise CheckFailed("signing certificate may not sign (no digitalSignature key usage)")
    except x509.ExtensionNotFound:
        raise CheckFailed("signing certificate has no key usage extension") from None
    try:
        ekus = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CODE_SIGNING not in ekus:
            raise CheckFailed("signing certificate is not for code signing")
    except x509.ExtensionNotFound:
        pass


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _expiry(env: Envelope, now: datetime) -> None:
    if env.expiry is not None and now >= env.expiry:
        raise _Failure("expiry", f"signature expired at {env.expiry.isoformat()}")


def _authentic_timestamp(env: Envelope, statement: TrustStatement, store: TrustStore, now: datetime) -> None:
    if env.signing_scheme == SCHEME_SIGNING_AUTHORITY:
        # The authority vouches for the signing time: the chain must have been valid then.
        at = env.authentic_signing_time
        assert at is not None  # check_headers requires it for this scheme
        _valid_throughout(env.chain, at, at, "at the authentic signing time")
        return
    tsa_names = [name for kind, name in statement.trust_stores if kind == "tsa"]
    if not tsa_names:
        _valid_throughout(env.chain, now, now, "now (no tsa: trust store, so timestamps are not used)")
        return
    if statement.verify_timestamp == "afterCertExpiry" and all(valid_at(c, now) for c in env.chain):
        return
    if env.timestamp_token is None:
        raise _Failure("authenticTimestamp", "no RFC 3161 timestamp countersignature, which the trust policy requires")
    roots: list[x509.Certificate] = []
    for name in tsa_names:
        certs = store.certificates("tsa", name)
        if certs is None:
            raise _Failure("authenticTimestamp", f"trust store tsa:{name} does not exist in {store.root}")
        roots.extend(certs)
    earliest, latest = _timestamp_range(env.timestamp_token, env.signature, roots)
    _valid_throughout(env.chain, earliest, latest, "throughout the timestamp's time range")


def _valid_throughout(chain: tuple[x509.Certificate, ...], start: datetime, end: datetime, when: str) -> None:
    for cert in chain:
        if not (valid_at(cert, start) and valid_at(cert, end)):
            raise _Failure("authenticTimestamp", f"certificate {cert.subject.rfc4514_string()[:120]} "
                                                 f"(valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                                                 f"{cert.not_valid_after_utc:%Y-%m-%d}) is not valid {when}")


def _timestamp_range(token_der: bytes, signature: bytes, roots: list[x509.Certificate]) -> tuple[datetime, datetime]:
    """Verify the countersignature with the shared RFC 3161 code, the TSA's chain built from the token's
    certificates up to a root in the tsa: stores; returns genTime -/+ accuracy."""
    try:
        token = cms.ContentInfo.load(token_der, strict=True)
        response = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()
        carried = [x509.load_der_x509_certificate(c.chosen.dump()) for c in token["content"]["certificates"]]
        tst_info = tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].contents)
        accuracy = tst_info["accuracy"]
    except (ValueError, TypeError, KeyError):
        raise _Failure("authenticTimestamp", "the timestamp countersignature is malformed") from None
    authorities = tuple(CertificateAuthority(chain=chain, validity=ALWAYS)
                        for chain in _tsa_chains(carried, roots))
    if not authorities:
        raise _Failure("authenticTimestamp", "the timestamp's certificate chain does not lead to a trusted tsa: root")
    try:
        gen_time = verify_timestamp(response, signature, TrustedRoot(timestamp_authorities=authorities))
    except CheckFailed as exc:
        raise _Failure("authenticTimestamp", str(exc)) from None
    slack = timedelta(seconds=(accuracy["seconds"].native or 0) if accuracy.native else 0,
                      milliseconds=(accuracy["millis"].native or 0) if accuracy.native else 0,
                      microseconds=(accuracy["micros"].native or 0) if accuracy.native else 0)
    return gen_time - slack, gen_time + slack


def _tsa_chains(carried: list[x509.Certificate], roots: list[x509.Certificate]) -> list[tuple[x509.Certificate, ...]]:
    """Every path leaf -> ... -> trusted root through the token's certificates (each link signature-checked)."""
    pool = carried + roots
    root_der = {r.public_bytes(Encoding.DER) for r in roots}
    chains = []
    for leaf in carried:
        path = [leaf]
        while path[-1].public_bytes(Encoding.DER) not in root_der and len(path) <= 6:
            issuer = next((c for c in pool if c.subject == path[-1].issuer and c not in path and _issued(path[-1], c)),
                          None)
            if issuer is None:
                break
            path.append(issuer)
        if path[-1].public_bytes(Encoding.DER) in root_der:
            chains.append(tuple(path))
    return chains


def _issued(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether `issuer` signed `cert`: a fact about the two certificates' bytes alone, so it is
    remembered (every image a CA's signer signs shares the same links)."""
    return _issued_der(cert.public_bytes(Encoding.DER), issuer.public_bytes(Encoding.DER))


@lru_cache(maxsize=1024)
def _issued_der(cert_der: bytes, issuer_der: bytes) -> bool:
    try:
        x509.load_der_x509_certificate(cert_der).verify_directly_issued_by(
            x509.load_der_x509_certificate(issuer_der))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _revocation(env: Envelope, signer_client: SignerRevocationClient | None) -> None:
    """AWS Signer signatures: asked of signer:GetRevocationStatus when a client is given. Otherwise offline:
    certificates that name a CRL or OCSP responder cannot be checked, so their status is unknown."""
    if is_aws_signed(env):
        if signer_client is None:
            raise _Failure("revocation", "revocation status is unknown (AWS Signer signatures are checked with "
                                         "signer:GetRevocationStatus, which was not consulted)")
        revoked, why = revocation_status(signer_client, env)
        if revoked is None:
            raise _Failure("revocation", f"revocation status is unknown: {why}")
        if revoked:
            raise _Failure("revocation", why)
        return
    for cert in env.chain:
        if _revocation_pointers(cert):
            raise _Failure("revocation", f"revocation status of {cert.subject.rfc4514_string()[:120]} is unknown "
                                         "(it names CRL/OCSP endpoints and Signet verifies offline)")


def _revocation_pointers(cert: x509.Certificate) -> bool:
    try:
        cert.extensions.get_extension_for_class(x509.CRLDistributionPoints)
        return True
    except x509.ExtensionNotFound:
        pass
    try:
        access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        return any(d.access_method == AuthorityInformationAccessOID.OCSP for d in access)
    except x509.ExtensionNotFound:
        return False

