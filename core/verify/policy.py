"""What we trust when verifying: keys (or keyless identities), how many must agree, and the claims
each signature's payload must carry.

`TrustPolicy.fingerprint` names a policy for the verdict cache: two policies with the same
fingerprint accept exactly the same signatures.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from core.crypto.public_keys import MAX_PEM_BYTES, TrustedKey, load_public_key
from core.errors import InputError, NotFound
from core.registry.reference import ImageReference, parse_repository
from core.sigstore.certificate_identity import CertificateIdentity  # keyless signers (validated, matched there)

COSIGN_SIGNATURE_TYPE = "cosign container image signature"
MAX_THRESHOLD = 100
MAX_ANNOTATIONS = 64


@dataclass(frozen=True)
class TrustPolicy:
    keys: tuple[TrustedKey, ...] = ()
    threshold: int = 1
    annotations: Mapping[str, str] = field(default_factory=dict)
    allowed_payload_types: tuple[str, ...] = (COSIGN_SIGNATURE_TYPE,)
    signature_repository: ImageReference | None = None
    identities: tuple[CertificateIdentity, ...] = ()
    trusted_root: str | None = None
    require_tlog: bool | None = None
    ignore_tlog: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.threshold <= MAX_THRESHOLD:
            raise InputError(f"threshold must be between 1 and {MAX_THRESHOLD}")
        # Frozen all the way down: `fingerprint` keys cached verdicts, so what it hashes must not change.
        object.__setattr__(self, "annotations", MappingProxyType(dict(self.annotations)))
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "allowed_payload_types", tuple(self.allowed_payload_types))
        object.__setattr__(self, "identities", tuple(self.identities))

    @cached_property
    def fingerprint(self) -> str:
        material = {
            "keys": sorted(k.fingerprint for k in self.keys), "threshold": self.threshold,
            "annotations": sorted(self.annotations.items()), "types": sorted(self.allowed_payload_types),
            "sigrepo": str(self.signature_repository or ""),
            "identities": sorted([i.identity, i.issuer, i.identity_regexp, i.issuer_regexp] for i in self.identities),
            "root": self.trusted_root or "", "tlog": [self.require_tlog, self.ignore_tlog],
        }
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def parse_annotations(pairs: Sequence[str]) -> dict[str, str]:
    """`-a key=value` arguments → dict; refuses malformed or repeated keys."""
    if len(pairs) > MAX_ANNOTATIONS:
        raise InputError(f"at most {MAX_ANNOTATIONS} annotations")
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"annotation '{pair[:80]}' is not key=value")
        if key in result:
            raise InputError(f"annotation '{key[:80]}' given twice")
        result[key] = value
    return result


def resolve_key_reference(ctx: Any, ref: str) -> tuple[TrustedKey, Any]:
    """A key argument: a PEM/DER public key file, else a key-store id, name or fingerprint prefix.
    Returns the key and its inventory record (None for a file), whatever the record's state."""
    path = Path(os.path.expanduser(ref))
    if path.is_file():
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_PEM_BYTES + 1)  # load_public_key refuses anything longer
        except OSError as exc:
            raise InputError(f"cannot read key file {ref}: {exc.strerror}") from None
        return load_public_key(data, name=path.name), None
    try:
        from core.keys.inventory import find_key
    except ImportError:
        raise NotFound(f"key '{ref}' is neither a readable public key file nor in the key store") from None
    record = find_key(ctx, ref)
    return record.trusted_key(), record


def load_trusted_key(ctx: Any, ref: str) -> TrustedKey:
    """A key argument (`resolve_key_reference`) that may be trusted: a revoked key is refused."""
    key, record = resolve_key_reference(ctx, ref)
    if record is not None and record.state == "revoked":
        raise InputError(f"key '{record.name}' is revoked and cannot be trusted")
    return key


def resolve_trust_policy(ctx: Any, *, keys: Sequence[str] = (), threshold: int = 1,
                         annotations: dict[str, str] | None = None,
                         allowed_payload_types: Sequence[str] = (),
                         signature_repository: str | None = None,
                         identities: Sequence[CertificateIdentity] = (), trusted_root: str | None = None,
                         require_tlog: bool | None = None, ignore_tlog: bool = False) -> TrustPolicy:
    """Build a policy from command-line style arguments.

    Keys come from `keys` (files or key-store references), else the config's `[trust] keys`.
    The signature repository comes from the argument, else `$COSIGN_REPOSITORY` (as cosign does).
    Raises InputError/NotFound for unusable arguments: a policy is never silently weakened.
    """
    key_refs = tuple(keys) or ctx.config.trust.keys
    loaded: dict[str, TrustedKey] = {}
    for ref in key_refs:
        key = load_trusted_key(ctx, ref)
        loaded.setdefault(key.fingerprint, key)
    if not loaded and not identities:
        raise InputError("no trusted keys: give --key (a public key file or key-store id) or set [trust] keys")
    if loaded and threshold > len(loaded):
        raise InputError(f"threshold {threshold} is more than the {len(loaded)} distinct trusted key(s) given")
    repo_text = signature_repository or os.environ.get("COSIGN_REPOSITORY") or None
    return TrustPolicy(
        keys=tuple(loaded.values()), threshold=threshold, annotations=dict(annotations or {}),
        allowed_payload_types=tuple(allowed_payload_types) or (COSIGN_SIGNATURE_TYPE,),
        signature_repository=parse_repository(repo_text) if repo_text else None,
        identities=tuple(identities), trusted_root=trusted_root or ctx.config.trust.trusted_root or None,
        require_tlog=require_tlog, ignore_tlog=ignore_tlog)
