"""Verifiers for rotation decisions: exactly some keys, read fresh.

Rotation decisions (sign again or not, coverage, exposure) must see signatures another process
added seconds ago (a crashed run being resumed), not the up-to-30-second-old tag cache, so each
verifier here comes with this process's cached `.sig` tags of the images it will look at dropped.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from core.context import SignetContext
from core.errors import InvalidState
from core.keys.inventory import KeyRecord
from core.registry.cache import source_key
from core.registry.reference import parse_reference, parse_repository
from core.verify.cosign_signatures import signature_repository, signature_tag
from core.verify.policy import TrustArgs, TrustPolicy, policy_for
from core.verify.verifier import Verifier


def fresh_key_verifier(ctx: SignetContext, keys: Sequence[KeyRecord], refs: Sequence[str]) -> Verifier:
    """A Verifier trusting only `keys`; the signature repository follows `$COSIGN_REPOSITORY`, as
    `sign_image` does."""
    repo_text = os.environ.get("COSIGN_REPOSITORY") or None
    policy = TrustPolicy(keys=tuple(k.trusted_key() for k in keys),
                         signature_repository=parse_repository(repo_text) if repo_text else None)
    _forget_signature_tags(ctx, policy, refs)
    return Verifier(policy)


def single_key_verifier(ctx: SignetContext, key: KeyRecord, refs: Sequence[str]) -> Verifier:
    """What `signet verify --key KEY` checks (policy_for: the configured annotations, payload types,
    trusted root and signature repository), with this one key as the only signer that counts: no
    keyless identity, threshold 1."""
    policy = dataclasses.replace(policy_for(ctx, TrustArgs(keys=(key.id,), threshold=1)), identities=())
    if {k.fingerprint for k in policy.keys} != {key.fingerprint}:
        raise InvalidState(f"the trust policy for key {key.name} does not trust exactly that key")
    _forget_signature_tags(ctx, policy, refs)
    return Verifier(policy)


def _forget_signature_tags(ctx: SignetContext, policy: TrustPolicy, refs: Sequence[str]) -> None:
    cache = ctx.registry_cache
    for text in refs:
        ref = parse_reference(text, default_tag=None)
        sig_ref = signature_repository(ref, policy)
        cache.tags.forget((source_key(sig_ref), sig_ref.repository, signature_tag(ref.digest or "")))
