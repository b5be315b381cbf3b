"""Every sigstore-conformance bundle case gives its documented result, failing for its documented reason."""

from __future__ import annotations

import pytest

from core.crypto.public_keys import load_public_key
from core.errors import CheckFailed, InputError
from core.sigstore.bundle import parse_bundle
from core.sigstore.verifier import SigstoreTrust, verify_bundle
from tests.support.sigstore_fixtures import NOW, conformance_case, conformance_cases

# Why each `_fail` case must fail (README of the fixture); the message proves it failed for that reason.
EXPECTED_FAILURE = {
    "bundle-with-root-cert_fail": "bundle carries a root certificate",
    "dsse-invalid-sig_fail": "signature does not verify with the certificate's key",
    "dsse-mismatch-sig_fail": "tlog entry: records a different signature",
    "incorrect-public-key_fail": "tlog entry: records a different certificate",
    "integrated-time-in-future_fail": "does not chain to a trusted CA valid at",
    "intoto-log-entry-mismatch_fail": "tlog entry: records a different signature",
    "managed-key-wrong-key_fail": "not a PEM or DER public key",
    "set-invalid-signature_fail": "signed entry timestamp does not verify",
    "signature-mismatch_fail": "signature does not verify with the certificate's key",
    "wrong-hashedrekord-artifact_fail": "tlog entry: records a different artifact hash",
    "wrong-material_fail": "bundle signs a different digest",
}


def _verify(name: str):
    case = conformance_case(name)
    keys = (load_public_key(case["key"].read_bytes()),) if case["key"] else ()
    trust = SigstoreTrust(root=case["root"], identities=(case["identity"],), keys=keys)
    return verify_bundle(parse_bundle(case["bundle"]), digest=case["digest"], trust=trust, now=NOW)


def test_all_eighteen_cases_are_present():
    names = conformance_cases()
    assert len(names) == 18
    assert sum(name.endswith("_fail") for name in names) == 11


@pytest.mark.parametrize("name", [n for n in conformance_cases() if not n.endswith("_fail")])
def test_passing_case_verifies(name):
    result = _verify(name)
    assert result.signed_at, "a verified signing time must come from the log or a TSA"
    assert result.tlog_indexes
    if conformance_case(name)["key"] is None:
        assert result.identity == conformance_case(name)["identity"].identity
        assert result.issuer == conformance_case(name)["identity"].issuer
    else:
        assert result.identity == ""


@pytest.mark.parametrize("name", [n for n in conformance_cases() if n.endswith("_fail")])
def test_failing_case_is_rejected_for_its_reason(name):
    with pytest.raises((CheckFailed, InputError)) as info:
        _verify(name)
    assert EXPECTED_FAILURE[name] in str(info.value)


def test_timestamped_cases_report_both_log_and_tsa_time():
    # managed-key-happy-path carries a Rekor entry and an RFC 3161 timestamp: both verify.
    result = _verify("managed-key-happy-path")
    assert len(result.signed_at) == 2
    assert abs((result.signed_at[0] - result.signed_at[1]).total_seconds()) < 60
