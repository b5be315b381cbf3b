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
from typing import Mapping, Sequence

from core.config.model import TrustConfig
from core.context import SignetContext
from core.crypto.public_keys import MAX_PEM_BYTES, TrustedKey, load_public_key
from core.errors import ConfigError, InputError, NotFound
from core.keys.inventory import KeyRecord, find_key
from core.conditions import attestation_conditions
from core.conditions.outcome import AttestationCondition
from core.notation.config import NotationTrust, load_notation_trust
from core.sigstore.attestation import predicate_type_for
from core.registry.reference import ImageReference, parse_repository
from core.sigstore.certificate_identity import CertificateIdentity  # keyless signers (validated, matched there)

COSIGN_SIGNATURE_TYPE = "cosign container image signature"
MAX_THRESHOLD = 100
MAX_ANNOTATIONS = 64


@dataclass(frozen=True)
class RequiredAttestation:
    """An attestation every verified image must also carry: of `predicate_type`, verified under the same
    trust, with every condition holding on it (`[[trust.attestations]]`)."""

    predicate_type: str
    conditions: tuple[AttestationCondition, ...] = ()

    @property
    def label(self) -> str:
        return self.predicate_type + "".join(f" [{c.label}]" for c in self.conditions)


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
    notation: NotationTrust | None = None  # notation's trust policy + trust store, when one is configured
    required_attestations: tuple[RequiredAttestation, ...] = ()
    # A verified signature on an index also covers the children its manifest lists (what Kyverno
    # admits); False: only a digest's own signatures count (what `cosign verify` does)
    index_covers_children: bool = True

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
            "notation": [self.notation.fingerprint, self.notation.scope, self.notation.signer_revocation]
            if self.notation else None,
            "attestations": [a.label for a in self.required_attestations],
            "index_covers_children": self.index_covers_children,
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


def resolve_key_reference(ctx: SignetContext, ref: str) -> tuple[TrustedKey, KeyRecord | None]:
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
        record = find_key(ctx, ref)
    except NotFound:
        if _looks_like_a_path(ref):
            raise NotFound(f"key file {ref} does not exist") from None
        raise
    return record.trusted_key(), record


def _looks_like_a_path(ref: str) -> bool:
    """Key names and fingerprints have no '/' and no file suffix; `./k.pub`, `~/k.pem`, `k.pub` do."""
    return "/" in ref or ref.startswith(("~", ".")) or Path(ref).suffix.lower() in (".pub", ".pem", ".der", ".key")


def load_trusted_key(ctx: SignetContext, ref: str) -> TrustedKey:
    """A key argument (`resolve_key_reference`) that may be trusted: a revoked key is refused."""
    key, record = resolve_key_reference(ctx, ref)
    if record is not None and record.state == "revoked":
        raise InputError(f"key '{record.name}' is revoked and cannot be trusted")
    return key


@dataclass(frozen=True)
class TrustArgs:
    """What a person asked for (command-line flags, a console action): `policy_for` adds the
    configuration. Empty fields mean "use the configured value" (keys, identity, trusted root)."""

    keys: tuple[str, ...] = ()               # PEM files or key-store ids/names/fingerprint prefixes
    threshold: int | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    allowed_payload_types: tuple[str, ...] = ()
    signature_repository: str | None = None  # else $COSIGN_REPOSITORY, else the image's own
    identities: tuple[CertificateIdentity, ...] = ()
    trusted_root: str | None = None
    require_tlog: bool = False
    ignore_tlog: bool = False
    notation_config: str | None = None       # notation's config directory; else [trust], else notation's default
    notation_scope: str | None = None        # registry scope for OCI layouts (notation's --scope)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "allowed_payload_types", tuple(self.allowed_payload_types))
        object.__setattr__(self, "identities", tuple(self.identities))


def policy_for(ctx: SignetContext, args: TrustArgs = TrustArgs()) -> TrustPolicy:
    """The trust policy for `args` under the context's configuration; every command and console
    action builds its policy here, so the same request gets the same verdict everywhere.

    Each field comes from `args`, else from `[trust]`: keys (`keys`), threshold, annotations,
    payload types (`payload_types`), keyless identities (`certificate_identity` /
    `certificate_oidc_issuer`), the trusted root; the signature repository from the argument, else
    `$COSIGN_REPOSITORY` (as cosign does). Raises InputError/NotFound for unusable arguments. Whether
    the policy can be used at all (keys or identities, threshold, trusted root) is checked by
    `Verifier` (core/verify/verifier.py), whoever built the policy.
    """
    trust = ctx.config.trust
    loaded: dict[str, TrustedKey] = {}
    for ref in args.keys or trust.keys:
        key = load_trusted_key(ctx, ref)
        loaded.setdefault(key.fingerprint, key)
    repo_text = args.signature_repository or os.environ.get("COSIGN_REPOSITORY") or None
    return TrustPolicy(
        keys=tuple(loaded.values()), threshold=args.threshold or trust.threshold,
        annotations=dict(args.annotations or parse_annotations(trust.annotations)),
        allowed_payload_types=args.allowed_payload_types or trust.payload_types or (COSIGN_SIGNATURE_TYPE,),
        signature_repository=parse_repository(repo_text) if repo_text else None,
        identities=args.identities or configured_identities(trust),
        trusted_root=args.trusted_root or trust.trusted_root or None,
        require_tlog=True if args.require_tlog else None, ignore_tlog=args.ignore_tlog,
        notation=load_notation_trust(args.notation_config or trust.notation_config or None,
                                     scope=args.notation_scope, signer_revocation=trust.aws_signer_revocation),
        index_covers_children=trust.index_signature_covers_children,
        required_attestations=required_attestations(trust))


def required_attestations(trust: TrustConfig) -> tuple[RequiredAttestation, ...]:
    """`[[trust.attestations]]` compiled (a bad type or condition is a configuration error, exit 2)."""
    found = []
    for i, entry in enumerate(trust.attestations):
        try:
            found.append(RequiredAttestation(predicate_type_for(entry.type), attestation_conditions(
                entry.conditions, max_severity=entry.max_severity or None,
                slsa_builder_id=entry.slsa_builder_id or None, slsa_source_repo=entry.slsa_source_repo or None)))
        except InputError as exc:
            raise ConfigError(f"[[trust.attestations]] #{i + 1}: {exc}") from None
    return tuple(found)


def configured_identities(trust: TrustConfig) -> tuple[CertificateIdentity, ...]:
    """`[trust] certificate_identity` / `certificate_oidc_issuer` as an identity; () when neither is
    set. A half-given identity (no issuer) is an InputError."""
    if trust.certificate_identity or trust.certificate_oidc_issuer:
        return (CertificateIdentity(identity=trust.certificate_identity, issuer=trust.certificate_oidc_issuer),)
    return ()
