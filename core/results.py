"""The one vocabulary of verdicts: what a verification, a sweep, the Lambda listing and release gate,
and a history row can say about an image.

- `verified`: at least `threshold` distinct trusted signers signed this exact digest;
- `unsigned`: no signature was found for the digest;
- `invalid`: signatures were found but not enough of them are valid for the trusted keys;
- `error`: the registry, network or a limit failed, so nothing could be decided (fail closed);
- `bypassed`: not verified, but an active bypass covers the digest at that place (core/bypass/coverage.py);
  never set by a verification itself.
"""

from __future__ import annotations

VERIFIED = "verified"
UNSIGNED = "unsigned"
INVALID = "invalid"
ERROR = "error"
BYPASSED = "bypassed"

RESULTS = (VERIFIED, UNSIGNED, INVALID, ERROR, BYPASSED)
FAILURE_RESULTS = (UNSIGNED, INVALID, ERROR)  # not verified and not covered by a bypass
