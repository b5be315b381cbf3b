"""Verifier policy documents (Kyverno, Sigstore policy-controller) generated from trusted keys."""
