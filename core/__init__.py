"""Signet core: domain logic for container image signing. No UI imports here (enforced by a test)."""

__version__ = "0.1.0"
