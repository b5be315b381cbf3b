"""Key custody: cosign key files, the key inventory, signers, backups and rotation."""
