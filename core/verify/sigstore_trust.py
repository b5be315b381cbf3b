"""From a TrustPolicy to the SigstoreTrust the core/sigstore verifiers take.

The trusted root file is read once per (path, size, mtime): verifying ten thousand images does not
re-parse it, and an edited file is picked up by the next Verifier.
"""

from __future__ import annotations

import functools
import os

from core.errors import InputError
from core.sigstore.trusted_root import TrustedRoot, load_trusted_root
from core.sigstore.verifier import SigstoreTrust
from core.verify.policy import TrustPolicy


def uses_sigstore(policy: TrustPolicy) -> bool:
    """Sigstore material is consulted once the policy names keyless identities, a trusted root, or
    demands a transparency log; a key-only policy keeps the plain key check of classic signatures."""
    return bool(policy.identities or policy.trusted_root or policy.require_tlog)


def sigstore_trust(policy: TrustPolicy) -> SigstoreTrust:
    """Keyless needs a trusted root; the log is required for keyless signatures unless
    `--insecure-ignore-tlog`, and for key-based ones only when asked (`--require-tlog`)."""
    root = trusted_root_at(policy.trusted_root) if policy.trusted_root else None
    if policy.identities and not policy.keys and root is None:
        raise InputError("keyless verification needs --trusted-root FILE (or [trust] trusted_root)")
    if policy.identities and not policy.keys and policy.threshold > 1:
        # Signers are counted by key and every keyless signature has a fresh key: one identity
        # signing twice must not pass for two signers.
        raise InputError("--threshold above 1 counts trusted keys; it cannot be used with keyless identities alone")
    if policy.ignore_tlog and policy.require_tlog:
        raise InputError("--require-tlog and --insecure-ignore-tlog contradict each other")
    # A key-only policy without a trusted root cannot check log entries and did not ask for them:
    # they are ignored, exactly as the plain key check of classic signatures does.
    ignore = policy.ignore_tlog or (root is None and not policy.identities and not policy.require_tlog)
    return SigstoreTrust(root=root, identities=tuple(policy.identities), keys=tuple(policy.keys),
                         require_tlog=False if ignore else policy.require_tlog, ignore_tlog=ignore)


def trusted_root_at(path: str) -> TrustedRoot:
    expanded = os.path.expanduser(path)
    try:
        stat = os.stat(expanded)
    except OSError as exc:
        raise InputError(f"cannot read trusted root {path}: {exc.strerror}") from None
    return _load(expanded, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _load(path: str, _size: int, _mtime_ns: int) -> TrustedRoot:
    return load_trusted_root(path)
