"""Self-made Notary Project signatures for tests (marked as such wherever used): a CA + leaf chain made with
`cryptography`, JWS and COSE envelopes signed over a target artifact, and the signature manifest that
carries an envelope as an OCI referrer. Real notation outputs live in tests/fixtures/notation."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.oci import OCI_MANIFEST, descriptor, push_blob, push_manifest

NOW = datetime.now(timezone.utc).replace(microsecond=0)
P256 = ec.SECP256R1()
_HASH = {"PS256": hashes.SHA256, "PS384": hashes.SHA384, "PS512": hashes.SHA512,
         "ES256": hashes.SHA256, "ES384": hashes.SHA384, "ES512": hashes.SHA512}
_COSE_ALG = {"PS256": -37, "PS384": -38, "PS512": -39, "ES256": -7, "ES384": -35, "ES512": -36}


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                      x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "WA"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Signet Tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class Signer:
    key: Any
    chain: list[x509.Certificate]   # leaf first, root last

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def root(self) -> x509.Certificate:
        return self.chain[-1]


def _ca(name: x509.Name, key: Any, issuer: x509.Name, issuer_key: Any, start: datetime) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(name).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(issuer_key, hashes.SHA256()))


def make_signer(cn: str = "signet-test-signer", *, curve: ec.EllipticCurve | None = P256,
                rsa_bits: int = 2048, valid_days: int = 365, not_before: datetime | None = None,
                intermediate: bool = False) -> Signer:
    """A root CA (and an intermediate, if asked) and a code-signing leaf under it (ECDSA by default;
    RSA when curve is None)."""
    start = not_before or NOW - timedelta(days=1)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _ca(_name(f"{cn} root"), root_key, _name(f"{cn} root"), root_key, start)
    cas, issuer, issuer_key = [root], root, root_key
    if intermediate:
        issuer_key = ec.generate_private_key(ec.SECP256R1())
        issuer = _ca(_name(f"{cn} intermediate"), issuer_key, root.subject, root_key, start)
        cas.insert(0, issuer)
    key = ec.generate_private_key(curve) if curve is not None else rsa.generate_private_key(65537, rsa_bits)
    leaf = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + timedelta(days=valid_days))
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    return Signer(key=key, chain=[leaf, *cas])


def payload_for(digest: str, size: int, media_type: str = "application/vnd.oci.image.manifest.v1+json") -> bytes:
    return json.dumps({"targetArtifact": {"digest": digest, "mediaType": media_type, "size": size}},
                      separators=(",", ":")).encode()


def _sign(signer: Signer, alg: str, data: bytes) -> bytes:
    hash_cls = _HASH[alg]
    if alg.startswith("PS"):
        return signer.key.sign(data, padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=hash_cls.digest_size),
                               hash_cls())
    r, s = decode_dss_signature(signer.key.sign(data, ec.ECDSA(hash_cls())))
    half = (signer.key.curve.key_size + 7) // 8
    return r.to_bytes(half, "big") + s.to_bytes(half, "big")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jws_envelope(signer: Signer, payload: bytes, *, alg: str = "ES256", scheme: str = "notary.x509",
                 signing_time: datetime = NOW, expiry: datetime | None = None,
                 extra_protected: dict[str, Any] | None = None, extra_crit: tuple[str, ...] = (),
                 chain: list[x509.Certificate] | None = None) -> bytes:
    header: dict[str, Any] = {"alg": alg, "cty": "application/vnd.cncf.notary.payload.v1+json",
                              "io.cncf.notary.signingScheme": scheme}
    crit = ["io.cncf.notary.signingScheme", *extra_crit]
    if scheme == "notary.x509":
        header["io.cncf.notary.signingTime"] = signing_time.isoformat()
    else:
        header["io.cncf.notary.authenticSigningTime"] = signing_time.isoformat()
        crit.append("io.cncf.notary.authenticSigningTime")
    if expiry is not None:
        header["io.cncf.notary.expiry"] = expiry.isoformat()
        crit.append("io.cncf.notary.expiry")
    header.update(extra_protected or {})
    header["crit"] = crit
    protected = _b64url(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    body = _b64url(payload)
    signature = _sign(signer, alg, f"{protected}.{body}".encode())
    certs = chain if chain is not None else signer.chain
    return json.dumps({"payload": body, "protected": protected, "signature": _b64url(signature),
                       "header": {"x5c": [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in certs],
                                  "io.cncf.notary.signingAgent": "signet-tests/1.0"}}).encode()


def cose_envelope(signer: Signer, payload: bytes, *, alg: str = "ES256", signing_time: datetime = NOW,
                  expiry: datetime | None = None, extra_protected: dict[Any, Any] | None = None,
                  extra_crit: tuple[Any, ...] = ()) -> bytes:
    protected: dict[Any, Any] = {1: _COSE_ALG[alg], 3: "application/vnd.cncf.notary.payload.v1+json",
                                 "io.cncf.notary.signingScheme": "notary.x509",
                                 "io.cncf.notary.signingTime": cbor2.CBORTag(1, int(signing_time.timestamp()))}
    crit: list[Any] = ["io.cncf.notary.signingScheme", *extra_crit]
    if expiry is not None:
        protected["io.cncf.notary.expiry"] = cbor2.CBORTag(1, int(expiry.timestamp()))
        crit.append("io.cncf.notary.expiry")
    protected.update(extra_protected or {})
    protected[2] = crit
    protected_raw = cbor2.dumps(protected)
    signature = _sign(signer, alg, cbor2.dumps(["Signature1", protected_raw, b"", payload]))
    unprotected = {33: [c.public_bytes(Encoding.DER) for c in signer.chain],
                   "io.cncf.notary.signingAgent": "signet-tests/1.0"}
    return cbor2.dumps(cbor2.CBORTag(18, [protected_raw, unprotected, payload, signature]))


def signature_manifest(subject: dict[str, Any], envelope_digest: str, envelope_size: int,
                       envelope_media_type: str = "application/jose+json") -> dict[str, Any]:
    """The manifest `notation sign` pushes: artifactType/config notary signature, one envelope layer."""
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.cncf.notary.signature",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                       "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2},
            "layers": [{"mediaType": envelope_media_type, "digest": envelope_digest, "size": envelope_size}],
            "subject": subject}


def attach_to_registry(base_url: str, repository: str, image_digest: str, image_size: int, envelope: bytes,
                       *, envelope_media_type: str = "application/jose+json") -> str:
    """Push a notation signature for an image to a real registry as `notation sign` does on a registry
    without the referrers API: envelope blob, signature manifest (subject = the image), and the
    `sha256-<hex>` referrers fallback index listing it. Returns the signature manifest digest."""
    push_blob(base_url, repository, envelope)
    push_blob(base_url, repository, b"{}")
    raw = json.dumps(signature_manifest({"mediaType": OCI_MANIFEST, "digest": image_digest, "size": image_size},
                                        descriptor(envelope, envelope_media_type)["digest"], len(envelope),
                                        envelope_media_type)).encode()
    digest = push_manifest(base_url, repository, descriptor(raw, OCI_MANIFEST)["digest"], raw)
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(raw),
         "artifactType": "application/vnd.cncf.notary.signature"}]}).encode()
    push_manifest(base_url, repository, image_digest.replace(":", "-"), index,
                  "application/vnd.oci.image.index.v1+json")
    return digest


def write_notation_config(directory: Path, store_certs: dict[str, list[x509.Certificate]],
                          statements: list[dict[str, Any]]) -> Path:
    """A notation config directory: trustpolicy.json and truststore/x509/<type>/<name>/ with PEM files."""
    for name, certs in store_certs.items():
        kind, store = name.split(":")
        folder = directory / "truststore" / "x509" / kind / store
        folder.mkdir(parents=True, exist_ok=True)
        for i, cert in enumerate(certs):
            (folder / f"cert{i}.crt").write_bytes(cert.public_bytes(Encoding.PEM))
    (directory / "trustpolicy.json").write_text(json.dumps({"version": "1.0", "trustPolicies": statements}))
    return directory


def statement(name: str = "all", scopes: tuple[str, ...] = ("*",), stores: tuple[str, ...] = ("ca:corp",),
              level: str = "strict", identities: tuple[str, ...] = ("*",)) -> dict[str, Any]:
    return {"name": name, "registryScopes": list(scopes), "signatureVerification": {"level": level},
            "trustStores": list(stores), "trustedIdentities": list(identities)}
