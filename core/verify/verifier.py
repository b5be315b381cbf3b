"""A Verifier: one trust policy, checked once, with the Sigstore trust material and the signature
sources it is checked with (as sigstore-python builds one `Verifier` per trust root and policy).

Constructing it is where an unusable policy is refused (a usage error, exit 2, before any image is
looked at): no trusted key and no keyless identity; a threshold above the number of distinct keys,
or above 1 with keyless identities alone; keyless without a trusted root; contradictory log flags.
`verify_images` (core/verify/service.py), the cluster sweep, the Lambda listing and release gate,
and every console action take a Verifier, so they all decide the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.context import SignetContext
from core.errors import InputError
from core.sigstore.verifier import SigstoreTrust
from core.verify.cosign_signatures import check_cosign_signatures
from core.verify.notation_signatures import check_notation
from core.verify.outcome import SignatureSource
from core.verify.policy import TrustArgs, TrustPolicy, policy_for
from core.verify.sigstore_bundles import check_sigstore_bundles
from core.verify.sigstore_trust import sigstore_trust, uses_sigstore

# Consulted in this order; the decision counts distinct trusted signers over all their checks, so a
# new kind of signature is one more entry here (core/verify/service.py does not change).
SIGNATURE_SOURCES: tuple[tuple[str, SignatureSource], ...] = (
    ("cosign-sig", check_cosign_signatures),
    ("sigstore-bundle", check_sigstore_bundles),
    ("notation", check_notation),
)


class Verifier:
    """Immutable after construction; safe to share between threads and calls."""

    def __init__(self, policy: TrustPolicy, *,
                 sources: Sequence[tuple[str, SignatureSource]] = SIGNATURE_SOURCES) -> None:
        if not policy.keys and not policy.identities and policy.notation is None:
            raise InputError("no trusted keys: give --key (a public key file or key-store id) or set [trust] keys "
                             "(or a keyless identity and trusted root, or a notation trust policy)")
        if policy.keys and policy.notation is None and policy.threshold > len(policy.keys):
            raise InputError(f"threshold {policy.threshold} is more than the {len(policy.keys)} distinct trusted "
                             "key(s) given")
        self.policy = policy
        self.threshold = policy.threshold  # read per image on the hot path: a plain attribute
        trust = sigstore_trust(policy)  # validates the keyless parts and loads the trusted root once
        # Attestations (DSSE) are always checked through core/sigstore; signatures only when the
        # policy involves Sigstore (None: the plain key check of classic signatures).
        self.attestation_trust: SigstoreTrust = trust
        self.sigstore: SigstoreTrust | None = trust if uses_sigstore(policy) else None
        self.sources: tuple[tuple[str, SignatureSource], ...] = _notation_first(tuple(sources), policy)

    @classmethod
    def for_args(cls, ctx: SignetContext, args: TrustArgs | None = None) -> Verifier:
        """The Verifier for what was asked (nothing: the configuration alone) plus the configuration."""
        return cls(policy_for(ctx, args or TrustArgs()))


def _notation_first(sources: tuple[tuple[str, SignatureSource], ...],
                    policy: TrustPolicy) -> tuple[tuple[str, SignatureSource], ...]:
    """A policy that trusts only notation signers asks for them first, so a notation-signed image is
    decided without first looking for cosign signatures nothing in the policy could count (the others
    are still consulted when the threshold is not met, to report what else is there)."""
    if policy.notation is None or policy.keys or policy.identities:
        return sources
    return tuple(sorted(sources, key=lambda item: item[0] != "notation"))
