"""A tiny RFC 3161 timestamp authority for tests: real CMS SignedData built with asn1crypto and
signed with `cryptography` (ECDSA P-256), issued from its own root, as a trusted root lists TSAs."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class TimestampAuthority:
    def __init__(self, start: datetime, *, name: str = "test-tsa") -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.key = ec.generate_private_key(ec.SECP256R1())
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name + "-root")])
        self.root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
                     .public_key(self.root_key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(start - timedelta(days=1)).not_valid_after(start + timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self.root_key, hashes.SHA256()))
        self.cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                     .issuer_name(root_name).public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(start - timedelta(days=1)).not_valid_after(start + timedelta(days=3650))
                     .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
                     .sign(self.root_key, hashes.SHA256()))

    def authority_json(self, start: datetime) -> dict:
        """The trusted-root `timestampAuthorities[]` entry for this TSA."""
        return {"subject": {"organization": "signet-test", "commonName": "test-tsa"}, "uri": "https://tsa.test",
                "certChain": {"certificates": [
                    {"rawBytes": base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()}
                    for c in (self.cert, self.root)]},
                "validFor": {"start": (start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}}

    def timestamp(self, message: bytes, at: datetime) -> bytes:
        """DER TimeStampResp whose imprint is sha256(message), genTime `at`."""
        tst_info = tsp.TSTInfo({
            "version": "v1", "policy": "1.3.6.1.4.1.57264.2", "serial_number": 1, "gen_time": at,
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                "hashed_message": hashlib.sha256(message).digest()}})
        signed_attrs = cms.CMSAttributes([
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "message_digest", "values": [hashlib.sha256(tst_info.dump()).digest()]}])
        signature = self.key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        issuer = asn1_x509.Certificate.load(self.cert.public_bytes(serialization.Encoding.DER)).issuer
        signer = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": {"issuer": issuer,
                                                                       "serial_number": self.cert.serial_number}}),
            "digest_algorithm": {"algorithm": "sha256"}, "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"}, "signature": signature})
        signed_data = cms.SignedData({
            "version": "v3", "digest_algorithms": [{"algorithm": "sha256"}],
            "encap_content_info": {"content_type": "tst_info", "content": tst_info}, "signer_infos": [signer]})
        return tsp.TimeStampResp({"status": {"status": "granted"},
                                  "time_stamp_token": {"content_type": "signed_data", "content": signed_data}}).dump()
