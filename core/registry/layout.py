"""An OCI image layout directory (`oci:PATH[:TAG]`) as a registry: read and write.

Layout: `oci-layout` ({"imageLayoutVersion": "1.0.0"}), `index.json` (descriptors; a tag is the
`org.opencontainers.image.ref.name` annotation), `blobs/sha256/<hex>`. The directory holds one
repository, so `repository` arguments are ignored. Reads are size-capped and digest-checked like
HTTP ones (a layout on disk is as untrusted as a registry); writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from core.config.model import LimitsConfig
from core.errors import DigestMismatch, FileTooLarge, InputError, LimitExceeded, NotFound, RegistryError
from core.files import read_limited_file
from core.registry.manifest import (OCI_MANIFEST, Descriptor, Manifest, loads_strict, parse_descriptor,
                                   referrer_descriptors, sha256_digest)
from core.registry.reference import DIGEST_RE, ImageReference

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = {"imageLayoutVersion": "1.0.0"}
MAX_INDEX_ENTRIES = 100_000


class OciLayout:
    def __init__(self, path: str, *, limits: LimitsConfig) -> None:
        self.root = Path(path)
        self.name = f"oci:{path}"
        self.limits = limits
        self.requests = 0
        self._lock = threading.Lock()
        self._subject_map: tuple[tuple[str, ...], dict[str, list[dict[str, Any]]]] | None = None

    # --- reading --------------------------------------------------------------------------------

    def _read_file(self, path: Path, cap: int, what: str) -> bytes:
        # the layout stands for a registry: what goes wrong reading it is said as a registry's failure
        try:
            return read_limited_file(path, cap, what=what)
        except NotFound:
            raise NotFound(f"{what} not found in {self.name}") from None
        except FileTooLarge:
            raise LimitExceeded(what, f"more than {cap} bytes") from None
        except InputError as exc:
            raise RegistryError(f"{self.name}: {exc}") from None

    def _index(self) -> dict[str, Any]:
        raw = self._read_file(self.root / "index.json", self.limits.max_manifest_bytes, "index.json")
        doc = loads_strict(raw, what=f"{self.name} index.json")
        if not isinstance(doc, dict) or not isinstance(doc.get("manifests", []), list):
            raise RegistryError(f"{self.name}: index.json has no manifests list")
        if len(doc.get("manifests", [])) > MAX_INDEX_ENTRIES:
            raise LimitExceeded("index.json entries", len(doc["manifests"]))
        return doc

    def _blob_path(self, digest: str) -> Path:
        if not DIGEST_RE.match(digest):
            raise RegistryError(f"'{digest[:80]}' is not a sha256 digest")
        return self.root / "blobs" / "sha256" / digest.split(":", 1)[1]

    def resolve(self, ref: ImageReference) -> Manifest:
        return self.get_manifest(ref.repository, ref.digest or ref.tag or "latest")

    def get_manifest(self, repository: str, tag_or_digest: str) -> Manifest:
        media_type = ""
        digest = tag_or_digest
        if not DIGEST_RE.match(tag_or_digest):
            matches = [d for d in self._descriptors() if d.annotations.get(REF_NAME) == tag_or_digest]
            if not matches:
                raise NotFound(f"tag {tag_or_digest} not found in {self.name}")
            if len({d.digest for d in matches}) > 1:
                raise RegistryError(f"{self.name}: tag {tag_or_digest} names several manifests")
            digest, media_type = matches[0].digest, matches[0].media_type
        raw = self._read_file(self._blob_path(digest), self.limits.max_manifest_bytes, f"manifest {digest[:19]}")
        manifest = Manifest.from_bytes(raw, "")
        if not manifest.media_type:
            manifest = Manifest(raw=raw, media_type=media_type, digest=manifest.digest)
        if manifest.digest != digest:
            raise DigestMismatch(f"{self.name}: manifest {digest[:19]} hashes to {manifest.digest[:19]}")
        return manifest

    def _descriptors(self) -> list[Descriptor]:
        return [parse_descriptor(item, where=f"{self.name} index.json") for item in self._index().get("manifests", [])]

    def get_blob(self, repository: str, digest: str, *, max_bytes: int) -> bytes:
        data = self._read_file(self._blob_path(digest), max_bytes, f"blob {digest[:19]} (cap {max_bytes} bytes)")
        if sha256_digest(data) != digest:
            raise DigestMismatch(f"{self.name}: blob {digest[:19]} hashes to {sha256_digest(data)[:19]}")
        return data

    def list_tags(self, repository: str) -> list[str]:
        return sorted({d.annotations[REF_NAME] for d in self._descriptors() if REF_NAME in d.annotations})

    def catalog(self) -> list[str]:
        return [str(self.root)]

    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """Index entries whose manifest names `digest` as subject (as notation's and oras' OCI stores
        find them: a fallback tag index can be incomplete), then what the fallback tag's index adds."""
        found = self._subjects().get(digest, [])
        if len(found) > self.limits.max_referrers:
            raise LimitExceeded("max_referrers", len(found))
        try:
            tagged = referrer_descriptors(self.get_manifest(repository, digest.replace(":", "-", 1)),
                                          self.limits.max_referrers)
        except NotFound:
            tagged = []
        listed = {d.get("digest") for d in found}
        return found + [d for d in tagged if d.get("digest") not in listed]

    def _subjects(self) -> dict[str, list[dict[str, Any]]]:
        """subject digest -> descriptors of the manifests naming it; read once per index.json content."""
        descriptors = self._descriptors()
        key = tuple(d.digest for d in descriptors)
        with self._lock:
            if self._subject_map is not None and self._subject_map[0] == key:
                return self._subject_map[1]
        subjects: dict[str, list[dict[str, Any]]] = {}
        for descriptor in descriptors:
            if descriptor.media_type != OCI_MANIFEST:
                continue
            try:
                doc = self.get_manifest("", descriptor.digest).json()
            except NotFound:
                continue
            subject = doc.get("subject")
            if isinstance(subject, dict) and isinstance(subject.get("digest"), str):
                subjects.setdefault(subject["digest"], []).append(descriptor.raw or {})
        with self._lock:
            self._subject_map = (key, subjects)
        return subjects

    # --- writing --------------------------------------------------------------------------------

    def _write_atomic(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def init(self) -> None:
        """Create an empty layout (idempotent)."""
        with self._lock:
            if not (self.root / "oci-layout").exists():
                self._write_atomic(self.root / "oci-layout", json.dumps(LAYOUT_FILE).encode())
            if not (self.root / "index.json").exists():
                self._write_atomic(self.root / "index.json",
                                   json.dumps({"schemaVersion": 2, "manifests": []}).encode())

    def put_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        path = self._blob_path(digest)
        if not path.exists():
            self._write_atomic(path, data)
        return digest

    def put_manifest(self, repository: str, tag_or_digest: str, raw: bytes, media_type: str) -> str:
        if len(raw) > self.limits.max_manifest_bytes:
            raise LimitExceeded("max_manifest_bytes", len(raw))
        digest = self.put_blob(repository, raw)
        if DIGEST_RE.match(tag_or_digest):
            if tag_or_digest != digest:
                raise InputError(f"manifest bytes hash to {digest}, not {tag_or_digest}")
            return digest
        with self._lock:
            if not (self.root / "oci-layout").exists():
                self._write_atomic(self.root / "oci-layout", json.dumps(LAYOUT_FILE).encode())
            try:
                index = self._index()
            except NotFound:
                index = {"schemaVersion": 2, "manifests": []}
            entries = [m for m in index.get("manifests", [])
                       if not (isinstance(m, dict) and (m.get("annotations") or {}).get(REF_NAME) == tag_or_digest)]
            entries.append({"mediaType": media_type, "digest": digest, "size": len(raw),
                            "annotations": {REF_NAME: tag_or_digest}})
            index["manifests"] = entries
            self._write_atomic(self.root / "index.json", json.dumps(index, indent=2).encode())
        return digest

    def close(self) -> None:
        """Nothing to release; present for the RegistrySource protocol."""
