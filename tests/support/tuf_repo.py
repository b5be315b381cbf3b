"""A TUF repository on disk, made with python-tuf's own Metadata API (the repository side of the reference
implementation): root, timestamp, snapshot and targets roles with their own keys, consistent snapshots,
and `trusted_root.json` as a target, laid out as a TUF CDN serves it (metadata at the base, targets under
targets/ with hash-prefixed names)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, TargetFile, Targets, Timestamp
from tuf.api.serialization.json import JSONSerializer

ROLES = ("root", "timestamp", "snapshot", "targets")


class LocalTufRepo:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        (directory / "targets").mkdir(parents=True, exist_ok=True)
        self.signers = {role: CryptoSigner.generate_ecdsa() for role in ROLES}
        expires = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=30)
        self.root = Metadata(Root(expires=expires, consistent_snapshot=True))
        for role in ROLES:
            self.root.signed.add_key(self.signers[role].public_key, role)
        self.targets = Metadata(Targets(expires=expires))
        self.snapshot = Metadata(Snapshot(expires=expires))
        self.timestamp = Metadata(Timestamp(expires=expires))
        self._write_root()

    @property
    def root_file(self) -> Path:
        return self.dir / "1.root.json"

    def _write(self, name: str, md: Metadata, role: str) -> None:
        md.signatures.clear()
        md.sign(self.signers[role])
        (self.dir / name).write_bytes(md.to_bytes(JSONSerializer(compact=False)))

    def _write_root(self) -> None:
        self._write(f"{self.root.signed.version}.root.json", self.root, "root")

    def publish(self, trusted_root: bytes, *, expires_in: timedelta = timedelta(days=7)) -> None:
        """A new trusted_root.json target, then new targets, snapshot and timestamp versions."""
        digest = hashlib.sha256(trusted_root).hexdigest()
        (self.dir / "targets" / f"{digest}.trusted_root.json").write_bytes(trusted_root)
        self.targets.signed.targets["trusted_root.json"] = TargetFile.from_data("trusted_root.json", trusted_root)
        now = datetime.now(timezone.utc).replace(microsecond=0)
        for md in (self.targets, self.snapshot, self.timestamp):
            md.signed.version += 1
            md.signed.expires = now + expires_in
        self._write(f"{self.targets.signed.version}.targets.json", self.targets, "targets")
        self.snapshot.signed.meta["targets.json"] = MetaFile(version=self.targets.signed.version)
        self._write(f"{self.snapshot.signed.version}.snapshot.json", self.snapshot, "snapshot")
        self.timestamp.signed.snapshot_meta = MetaFile(version=self.snapshot.signed.version)
        self._write("timestamp.json", self.timestamp, "timestamp")

    def expire_timestamp(self) -> None:
        self.timestamp.signed.version += 1
        self.timestamp.signed.expires = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
        self._write("timestamp.json", self.timestamp, "timestamp")

    def expire_root(self) -> None:
        """A new root version (signed by the same root key) whose expiry has passed: the newest root a
        client can reach is expired, and TUF refuses the whole repository."""
        self.root.signed.version += 1
        self.root.signed.expires = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
        self._write_root()

    def rotate_timestamp_key(self) -> None:
        """A root rotation (version 2, signed by the old and new root keys alike) that replaces the
        timestamp key: a client must follow it from its cached root."""
        old = self.signers["timestamp"]
        self.signers["timestamp"] = CryptoSigner.generate_ecdsa()
        self.root.signed.revoke_key(old.public_key.keyid, "timestamp")
        self.root.signed.add_key(self.signers["timestamp"].public_key, "timestamp")
        self.root.signed.version += 1
        self._write_root()
