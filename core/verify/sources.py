"""Signature sources: each finds one kind of signature for an image digest and checks it.

A source is a function `(session, image: ImageTarget, policy) -> SourceOutcome`. The classic cosign
`.sig` tag is the first; Sigstore bundles found as OCI referrers can be added to `SIGNATURE_SOURCES`
without touching the decision in core/verify/service.py, which counts distinct trusted signers over
the checks of every source.
"""

from __future__ import annotations

from typing import Any, Callable

from core.sigstore.referrers import check_sigstore_bundles
from core.verify.cosign_signatures import check_cosign_signatures
from core.verify.outcome import ImageTarget, SourceOutcome

SignatureSourceFn = Callable[[Any, ImageTarget, Any], SourceOutcome]

SIGNATURE_SOURCES: tuple[tuple[str, SignatureSourceFn], ...] = (
    ("cosign-sig", check_cosign_signatures),
    ("sigstore-bundle", check_sigstore_bundles),
)
