"""Image references, parsed strictly and normalised the way the docker CLI does.

Accepted forms:
- `NAME[:TAG][@DIGEST]` with docker's normalisation: no registry host → `docker.io`, a one-part
  Docker Hub name → `library/NAME`, no tag and no digest → tag `latest`.
- `oci:PATH[:TAG]` or `oci:PATH@DIGEST`: an OCI image layout directory (skopeo's `oci:` transport;
  like skopeo, PATH ends at the first `:`).

Everything is bounded (length, path depth) and control characters are refused, because references
come from clusters, Lambda configs and people, and end up in tables, history and terminals. Whitespace
is refused too (no registry reference contains any), except the plain space inside an `oci:` path: a
local directory may have one ("Application Support", a project named "D with space"). Other whitespace
(tabs, newlines, no-break and wide spaces) and a directory name starting or ending with a space are
refused even there, as they hide in a table or a shell line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from functools import lru_cache

from core.errors import InputError
from core.text import has_control_chars

MAX_REFERENCE_LEN = 1024
MAX_NAME_LEN = 255  # docker's limit for registry + repository
MAX_PATH_COMPONENTS = 32
DOCKER_HUB = "docker.io"
LAYOUT_REGISTRY = "oci"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# \Z, not $: with re.match, $ also matches before a trailing newline ("sha256:<hex>\n").
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}\Z")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
_SPACE = re.compile(r"\s")
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}


@dataclass(frozen=True)
class ImageReference:
    """A parsed image reference. `registry` is host[:port], or "oci" for a layout directory."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    layout_path: str | None = None

    @property
    def is_layout(self) -> bool:
        return self.layout_path is not None

    @property
    def name(self) -> str:
        """Registry and repository without tag or digest (what cosign calls the context name)."""
        if self.is_layout:
            return f"oci:{self.layout_path}"
        return f"{self.registry}/{self.repository}"

    @property
    def identity(self) -> str:
        """The `docker-reference` cosign writes into a payload (go-containerregistry's `Context().Name()`)."""
        if self.is_layout:
            return self.name
        host = "index.docker.io" if self.registry == DOCKER_HUB else self.registry
        return f"{host}/{self.repository}"

    def with_digest(self, digest: str) -> ImageReference:
        if not DIGEST_RE.match(digest):
            raise InputError(f"'{digest[:80]}' is not a sha256 digest")
        return replace(self, digest=digest)

    def with_tag(self, tag: str | None) -> ImageReference:
        if tag is not None and not _TAG.match(tag):
            raise InputError(f"'{tag[:140]}' is not a valid tag")
        return replace(self, tag=tag)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str, *, default_tag: str | None = "latest") -> ImageReference:
    """Parse and normalise `text`; raises InputError naming what is wrong."""
    if not isinstance(text, str) or not text:
        raise InputError("empty image reference")
    if len(text) > MAX_REFERENCE_LEN:
        raise InputError(f"image reference is longer than {MAX_REFERENCE_LEN} characters")
    if text.startswith("oci:"):  # not cached: a relative path depends on the working directory
        _check_characters(text.replace(" ", ""))  # a space is checked where the path is known
        return _parse_layout(text[4:], default_tag)
    return _parse_docker_cached(text, default_tag)


def _check_characters(text: str) -> None:
    if has_control_chars(text) or _SPACE.search(text):
        raise InputError("image reference contains whitespace or control characters")


@lru_cache(maxsize=65536)  # sweeps parse the same references again and again; results are immutable
def _parse_docker_cached(text: str, default_tag: str | None) -> ImageReference:
    _check_characters(text)
    return _parse_docker(text, default_tag)


def parse_repository(text: str) -> ImageReference:
    """A repository without tag or digest (e.g. `--signature-repository`)."""
    ref = parse_reference(text, default_tag=None)
    if ref.tag or ref.digest:
        raise InputError(f"'{text[:200]}' must name a repository, without tag or digest")
    return ref


def parse_registry_host(text: str) -> str:
    """A registry host[:port] as written in references (Docker Hub aliases become docker.io)."""
    if not text or len(text) > MAX_NAME_LEN or not _HOST.match(text):
        raise InputError(f"'{text[:80]}' is not a registry host[:port]")
    host = text.lower()
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _parse_docker(text: str, default_tag: str | None) -> ImageReference:
    name, digest = text, None
    if "@" in text:
        name, digest = text.split("@", 1)
        if not DIGEST_RE.match(digest):
            raise InputError(f"'{digest[:80]}' is not a sha256 digest (sha256: and 64 lowercase hex digits)")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not _TAG.match(tag):
            raise InputError(f"'{tag[:140]}' is not a valid tag")
    registry, repository = _split_registry(name)
    parts = repository.split("/")
    if len(parts) > MAX_PATH_COMPONENTS:
        raise InputError(f"repository has more than {MAX_PATH_COMPONENTS} path components")
    for part in parts:
        if not _COMPONENT.match(part):
            raise InputError(f"'{part[:80]}' is not a valid repository name component (lowercase letters, digits, "
                             "separators . _ __ -)")
    if len(registry) + 1 + len(repository) > MAX_NAME_LEN:
        raise InputError(f"repository name is longer than {MAX_NAME_LEN} characters")
    if tag is None and digest is None:
        tag = default_tag
    return ImageReference(registry=registry, repository=repository, tag=tag, digest=digest)


def _split_registry(name: str) -> tuple[str, str]:
    if not name:
        raise InputError("image reference has no repository name")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        if not _HOST.match(first):
            raise InputError(f"'{first[:80]}' is not a valid registry host")
        registry = first.lower()
        if registry in _HUB_ALIASES:
            registry = DOCKER_HUB
            if "/" not in rest:
                rest = f"library/{rest}"
        return registry, rest
    if "/" not in name:
        return DOCKER_HUB, f"library/{name}"
    return DOCKER_HUB, name


def _parse_layout(rest: str, default_tag: str | None) -> ImageReference:
    digest = None
    tag = None
    if "@" in rest:
        rest, digest = rest.rsplit("@", 1)
        if not DIGEST_RE.match(digest):
            raise InputError(f"'{digest[:80]}' is not a sha256 digest")
    elif ":" in rest:
        rest, tag = rest.split(":", 1)
        if not _TAG.match(tag):
            raise InputError(f"'{tag[:140]}' is not a valid tag")
    if not rest:
        raise InputError("oci: reference has no directory path")
    if any(part != part.strip(" ") for part in rest.split("/")):
        raise InputError("oci: path has a directory name starting or ending with a space")
    path = os.path.normpath(os.path.abspath(os.path.expanduser(rest)))
    if tag is None and digest is None:
        tag = default_tag
    return ImageReference(registry=LAYOUT_REGISTRY, repository=path, tag=tag, digest=digest, layout_path=path)
