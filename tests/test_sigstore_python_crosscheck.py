"""Every public Sigstore bundle fixture through Signet and through sigstore-python, the reference verifier.

Offline: sigstore-python's Verifier is built from each fixture's trusted_root.json (no TUF fetch) and the
bundles carry their log proofs. Signet must give each case the fixture's documented verdict and agree with
sigstore-python wherever sigstore-python can express the case; SIGSTORE_PYTHON_LIMITS names every case it
cannot, with the reason, and checks sigstore-python still fails there for that reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import pydantic
import pytest
from sigstore.errors import Error as SigstorePythonError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier, policy
from sigstore_models.common.v1 import HashAlgorithm

from core.crypto.public_keys import load_public_key
from core.errors import CheckFailed, InputError
from core.sigstore.bundle import parse_bundle
from core.sigstore.certificate_identity import CertificateIdentity
from core.sigstore.trusted_root import load_trusted_root
from core.sigstore.verifier import SigstoreTrust, verify_bundle
from tests.support.sigstore_fixtures import (CONFORMANCE, CONFORMANCE_IDENTITY, CONFORMANCE_ISSUER, EDGE, NOW,
                                             OCI_BUNDLE, OCI_BUNDLE_DIGEST, conformance_cases)

INTOTO_V002 = "Integrated time only supported for dsse/hashedrekord 0.0.1 types"
NO_PROOF = "inclusionProof"
# case -> (what sigstore-python says, why): cases sigstore-python 4.x cannot express, so no agreement is asked.
SIGSTORE_PYTHON_LIMITS = {
    "managed-key-happy-path": ("expected certificate in bundle",
                               "key-based bundles (publicKey hint): sigstore-python verifies certificate bundles only"),
    "managed-key-wrong-key_fail": ("expected certificate in bundle", "as managed-key-happy-path"),
    "intoto-with-custom-trust-root": (INTOTO_V002, "intoto 0.0.2 log entries are not supported by sigstore-python "
                                      "(sigstore-conformance expects PASS; Signet passes)"),
    "intoto-log-entry-mismatch_fail": (INTOTO_V002, "intoto 0.0.2: refused before the mismatch is looked at"),
    "bundle-with-root-cert_fail": ("entry must contain inclusion proof, with checkpoint",
                                   "its log entry has no checkpoint: refused before the root-in-chain rule"),
    "othername": ("commonName", "sigstore-python's TrustedRoot model requires a CA subject commonName; "
                  "sigstore-go's scaffolding root has none"),
    "othername-as-email": ("commonName", "as othername"),
    "dsse-2sigs": (NO_PROOF, "a v0.1 bundle without inclusion proof: sigstore-python refuses to load it"),
    "dsse-sha512-subject": (NO_PROOF, "as dsse-2sigs"),
}


@dataclass(frozen=True)
class Case:
    name: str
    bundle: Path
    root: Path
    sha256: str      # hex digest of the signed artifact (or image manifest)
    identity: str
    issuer: str
    expected: bool   # the fixture README's verdict
    key: Path | None = None


def _conformance(name: str) -> Case:
    case = CONFORMANCE / name

    def own(file: str, default: str) -> str:
        return (case / file).read_text().strip() if (case / file).exists() else default

    artifact = case / "artifact" if (case / "artifact").exists() else CONFORMANCE / "a.txt"
    root = case / "trusted_root.json" if (case / "trusted_root.json").exists() else \
        CONFORMANCE / "trusted_root.production.json"
    return Case(name, case / "bundle.sigstore.json", root, hashlib.sha256(artifact.read_bytes()).hexdigest(),
                own("identity", CONFORMANCE_IDENTITY), own("issuer", CONFORMANCE_ISSUER),
                expected=not name.endswith("_fail"), key=case / "key.pub" if (case / "key.pub").exists() else None)


OTHERNAME = Case("othername", EDGE / "othername.sigstore.json", EDGE / "trusted_root.scaffolding.json",
                 "bc103b4a84971ef6459b294a2b98568a2bfb72cded09d4acd1e16366a401f95b", "foo!oidc.local",
                 "http://oidc.local:8080", expected=True)
OCI = Case("cosign-oci-bundle", OCI_BUNDLE / "oci-attestation.sigstore.json", OCI_BUNDLE / "trusted_root_pgi.json",
           OCI_BUNDLE_DIGEST.removeprefix("sha256:"), "cody@soyland.com", "https://github.com/login/oauth",
           expected=True)
CASES = [_conformance(name) for name in conformance_cases()] + [
    OTHERNAME,
    replace(OTHERNAME, name="othername-as-email", identity="foo@oidc.local", expected=False),
    Case("dsse-2sigs", EDGE / "dsse-2sigs.sigstore.json", EDGE / "trusted_root.public-good.json", "0" * 64,
         CONFORMANCE_IDENTITY, CONFORMANCE_ISSUER, expected=False),
    Case("dsse-sha512-subject", EDGE / "dsse.sigstore.json", EDGE / "trusted_root.public-good.json", "0" * 64,
         CONFORMANCE_IDENTITY, CONFORMANCE_ISSUER, expected=False),
    OCI,
    replace(OCI, name="cosign-oci-bundle-other-identity", identity="mallory@example.com", expected=False),
    replace(OCI, name="cosign-oci-bundle-other-digest", sha256="1" * 64, expected=False),
]


def signet_verdict(case: Case) -> tuple[bool, str]:
    try:
        keys = (load_public_key(case.key.read_bytes()),) if case.key else ()
        trust = SigstoreTrust(root=load_trusted_root(case.root), keys=keys,
                              identities=(CertificateIdentity(identity=case.identity, issuer=case.issuer),))
        verify_bundle(parse_bundle(case.bundle.read_bytes()), digest=f"sha256:{case.sha256}", trust=trust, now=NOW)
    except (CheckFailed, InputError) as exc:
        return False, str(exc)
    return True, ""


def sigstore_python_verdict(case: Case) -> tuple[bool, str]:
    """sigstore-python's answer to the same question: does this bundle sign this artifact, by this identity?"""
    raw = case.bundle.read_bytes()
    try:
        verifier = Verifier(trusted_root=TrustedRoot.from_file(str(case.root)))
        bundle = Bundle.from_json(raw)
        identity = policy.Identity(identity=case.identity, issuer=case.issuer)
        if "dsseEnvelope" not in json.loads(raw):
            verifier.verify_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(case.sha256)),
                                     bundle, identity)
            return True, ""
        payload_type, payload = verifier.verify_dsse(bundle, identity)
    except (SigstorePythonError, pydantic.ValidationError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    # verify_dsse checks the envelope, not what it is about: the in-toto subject must name the artifact.
    subjects = json.loads(payload).get("subject", []) if payload_type == "application/vnd.in-toto+json" else []
    if not any(s.get("digest", {}).get("sha256") == case.sha256 for s in subjects):
        return False, "the in-toto statement's subjects do not name this digest"
    return True, ""


def test_every_public_bundle_fixture_is_a_case():
    assert len(CASES) == 18 + 7
    assert set(SIGSTORE_PYTHON_LIMITS) <= {c.name for c in CASES}
    assert sum(c.name not in SIGSTORE_PYTHON_LIMITS for c in CASES) == 16  # compared with sigstore-python


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_signet_agrees_with_sigstore_python(case):
    signet_ok, signet_reason = signet_verdict(case)
    assert signet_ok == case.expected, signet_reason
    reference_ok, reference_reason = sigstore_python_verdict(case)
    if case.name in SIGSTORE_PYTHON_LIMITS:
        says, _why = SIGSTORE_PYTHON_LIMITS[case.name]
        assert not reference_ok and says in reference_reason, reference_reason
    else:
        assert reference_ok == signet_ok, f"sigstore-python: {reference_reason or 'verified'}; Signet: " \
                                          f"{signet_reason or 'verified'}"
