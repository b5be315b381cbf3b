"""Cryptographic helpers built on `cryptography`; no primitive is implemented here."""
