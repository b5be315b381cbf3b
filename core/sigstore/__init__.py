"""Sigstore verification, offline: trusted roots, bundles, Rekor proofs, Fulcio certificates, RFC 3161
timestamps, DSSE and in-toto attestations (cosign-formats.md §2-§8).

Everything here is pure: bytes and a trusted root in, a verified result or CheckFailed out. Registry
discovery lives in core/sigstore/referrers.py; the verify engine (core/verify) calls these.
"""
