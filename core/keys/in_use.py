"""Which images are "in use", for rotation re-signing, soak coverage and compromise exposure.

Definition: the distinct (repository, digest) pairs Signet knows about from
  * verification history (every source except `rotation`, whose rows only re-check known digests):
    cluster sweeps (what runs), the Lambda gate, and people's verify/sign runs;
  * the Lambda inventory (`lambda_functions.resolved_digest` with its `image_uri` repository);
  * registry tags recorded in `image_tags` (cosign's own `sha256-*.sig|.att|.sbom` tags excluded).
An image that Signet has never seen cannot be counted; run a sweep before rotating so the
inventory is current. Rows whose reference cannot be parsed are skipped (they cannot be signed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.context import SignetContext
from core.errors import InputError, LimitExceeded
from core.registry.reference import DIGEST_RE, parse_reference

MAX_IN_USE = 100_000
_COSIGN_TAG = re.compile(r"^sha256-[a-f0-9]{64}\.(sig|att|sbom)$")


@dataclass(frozen=True)
class InUseImage:
    reference: str             # repository@digest, ready for signing and verifying
    digest: str
    sources: tuple[str, ...]   # history:<source>, lambda, registry

    def as_dict(self) -> dict[str, object]:
        return {"reference": self.reference, "digest": self.digest, "sources": list(self.sources)}


def in_use_images(ctx: SignetContext) -> list[InUseImage]:
    found: dict[str, set[str]] = {}

    def add(reference: str, digest: str | None, source: str) -> None:
        if not digest or not DIGEST_RE.match(digest):
            return
        try:
            ref = parse_reference(reference, default_tag=None)
        except InputError:
            return
        key = f"{ref.name}@{digest}"
        if key not in found and len(found) >= MAX_IN_USE:
            raise LimitExceeded("in-use images", MAX_IN_USE)
        found.setdefault(key, set()).add(source)

    rows = ctx.store.query("SELECT reference, digest, source FROM verifications WHERE digest IS NOT NULL "
                           "AND source != 'rotation' GROUP BY reference, digest, source LIMIT ?", (MAX_IN_USE * 4,))
    for row in rows:
        add(row["reference"], row["digest"], f"history:{row['source']}")
    for row in ctx.store.query("SELECT image_uri, resolved_digest FROM lambda_functions "
                               "WHERE resolved_digest IS NOT NULL AND image_uri IS NOT NULL"):
        add(row["image_uri"], row["resolved_digest"], "lambda")
    for row in ctx.store.query("SELECT repository, tag, digest FROM image_tags LIMIT ?", (MAX_IN_USE * 4,)):
        if not _COSIGN_TAG.match(row["tag"]):
            add(row["repository"], row["digest"], "registry")
    return [InUseImage(reference=key, digest=key.rsplit("@", 1)[1], sources=tuple(sorted(sources)))
            for key, sources in sorted(found.items())]
