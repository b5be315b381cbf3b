"""Crypto bad input: mutated payloads, signatures, keys, certificates and bundles never verify and
never crash.

Properties (hypothesis) run against the real verification paths: classic `.sig` signatures through
`verify_images` on a loopback registry, and Sigstore bundles through `parse_bundle` +
`verify_bundle` with our own Fulcio-like CA and log (tests/support/sigstore_factory.py). Each
property starts from material that verifies (asserted first), so a failure to verify is caused by
the mutation alone.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.crypto.ed25519ph import sign_ed25519ph
from core.crypto.public_keys import load_public_key, verify_signature
from core.errors import CheckFailed, InputError, RegistryError
from core.sigstore.bundle import parse_bundle
from core.sigstore.certificate_identity import CertificateIdentity
from core.sigstore.trusted_root import load_trusted_root
from core.sigstore.verifier import SigstoreTrust, verify_bundle
from core.verify.simple_signing import parse_payload
from tests.support.hostile_registry import (HostileRegistry, assert_refused, cosign_signature, publish_signed_image,
                                            sig_manifest, verify)
from tests.support.sigstore_factory import T0, FakeSigstore, _der_utf8, envelope, statement

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW_FUZZ = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Positions are drawn independently of the length they index (signatures vary in length between
# runs), so hypothesis can replay and shrink examples.
POSITION = st.integers(0, 1 << 16)


# --- classic signatures through verify_images ---------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    registry = HostileRegistry()
    image = publish_signed_image(registry)
    home = tmp_path_factory.mktemp("fuzz-home")
    yield registry, image, home
    registry.stop()


def _verify_layers(world, layers: list[tuple[bytes, str]], public_pem: bytes | None = None):
    registry, image, home = world
    registry.add_manifest(image.repo, sig_manifest(registry, layers), "application/vnd.oci.image.manifest.v1+json",
                          image.sig_tag)
    result, _ = verify(home, image.reference, public_pem or image.public_pem)
    return result


def test_the_unmutated_signature_verifies(world):
    _, image, _ = world
    assert _verify_layers(world, [(image.payload, image.signature_b64)]).result == "verified"


@FUZZ
@given(data=st.data())
def test_any_payload_mutation_is_invalid(world, data):
    _, image, _ = world
    payload = bytearray(image.payload)
    kind = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
    at = data.draw(st.integers(0, len(payload) - 1))
    if kind == "flip":
        payload[at] ^= data.draw(st.integers(1, 255))
    elif kind == "insert":
        payload[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    elif kind == "delete":
        del payload[at]
    else:
        payload = payload[:at]
    assert_refused(_verify_layers(world, [(bytes(payload), image.signature_b64)]), "invalid")


@FUZZ
@given(data=st.data())
def test_any_signature_mutation_is_invalid(world, data):
    _, image, _ = world
    signature = bytearray(base64.b64decode(image.signature_b64))
    kind = data.draw(st.sampled_from(["flip", "truncate", "extend", "random"]))
    if kind == "flip":
        signature[data.draw(st.integers(0, len(signature) - 1))] ^= data.draw(st.integers(1, 255))
    elif kind == "truncate":
        signature = signature[:data.draw(st.integers(0, len(signature) - 1))]
    elif kind == "extend":
        signature += data.draw(st.binary(min_size=1, max_size=16))
    else:
        signature = bytearray(data.draw(st.binary(max_size=140)))
    encoded = base64.b64encode(bytes(signature)).decode()
    assert_refused(_verify_layers(world, [(image.payload, encoded)]), "invalid")


def _wrong_encodings(image) -> dict[str, str]:
    der = base64.b64decode(image.signature_b64)
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return {
        "raw-r-s": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(der).decode().rstrip("="),
        "hex": der.hex(),
        "empty": "",
        "der-plus-trailing-byte": base64.b64encode(der + b"\0").decode(),
        "double-base64": base64.b64encode(image.signature_b64.encode()).decode(),
        "whitespace": " " + image.signature_b64 + "\n",
    }


@pytest.mark.parametrize("encoding", ["raw-r-s", "base64url", "hex", "empty", "der-plus-trailing-byte",
                                      "double-base64", "whitespace"])
def test_signature_in_the_wrong_encoding_is_invalid(world, encoding):
    _, image, _ = world
    signature = _wrong_encodings(image)[encoding]
    assert_refused(_verify_layers(world, [(image.payload, signature)]), "invalid")


@pytest.mark.parametrize("key_type", ["p384", "rsa2048", "ed25519", "other-p256"])
def test_trusting_another_key_of_any_type_is_invalid(world, key_type):
    _, image, _ = world
    private = {"p384": lambda: ec.generate_private_key(ec.SECP384R1()),
               "rsa2048": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
               "ed25519": ed25519.Ed25519PrivateKey.generate,
               "other-p256": lambda: ec.generate_private_key(ec.SECP256R1())}[key_type]()
    pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    assert_refused(_verify_layers(world, [(image.payload, image.signature_b64)], public_pem=pem), "invalid")


@pytest.mark.parametrize("claim", ["other-digest", "case-variant-keys", "duplicate-digest-key", "no-type",
                                   "wrong-type", "critical-not-object", "trailing-garbage"])
def test_signed_payload_with_a_bad_claim_is_invalid(world, claim):
    """Properly signed by the trusted key, but the claim itself does not hold."""
    registry, image, _ = world
    digest = image.digest
    identity = {"docker-reference": f"{registry.host}/{image.repo}"}
    docs = {
        "other-digest": {"critical": {"identity": identity, "image": {"docker-manifest-digest": "sha256:" + "1" * 64},
                                      "type": "cosign container image signature"}, "optional": None},
        "case-variant-keys": {"Critical": {"identity": identity, "Image": {"Docker-manifest-digest": digest},
                                           "Type": "cosign container image signature"}, "optional": None},
        "no-type": {"critical": {"identity": identity, "image": {"docker-manifest-digest": digest}}, "optional": None},
        "wrong-type": {"critical": {"identity": identity, "image": {"docker-manifest-digest": digest},
                                    "type": "https://in-toto.io/Statement/v1"}, "optional": None},
        "critical-not-object": {"critical": [digest], "optional": None},
    }
    if claim in docs:
        payload = json.dumps(docs[claim]).encode()
    elif claim == "duplicate-digest-key":
        payload = (b'{"critical":{"identity":{},"image":{"docker-manifest-digest":"sha256:' + b"1" * 64 +
                   b'","docker-manifest-digest":"' + digest.encode() +
                   b'"},"type":"cosign container image signature"},"optional":null}')
    else:
        payload = image.payload + b"garbage"
    signature = cosign_signature(image.private_key, payload)
    assert_refused(_verify_layers(world, [(payload, signature)]), "invalid")


# --- parsers never crash --------------------------------------------------------------------------------


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=20)


@FUZZ
@given(raw=st.binary(max_size=512) | JSON.map(lambda v: json.dumps(v).encode()))
def test_payload_parser_returns_or_raises_registry_error(raw):
    try:
        parse_payload(raw)
    except RegistryError:
        pass


@FUZZ
@given(claims=st.fixed_dictionaries({"critical": st.fixed_dictionaries(
    {"image": st.fixed_dictionaries({"docker-manifest-digest": JSON}), "type": JSON, "identity": JSON}),
    "optional": JSON}))
def test_payload_parser_on_near_valid_claims(claims):
    try:
        parsed = parse_payload(json.dumps(claims).encode())
    except RegistryError:
        return
    assert isinstance(parsed.digest, str) and isinstance(parsed.type, str) and isinstance(parsed.optional, dict)


def _pem_of(private) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("key_type", ["dsa", "x25519", "x448", "ed448", "rsa1024", "secp256k1"])
def test_keys_of_unexpected_types_are_refused_clearly(key_type):
    private = {"dsa": lambda: dsa.generate_private_key(2048),
               "x25519": x25519.X25519PrivateKey.generate, "x448": x448.X448PrivateKey.generate,
               "ed448": ed448.Ed448PrivateKey.generate,
               "rsa1024": lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),
               "secp256k1": lambda: ec.generate_private_key(ec.SECP256K1())}[key_type]()
    with pytest.raises(InputError) as caught:
        load_public_key(_pem_of(private), name="suspicious.pub")
    assert "suspicious.pub" in str(caught.value) and "\n" not in str(caught.value)


@FUZZ
@given(data=st.data())
def test_mutated_public_keys_load_or_raise_input_error(data):
    pem = bytearray(_pem_of(ec.generate_private_key(ec.SECP256R1())))
    at = data.draw(st.integers(0, len(pem) - 1))
    pem[at] = data.draw(st.integers(0, 255))
    try:
        key = load_public_key(bytes(pem))
    except InputError:
        return
    assert key.fingerprint  # the mutation landed somewhere harmless (e.g. in the armour)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["p256", "p384", "ed25519", "rsa"]))
def test_verify_signature_never_accepts_a_mutation(data, kind):
    private = _signing_keys()[kind]
    message = data.draw(st.binary(min_size=1, max_size=64))
    if kind == "rsa":
        from cryptography.hazmat.primitives.asymmetric import padding

        signature = private.sign(message, padding.PKCS1v15(), hashes.SHA256())
    elif kind == "ed25519":  # cosign's Ed25519ph, or pure Ed25519 as older cosign wrote
        signature = sign_ed25519ph(private, message) if data.draw(st.booleans()) else private.sign(message)
    else:
        signature = private.sign(message, ec.ECDSA(hashes.SHA256() if kind == "p256" else hashes.SHA384()))
    key = private.public_key()
    assert verify_signature(key, signature, message)
    mutated_message = bytearray(message)
    mutated_message[data.draw(POSITION) % len(message)] ^= data.draw(st.integers(1, 255))
    mutated_signature = bytearray(signature)
    mutated_signature[data.draw(POSITION) % len(signature)] ^= data.draw(st.integers(1, 255))
    assert not verify_signature(key, signature, bytes(mutated_message))
    assert not verify_signature(key, bytes(mutated_signature), message)
    assert not verify_signature(key, data.draw(st.binary(max_size=600)), message)


_KEYS: dict = {}


def _signing_keys() -> dict:
    if not _KEYS:
        _KEYS.update(p256=ec.generate_private_key(ec.SECP256R1()), p384=ec.generate_private_key(ec.SECP384R1()),
                     ed25519=ed25519.Ed25519PrivateKey.generate(),
                     rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEYS


# --- Sigstore bundles -----------------------------------------------------------------------------------

DIGEST = "sha256:" + "ab" * 32
IDENTITY = CertificateIdentity(identity="alice@example.com", issuer="https://issuer.example")
NOW = T0 + timedelta(days=1)


@pytest.fixture(scope="module")
def sigstore(tmp_path_factory):
    fake = FakeSigstore()
    path = tmp_path_factory.mktemp("sigstore") / "trusted_root.json"
    path.write_bytes(fake.trusted_root())
    trust = SigstoreTrust(root=load_trusted_root(path), identities=(IDENTITY,))
    return fake, trust


def _outcome(data: bytes, trust: SigstoreTrust, digest: str = DIGEST) -> str:
    """'verified', or the CheckFailed reason. Any other exception fails the test (a crash)."""
    try:
        verify_bundle(parse_bundle(data), digest=digest, trust=trust, now=NOW)
    except CheckFailed as exc:
        return f"refused: {exc}"
    return "verified"


def test_the_unmutated_bundles_verify(sigstore):
    fake, trust = sigstore
    leaf = fake.leaf()
    assert _outcome(fake.message_bundle(leaf, DIGEST), trust) == "verified"
    assert _outcome(fake.dsse_bundle(leaf, statement(DIGEST)), trust) == "verified"


def _bundle_targets(doc: dict) -> dict[str, tuple]:
    """JSON paths of base64 fields whose decoded bytes are bound by a signature or the log."""
    material = ("verificationMaterial",)
    entry = material + ("tlogEntries", 0)
    return {
        "signature": ("messageSignature", "signature"),
        "message-digest": ("messageSignature", "messageDigest", "digest"),
        "certificate": material + ("certificate", "rawBytes"),
        "tlog-body": entry + ("canonicalizedBody",),
        "tlog-set": entry + ("inclusionPromise", "signedEntryTimestamp"),
        "tlog-root-hash": entry + ("inclusionProof", "rootHash"),
        "tlog-log-id": entry + ("logId", "keyId"),
    }


def _get(doc, path):
    for part in path:
        doc = doc[part]
    return doc


def _set(doc, path, value) -> None:
    for part in path[:-1]:
        doc = doc[part]
    doc[path[-1]] = value


@SLOW_FUZZ
@given(data=st.data(), target=st.sampled_from(["signature", "message-digest", "certificate", "tlog-body", "tlog-set",
                                               "tlog-root-hash", "tlog-log-id"]))
def test_any_byte_flip_in_a_bound_bundle_field_is_refused(sigstore, data, target):
    fake, trust = sigstore
    doc = json.loads(fake.message_bundle(fake.leaf(), DIGEST))
    path = _bundle_targets(doc)[target]
    raw = bytearray(base64.b64decode(_get(doc, path)))
    raw[data.draw(POSITION) % len(raw)] ^= data.draw(st.integers(1, 255))
    _set(doc, path, base64.b64encode(bytes(raw)).decode())
    assert _outcome(json.dumps(doc).encode(), trust).startswith("refused")


@SLOW_FUZZ
@given(data=st.data(), field=st.sampled_from(["integratedTime", "logIndex"]))
def test_changed_log_numbers_are_refused(sigstore, data, field):
    fake, trust = sigstore
    doc = json.loads(fake.message_bundle(fake.leaf(), DIGEST))
    entry = doc["verificationMaterial"]["tlogEntries"][0]
    original = int(entry[field])
    entry[field] = str(data.draw(st.integers(0, 2 ** 40).filter(lambda v: v != original)))
    assert _outcome(json.dumps(doc).encode(), trust).startswith("refused")


@SLOW_FUZZ
@given(mutant=JSON)
def test_arbitrary_json_in_place_of_a_bundle_part_is_refused(sigstore, mutant):
    fake, trust = sigstore
    doc = json.loads(fake.message_bundle(fake.leaf(), DIGEST))
    for path in (("verificationMaterial",), ("messageSignature",), ("verificationMaterial", "tlogEntries"),
                 ("verificationMaterial", "tlogEntries", 0, "inclusionProof")):
        copy = json.loads(json.dumps(doc))
        _set(copy, path, mutant)
        assert _outcome(json.dumps(copy).encode(), trust).startswith("refused"), path


def test_dsse_envelope_with_several_signatures_is_refused(sigstore):
    fake, trust = sigstore
    assert "signature" in _outcome(fake.dsse_bundle(fake.leaf(), statement(DIGEST), extra_signatures=1), trust)


def test_tlog_entry_of_another_signature_is_refused(sigstore):
    """CVE-2022-23649 / CVE-2026-22703: a valid log entry copied onto a signature it does not describe."""
    fake, trust = sigstore
    leaf = fake.leaf()
    ours = json.loads(fake.message_bundle(leaf, DIGEST))
    theirs = json.loads(fake.message_bundle(leaf, "sha256:" + "cd" * 32))
    ours["verificationMaterial"]["tlogEntries"] = theirs["verificationMaterial"]["tlogEntries"]
    assert _outcome(json.dumps(ours).encode(), trust).startswith("refused")
    other_leaf = json.loads(fake.message_bundle(fake.leaf(), DIGEST))
    ours = json.loads(fake.message_bundle(leaf, DIGEST))
    ours["verificationMaterial"]["tlogEntries"] = other_leaf["verificationMaterial"]["tlogEntries"]
    assert _outcome(json.dumps(ours).encode(), trust).startswith("refused")


def test_dsse_statement_for_another_image_is_refused(sigstore):
    fake, trust = sigstore
    bundle = fake.dsse_bundle(fake.leaf(), statement("sha256:" + "cd" * 32))
    assert _outcome(bundle, trust).startswith("refused")


def test_dsse_envelope_payload_swapped_is_refused(sigstore):
    fake, trust = sigstore
    leaf = fake.leaf()
    doc = json.loads(fake.dsse_bundle(leaf, statement(DIGEST)))
    other = json.loads(envelope(json.dumps(statement(DIGEST, predicate={"x": 1})).encode(), [b"sig"]))
    doc["dsseEnvelope"]["payload"] = other["payload"]
    assert _outcome(json.dumps(doc).encode(), trust).startswith("refused")


# --- certificates with missing or duplicated extensions ----------------------------------------------------


def _leaf_cert(fake: FakeSigstore, extensions: list[tuple[x509.ExtensionType, bool]]):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(fake.intermediate.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(T0).not_valid_after(T0 + timedelta(minutes=10)))
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return key, builder.sign(fake.inter_key, hashes.SHA384())


def _standard_extensions(email: str = "alice@example.com") -> dict[str, tuple[x509.ExtensionType, bool]]:
    from tests.support.sigstore_factory import ISSUER_V2

    return {"san": (x509.SubjectAlternativeName([x509.RFC822Name(email)]), True),
            "eku": (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False),
            "issuer": (x509.UnrecognizedExtension(ISSUER_V2, _der_utf8("https://issuer.example")), False)}


def _bundle_with_leaf(fake: FakeSigstore, key, cert) -> bytes:
    from tests.support.sigstore_factory import Leaf

    return fake.message_bundle(Leaf(key, cert), DIGEST)


def test_leaf_built_by_this_test_verifies(sigstore):
    fake, trust = sigstore
    key, cert = _leaf_cert(fake, list(_standard_extensions().values()))
    assert _outcome(_bundle_with_leaf(fake, key, cert), trust) == "verified"


@pytest.mark.parametrize("missing", ["san", "issuer"])
def test_leaf_missing_an_extension_is_refused(sigstore, missing):
    fake, trust = sigstore
    extensions = _standard_extensions()
    del extensions[missing]
    key, cert = _leaf_cert(fake, list(extensions.values()))
    assert _outcome(_bundle_with_leaf(fake, key, cert), trust).startswith("refused")


def test_leaf_whose_extended_key_usage_excludes_code_signing_is_refused(sigstore):
    """(A leaf without the EKU extension is accepted, as Go's x509 and so cosign accept it.)"""
    fake, trust = sigstore
    extensions = _standard_extensions()
    extensions["eku"] = (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    key, cert = _leaf_cert(fake, list(extensions.values()))
    assert "code signing" in _outcome(_bundle_with_leaf(fake, key, cert), trust)


def _tlv(der: bytes, at: int) -> tuple[int, int]:
    """(start of value, end) of the DER element at `at`."""
    length = der[at + 1]
    if length < 0x80:
        return at + 2, at + 2 + length
    count = length & 0x7F
    size = int.from_bytes(der[at + 2:at + 2 + count], "big")
    return at + 2 + count, at + 2 + count + size


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _resign(cert: x509.Certificate, tbs: bytes, signer) -> x509.Certificate:
    """The certificate with its TBS replaced and signed again by `signer` (the real issuer)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    body, _ = _tlv(der, 0)
    _, tbs_end = _tlv(der, body)
    _, alg_end = _tlv(der, tbs_end)
    algorithm = der[tbs_end:alg_end]
    signature = signer.sign(tbs, ec.ECDSA(hashes.SHA384()))
    bitstring = b"\x03" + _der_length(len(signature) + 1) + b"\x00" + signature
    content = tbs + algorithm + bitstring
    return x509.load_der_x509_certificate(b"\x30" + _der_length(len(content)) + content)


@pytest.mark.parametrize("duplicated", ["san", "issuer"])
def test_leaf_with_a_duplicated_extension_is_refused(sigstore, duplicated):
    """Two SANs (or two issuer extensions) with different values, validly signed by the CA: which one
    a verifier reads would decide the identity, so the certificate must be refused outright."""
    fake, trust = sigstore
    placeholder = x509.ObjectIdentifier("2.5.29.99")  # same encoded length as 2.5.29.17 (SAN)
    extensions = _standard_extensions()
    if duplicated == "san":
        second = x509.SubjectAlternativeName([x509.RFC822Name("alice@example.com")]).public_bytes()
        real_oid = x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME
        extensions["san"] = (x509.SubjectAlternativeName([x509.RFC822Name("mallory@evil.example")]), True)
    else:
        from tests.support.sigstore_factory import ISSUER_V2

        placeholder = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.99")  # same length as ISSUER_V2
        second = _der_utf8("https://issuer.example")
        real_oid = ISSUER_V2
        extensions["issuer"] = (x509.UnrecognizedExtension(ISSUER_V2, _der_utf8("https://evil.example")), False)
    key, cert = _leaf_cert(fake, [*extensions.values(), (x509.UnrecognizedExtension(placeholder, second), False)])
    placeholder_der = placeholder.dotted_string  # located below by its DER encoding
    tbs = cert.tbs_certificate_bytes
    encoded_placeholder = _oid_der(placeholder_der)
    encoded_real = _oid_der(real_oid.dotted_string)
    assert len(encoded_placeholder) == len(encoded_real) and tbs.count(encoded_placeholder) == 1
    duplicated_cert = _resign(cert, tbs.replace(encoded_placeholder, encoded_real), fake.inter_key)
    with pytest.raises(x509.DuplicateExtension):
        duplicated_cert.extensions  # noqa: B018 - proves the certificate really carries the duplicate
    assert _outcome(_bundle_with_leaf(fake, key, duplicated_cert), trust).startswith("refused")


def _oid_der(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for value in parts[2:]:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        body += bytes(reversed(chunk))
    return b"\x06" + bytes([len(body)]) + body


def test_certificate_signed_by_an_untrusted_ca_with_the_same_names_is_refused(sigstore):
    fake, trust = sigstore
    impostor = FakeSigstore(name=fake.name)  # same subject names, other keys
    assert _outcome(impostor.message_bundle(impostor.leaf(), DIGEST), trust).startswith("refused")

