"""Notary Project signatures (notation, AWS Signer) as a signature source of the Verifier.

Signatures are found as OCI referrers whether or not notation trust is configured, so an image signed only
with notation is reported as such ("a notation signature exists but no trust policy covers it") instead of
plainly unsigned. With trust configured (core/notation/config.py), each signature is checked as notation
does against the statement for the image's scope (`registry/repository`; for an OCI layout, the
`--notation-scope` given, else only a `*` statement applies). A signer counts once, by its leaf
certificate, next to cosign keys and keyless identities for the threshold. A statement at level skip
verifies nothing, so it counts no signer (notation itself exits 0 there; Signet fails closed).
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.serialization import Encoding

from core.aws.client import aws_client
from core.errors import RegistryError
from core.notation.aws_signer import RegionalSignerClients, is_aws_signed
from core.notation.envelope import TargetArtifact
from core.notation.signatures import CheckedSignature, check_notation_signatures, find_notation_signatures
from core.sigstore.verifier import SigstoreTrust
from core.verify.outcome import ImageTarget, SourceOutcome
from core.verify.policy import TrustPolicy
from core.verify.result import SignatureCheck
from core.verify.session import VerifySession

SOURCE = "notation"
SIGNER_PREFIX = "notation:"


def check_notation(session: VerifySession, image: ImageTarget, policy: TrustPolicy,
                   sigstore: SigstoreTrust | None) -> SourceOutcome:
    location = f"{image.reference.name}@{image.digest[:19]}… referrers (notation)"
    try:
        found = find_notation_signatures(session.source_for(image.reference), image.reference.repository,
                                         image.digest, limits=session.limits)
    except RegistryError as exc:
        if policy.notation is None:  # nothing here could count: do not turn an answer into an error
            return SourceOutcome(found=False, location=location)
        check = SignatureCheck(SOURCE, 0, False, f"referrers could not be listed: {exc}")
        return SourceOutcome(found=True, checks=(check,), location=location, transient=True)
    if not found:
        return SourceOutcome(found=False, location=location)
    trust = policy.notation
    if trust is None:
        return SourceOutcome(found=False, location=location,
                             note=f"{len(found)} notation signature(s) exist, but no notation trust policy covers "
                                  "them (set [trust] notation_config or give --notation-config)")
    scope = trust.scope if image.reference.is_layout else f"{image.reference.registry}/{image.reference.repository}"
    target = TargetArtifact(image.media_type, image.digest, image.size)
    transient = any(f.transient for f in found)  # a registry failure: such an answer is not cached
    key = (SOURCE, image.digest, scope, tuple(f.manifest_digest for f in found), policy.fingerprint)
    cached: tuple[SignatureCheck, ...] | None = session.cache.verdicts.get(key)
    if cached is None:
        signer_client = (RegionalSignerClients(lambda region: aws_client("signer", session.limits, region=region))
                         if trust.signer_revocation else None)
        outcome = check_notation_signatures(found, target, scope, trust.policy, trust.store, session.ctx.clock(),
                                            signer_client)
        if outcome.skipped or not outcome.statement:
            cached = (SignatureCheck(SOURCE, 0, False, f"{outcome.reason}: no notation signer counts",
                                     details={"statement": outcome.statement}),)
        else:
            cached = tuple(_as_check(i, checked) for i, checked in enumerate(outcome.checks))
        if not transient:
            session.cache.verdicts.put(key, cached)
    return SourceOutcome(found=True, checks=cached, location=location, transient=transient)


def _as_check(index: int, checked: CheckedSignature) -> SignatureCheck:
    envelope, verdict = checked.found.envelope, checked.verdict
    fmt = checked.found.format or SOURCE
    if envelope is not None and is_aws_signed(envelope):
        fmt = "aws-signer"
    details = {"referrer": checked.found.manifest_digest, "format": fmt, "statement": verdict.statement,
               "signing_time": verdict.signing_time.isoformat() if verdict.signing_time else None,
               "expiry": verdict.expiry.isoformat() if verdict.expiry else None, "logged": list(verdict.logged)}
    if not verdict.ok or envelope is None:
        return SignatureCheck(fmt, index, False, verdict.reason, identity=verdict.identity or None, details=details)
    signer = SIGNER_PREFIX + hashlib.sha256(envelope.leaf.public_bytes(Encoding.DER)).hexdigest()
    return SignatureCheck(fmt, index, True, "", key_fingerprint=signer, identity=verdict.identity or None,
                          details=details)
