"""Notary Project verification in core/notation: real notation outputs (tests/fixtures/notation, each case's
expected result from its README / expected.json), and self-made envelopes (tests/support/notation.py) for
what no public sample covers: COSE end to end, unknown critical headers, wrong algorithms, hostile input."""

from __future__ import annotations

import base64
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import cbor2
import pytest
from botocore.stub import Stubber
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from core.config.model import LimitsConfig
from core.errors import CheckFailed, ConfigError
from core.notation.aws_signer import certificate_hashes
from core.notation.cose import parse_cose
from core.notation.envelope import TargetArtifact, check_integrity
from core.notation.jws import parse_jws
from core.notation.signatures import check_notation_signatures, find_notation_signatures
from core.notation.trust_policy import load_trust_policy, parse_trust_policy
from core.notation.trust_store import TrustStore
from core.notation.verify import verify_envelope
from core.registry.layout import OciLayout
from core.registry.reference import parse_reference
from tests.support.notation import NOW, cose_envelope, jws_envelope, make_signer, payload_for

FIXTURES = Path(__file__).parent / "fixtures" / "notation"
CASES = json.loads((FIXTURES / "expected.json").read_text())
VECTORS = FIXTURES / "vectors"
TIMESTAMP_CASES = json.loads((VECTORS / "EXPECTED.json").read_text())["notation-go-timestamp"]["cases"]
DIGEST = "sha256:" + "ab" * 32
IMAGE = TargetArtifact("application/vnd.oci.image.manifest.v1+json", DIGEST, 1234)


def notation_config(tmp: Path, policy_file: Path, stores: dict[str, list[str]]) -> Path:
    """A notation config directory as `notation policy import` + `notation cert add` leave it."""
    shutil.copy(policy_file, tmp / "trustpolicy.json")
    for name, files in stores.items():
        kind, store = name.split(":")
        directory = tmp / "truststore" / "x509" / kind / store
        directory.mkdir(parents=True)
        for file in files:
            shutil.copy(FIXTURES / file, directory)
    return tmp


def outcome_of(case: dict, config: Path):
    ref = parse_reference(case["image"].replace("oci:", f"oci:{FIXTURES}/", 1))
    source = OciLayout(ref.repository, limits=LimitsConfig())
    manifest = source.resolve(ref)
    image = TargetArtifact(manifest.media_type, manifest.digest, len(manifest.raw))
    found = find_notation_signatures(source, ref.repository, manifest.digest, limits=LimitsConfig())
    policy = load_trust_policy(config / "trustpolicy.json")
    return check_notation_signatures(found, image, case["scope"], policy, TrustStore(config / "truststore"),
                                     datetime.now(timezone.utc))


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_notation_fixture_case_gives_its_documented_result(case, tmp_path):
    config = notation_config(tmp_path, FIXTURES / case["trust_policy"], case["trust_store"])
    if case.get("failed_check") == "policy":
        with pytest.raises(ConfigError) as refused:
            outcome_of(case, config)
        assert str(config / "trustpolicy.json") in str(refused.value)
        return
    outcome = outcome_of(case, config)
    if case["expected"] == "skipped":
        assert outcome.skipped and outcome.verified_by is None
        return
    if case["expected"] == "verified":
        assert outcome.verified_by is not None, [c.verdict.reason for c in outcome.checks]
        if "verified_by" in case:
            assert outcome.verified_by.found.manifest_digest == case["verified_by"]
        logged = [entry.split(":")[0] for entry in outcome.verified_by.verdict.logged]
        assert logged == case.get("logged", [])
        return
    assert outcome.verified_by is None
    if case["failed_check"] == "noApplicablePolicy":
        assert outcome.statement == "" and "no applicable trust policy statement" in outcome.reason
    else:
        assert [c.verdict.failed_check for c in outcome.checks] == case["failed_check"]


@pytest.mark.parametrize("case", TIMESTAMP_CASES, ids=[f"{c['file'].split('/')[-1]}-{c['policy']['trustStores'][-1]}-"
                                                       f"{c['policy']['verifyTimestamp']}" for c in TIMESTAMP_CASES])
def test_timestamp_vectors_pass_or_fail_the_authentic_timestamp_check_as_upstream(case):
    raw = (VECTORS / case["file"]).read_bytes()
    envelope = parse_jws(raw) if raw[:1] == b"{" else parse_cose(raw)
    policy = parse_trust_policy(json.dumps({"version": "1.0", "trustPolicies": [{
        "name": "t", "registryScopes": ["*"],
        "signatureVerification": {"level": "strict", "verifyTimestamp": case["policy"]["verifyTimestamp"],
                                  # only the authenticTimestamp step is asserted upstream; the fixture
                                  # holds 2 of the 6 CA certificates of upstream's store
                                  "override": {"expiry": "log", "authenticity": "log"}},
        "trustStores": case["policy"]["trustStores"], "trustedIdentities": ["*"]}]}).encode(), "policy.json")
    store = TrustStore(VECTORS / "notation-go-timestamp" / "truststore")
    # The real signatures verify with their leaf key. The artifacts they sign are not included: check
    # them against their own target, so only the authenticTimestamp step decides.
    target = check_integrity(envelope)
    verdict = verify_envelope(envelope, target, policy.statements[0], store, datetime.now(timezone.utc))
    assert verdict.ok == (case["expected"] == "pass"), verdict.reason
    if case["expected"] == "fail":
        assert verdict.failed_check == "authenticTimestamp"


def wildcard_policy(stores: list[str], level: str = "strict", **verification) -> object:
    doc = {"version": "1.0", "trustPolicies": [{"name": "all", "registryScopes": ["*"],
                                                 "signatureVerification": {"level": level, **verification},
                                                 "trustStores": stores, "trustedIdentities": ["*"]}]}
    return parse_trust_policy(json.dumps(doc).encode(), "policy.json").statements[0]


def store_with(tmp_path: Path, kind: str, name: str, cert: x509.Certificate) -> TrustStore:
    directory = tmp_path / "truststore" / "x509" / kind / name
    directory.mkdir(parents=True)
    (directory / "root.crt").write_bytes(cert.public_bytes(Encoding.PEM))
    return TrustStore(tmp_path / "truststore")


@pytest.mark.parametrize("alg,curve", [("ES256", ec.SECP256R1()), ("ES384", ec.SECP384R1()), ("PS256", None)])
@pytest.mark.parametrize("encoding", ["jws", "cose"])
def test_self_made_envelopes_verify_through_a_ca_chain(tmp_path, alg, curve, encoding):
    signer = make_signer(curve=curve)
    make = jws_envelope if encoding == "jws" else cose_envelope
    raw = make(signer, payload_for(DIGEST, 1234), alg=alg)
    envelope = parse_jws(raw) if encoding == "jws" else parse_cose(raw)
    store = store_with(tmp_path, "ca", "corp", signer.root)
    verdict = verify_envelope(envelope, IMAGE, wildcard_policy(["ca:corp"]), store, datetime.now(timezone.utc))
    assert verdict.ok, verdict.reason
    assert verdict.identity == signer.leaf.subject.rfc4514_string()
    other = TargetArtifact(IMAGE.media_type, "sha256:" + "cd" * 32, 1234)
    wrong = verify_envelope(envelope, other, wildcard_policy(["ca:corp"]), store, datetime.now(timezone.utc))
    assert not wrong.ok and wrong.failed_check == "integrity" and "not this image" in wrong.reason


@pytest.mark.parametrize("encoding", ["jws", "cose"])
def test_unknown_critical_header_fails_closed(encoding):
    signer = make_signer()
    if encoding == "jws":
        raw = jws_envelope(signer, payload_for(DIGEST, 1234), extra_protected={"io.example.mustUnderstand": "x"},
                           extra_crit=("io.example.mustUnderstand",))
        envelope = parse_jws(raw)
    else:
        raw = cose_envelope(signer, payload_for(DIGEST, 1234), extra_protected={"io.example.mustUnderstand": "x"},
                            extra_crit=("io.example.mustUnderstand",))
        envelope = parse_cose(raw)
    with pytest.raises(CheckFailed, match="unknown critical header 'io.example.mustUnderstand'"):
        check_integrity(envelope)


def test_algorithm_that_does_not_fit_the_key_is_refused():
    signer = make_signer(curve=None, rsa_bits=2048)
    envelope = parse_jws(jws_envelope(signer, payload_for(DIGEST, 1234), alg="PS384"))
    with pytest.raises(CheckFailed, match="PS384 does not fit"):
        check_integrity(envelope)


def test_expiry_must_be_critical_and_after_signing_time():
    signer = make_signer()
    raw = jws_envelope(signer, payload_for(DIGEST, 1234), expiry=NOW - timedelta(seconds=1))
    with pytest.raises(CheckFailed, match="expiry is not after the signing time"):
        check_integrity(parse_jws(raw))


def test_tampered_payload_fails_integrity():
    signer = make_signer()
    doc = json.loads(jws_envelope(signer, payload_for(DIGEST, 1234)))
    doc["payload"] = base64.urlsafe_b64encode(payload_for("sha256:" + "cd" * 32, 1234)).rstrip(b"=").decode()
    with pytest.raises(CheckFailed, match="does not verify"):
        check_integrity(parse_jws(json.dumps(doc).encode()))


def test_hostile_envelopes_fail_closed_with_a_reason():
    signer = make_signer()
    good = jws_envelope(signer, payload_for(DIGEST, 1234)).decode()
    duplicated = good.replace('{"payload"', '{"payload": "AAAA", "payload"', 1).encode()
    with pytest.raises(CheckFailed, match="duplicate JSON key"):
        parse_jws(duplicated)
    deep = b"\xd2" + b"\x81" * 10_000 + b"\x00"
    with pytest.raises(CheckFailed, match="not valid CBOR"):
        parse_cose(deep)
    long_chain = jws_envelope(signer, payload_for(DIGEST, 1234), chain=[signer.leaf] * 11)
    with pytest.raises(CheckFailed, match="11 certificates"):
        parse_jws(long_chain)
    with pytest.raises(CheckFailed, match="larger than allowed"):
        parse_jws(b"{" + b" " * (2 * 1024 * 1024) + b"}")
    with pytest.raises(CheckFailed, match="not a tagged COSE_Sign1"):
        parse_cose(cbor2.dumps([1, 2, 3, 4]))


def test_trusted_identity_is_a_subset_match_on_the_leaf_subject(tmp_path):
    signer = make_signer(cn="release-signer")
    envelope = parse_jws(jws_envelope(signer, payload_for(DIGEST, 1234)))
    store = store_with(tmp_path, "ca", "corp", signer.root)

    def statement(identity: str):
        doc = {"version": "1.0", "trustPolicies": [{"name": "s", "registryScopes": ["*"],
                                                     "signatureVerification": {"level": "strict"},
                                                     "trustStores": ["ca:corp"], "trustedIdentities": [identity]}]}
        return parse_trust_policy(json.dumps(doc).encode(), "p.json").statements[0]

    now = datetime.now(timezone.utc)
    assert verify_envelope(envelope, IMAGE, statement("x509.subject: C=US, ST=WA, O=Signet Tests"), store, now).ok
    miss = verify_envelope(envelope, IMAGE, statement("x509.subject: C=US, ST=WA, O=Other"), store, now)
    assert not miss.ok and miss.failed_check == "trustedIdentity"


def test_revocation_is_unknown_offline_enforced_by_strict_logged_by_permissive(tmp_path):
    signer = make_signer()
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = signer.root
    # Re-issue the leaf with a CRL distribution point, under a fresh root holding root_key.
    root = (x509.CertificateBuilder().subject_name(root.subject).issuer_name(root.subject)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(root.not_valid_before_utc).not_valid_after(root.not_valid_after_utc)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .sign(root_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(signer.leaf.subject).issuer_name(root.subject)
            .public_key(signer.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(signer.leaf.not_valid_before_utc).not_valid_after(signer.leaf.not_valid_after_utc)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
                [x509.UniformResourceIdentifier("http://crl.invalid/ca.crl")], None, None, None)]), critical=False)
            .sign(root_key, hashes.SHA256()))
    signer.chain = [leaf, root]
    envelope = parse_jws(jws_envelope(signer, payload_for(DIGEST, 1234)))
    store = store_with(tmp_path, "ca", "corp", root)
    now = datetime.now(timezone.utc)
    strict = verify_envelope(envelope, IMAGE, wildcard_policy(["ca:corp"]), store, now)
    assert not strict.ok and strict.failed_check == "revocation" and "unknown" in strict.reason
    permissive = verify_envelope(envelope, IMAGE, wildcard_policy(["ca:corp"], level="permissive"), store, now)
    assert permissive.ok and any("revocation" in entry for entry in permissive.logged)


def test_signing_authority_scheme_needs_a_signing_authority_store(tmp_path):
    signer = make_signer()
    envelope = parse_jws(jws_envelope(signer, payload_for(DIGEST, 1234), scheme="notary.x509.signingAuthority"))
    now = datetime.now(timezone.utc)
    as_ca = verify_envelope(envelope, IMAGE, wildcard_policy(["ca:corp"]), store_with(tmp_path / "a", "ca", "corp",
                                                                                        signer.root), now)
    assert not as_ca.ok and "signingAuthority" in as_ca.reason
    store = store_with(tmp_path / "b", "signingAuthority", "corp", signer.root)
    assert verify_envelope(envelope, IMAGE, wildcard_policy(["signingAuthority:corp"]), store, now).ok


def test_a_missing_trust_store_is_an_authenticity_failure_naming_it(tmp_path):
    signer = make_signer()
    envelope = parse_jws(jws_envelope(signer, payload_for(DIGEST, 1234)))
    verdict = verify_envelope(envelope, IMAGE, wildcard_policy(["ca:absent"]), TrustStore(tmp_path),
                              datetime.now(timezone.utc))
    assert not verdict.ok and verdict.failed_check == "authenticity" and "ca:absent does not exist" in verdict.reason


# --- AWS Signer (self-made envelopes in AWS Signer's shape: no public AWS-signed sample is at hand) ---------

PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/ReleaseProfile"
VERSION_ARN = f"{PROFILE}/AbCd1234"
JOB = "arn:aws:signer:us-east-1:123456789012:/signing-jobs/2f3c0b0e-1111-2222-3333-444455556666"


def aws_envelope(signer, digest: str = DIGEST, size: int = 1234) -> bytes:
    attrs = {"io.cncf.notary.verificationPlugin": "com.amazonaws.signer.notation.plugin",
             "io.cncf.notary.verificationPluginMinVersion": "1.0.0",
             "com.amazonaws.signer.signingProfileVersion": VERSION_ARN, "com.amazonaws.signer.signingJob": JOB}
    return jws_envelope(signer, payload_for(digest, size), alg="ES384", scheme="notary.x509.signingAuthority",
                        extra_protected=attrs, extra_crit=tuple(attrs))


def aws_statement(identities: list[str], level: str = "strict"):
    doc = {"version": "1.0", "trustPolicies": [{"name": "aws", "registryScopes": ["*"],
                                                 "signatureVerification": {"level": level},
                                                 "trustStores": ["signingAuthority:aws-signer-ts"],
                                                 "trustedIdentities": identities}]}
    return parse_trust_policy(json.dumps(doc).encode(), "p.json").statements[0]


@pytest.fixture
def aws_signed(tmp_path):
    signer = make_signer(cn="AWS Signer test", curve=ec.SECP384R1())
    return parse_jws(aws_envelope(signer)), store_with(tmp_path, "signingAuthority", "aws-signer-ts", signer.root)


def stubbed_signer_client(revoked: list[str], envelope):
    client = boto3.client("signer", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    stub = Stubber(client)
    stub.add_response("get_revocation_status", {"revokedEntities": revoked},
                      {"signatureTimestamp": envelope.authentic_signing_time, "platformId": "Notation-OCI-SHA384-ECDSA",
                       "profileVersionArn": VERSION_ARN, "jobArn": JOB,
                       "certificateHashes": certificate_hashes(envelope.chain)})
    stub.activate()
    return client, stub


def test_aws_signer_signature_matches_profile_and_version_arns(aws_signed):
    envelope, store = aws_signed
    now = datetime.now(timezone.utc)
    for identity in (PROFILE, VERSION_ARN, PROFILE.replace("ReleaseProfile", "RELEASEPROFILE")):  # case-insensitive
        verdict = verify_envelope(envelope, IMAGE, aws_statement([identity], level="permissive"), store, now)
        assert verdict.ok, (identity, verdict.reason)
        assert any("revocation" in entry and "unknown" in entry for entry in verdict.logged)
    other = verify_envelope(envelope, IMAGE, aws_statement([f"{PROFILE}Other"], level="permissive"), store, now)
    assert not other.ok and other.failed_check == "trustedIdentity"


def test_aws_signer_refuses_wildcards_and_malformed_arns(aws_signed):
    envelope, store = aws_signed
    verdict = verify_envelope(envelope, IMAGE, aws_statement(["*"], level="permissive"), store,
                              datetime.now(timezone.utc))
    assert not verdict.ok and "'*' is refused" in verdict.reason
    with pytest.raises(ConfigError, match="not an AWS Signer signing-profile"):
        aws_statement(["arn:aws:signer:us-east-1:123456789012:/signing-profiles/*"])


def test_aws_signer_revocation_through_get_revocation_status(aws_signed):
    envelope, store = aws_signed
    now = datetime.now(timezone.utc)
    assert not verify_envelope(envelope, IMAGE, aws_statement([PROFILE]), store, now).ok  # strict: unknown fails
    client, stub = stubbed_signer_client([], envelope)
    assert verify_envelope(envelope, IMAGE, aws_statement([PROFILE]), store, now, client).ok
    stub.assert_no_pending_responses()
    client, stub = stubbed_signer_client([JOB], envelope)
    revoked = verify_envelope(envelope, IMAGE, aws_statement([PROFILE]), store, now, client)
    assert not revoked.ok and revoked.failed_check == "revocation" and JOB in revoked.reason


def test_a_signature_needing_another_plugin_fails_closed():
    signer = make_signer()
    attrs = {"io.cncf.notary.verificationPlugin": "io.example.other-plugin"}
    envelope = parse_jws(jws_envelope(signer, payload_for(DIGEST, 1234), extra_protected=attrs,
                                      extra_crit=tuple(attrs)))
    with pytest.raises(CheckFailed, match="needs verification plugin 'io.example.other-plugin'"):
        check_integrity(envelope)


def test_three_certificate_chain_verifies_and_a_broken_order_does_not(tmp_path):
    signer = make_signer(intermediate=True)
    envelope = parse_jws(jws_envelope(signer, payload_for(DIGEST, 1234)))
    store = store_with(tmp_path, "ca", "corp", signer.root)
    now = datetime.now(timezone.utc)
    assert len(envelope.chain) == 3 and verify_envelope(envelope, IMAGE, wildcard_policy(["ca:corp"]), store, now).ok
    swapped = parse_jws(jws_envelope(signer, payload_for(DIGEST, 1234), chain=[signer.chain[0], *signer.chain[:0:-1]]))
    verdict = verify_envelope(swapped, IMAGE, wildcard_policy(["ca:corp"]), store, now)
    assert not verdict.ok and "not in order" in verdict.reason
