"""RFC 6962 / RFC 9162 Merkle inclusion proofs (leaf = H(0x00‖data), node = H(0x01‖left‖right))."""

from __future__ import annotations

import hashlib

from core.errors import CheckFailed

MAX_PROOF_HASHES = 64  # a tree of 2^63 leaves needs 63


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(*, index: int, tree_size: int, leaf: bytes, proof: tuple[bytes, ...], root: bytes) -> None:
    """RFC 9162 §2.1.3.2, step by step. Raises CheckFailed unless `leaf` is at `index` under `root`."""
    if not 0 <= index < tree_size:
        raise CheckFailed(f"inclusion proof: index {index} outside a tree of {tree_size}")
    if len(proof) > MAX_PROOF_HASHES or any(len(h) != 32 for h in proof) or len(root) != 32:
        raise CheckFailed("inclusion proof: malformed hashes")
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise CheckFailed("inclusion proof: too many hashes")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise CheckFailed("inclusion proof: too few hashes")
    if r != root:
        raise CheckFailed("inclusion proof: computed root does not match the proof's root hash")
