"""Keep `trusted_root.json` fresh through TUF (python-tuf's ngclient, the reference client), the way
Sigstore distributes it: from a repository URL, or from a local mirror directory for air-gapped sites.

The first update needs the TUF root.json the user pinned out of band (`[trust] tuf_root` / `--tuf-root`);
later ones start from the root cached under the Signet data directory, so root rotations are followed and
an expired or rolled-back repository is refused by TUF itself. The target is checked to be a usable
Sigstore trusted root before it replaces the old one (atomically, same file), and a sidecar file records
when and from where it was last refreshed, for the freshness warning.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tuf.api import exceptions as tuf_errors
from tuf.ngclient.config import UpdaterConfig
from tuf.ngclient.fetcher import FetcherInterface
from tuf.ngclient.updater import Updater
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

from core.atomic_files import write_atomically
from core.clock import iso
from core.errors import CheckFailed, ConfigError, ExternalError, InputError
from core.sigstore.trusted_root import load_trusted_root

TARGET = "trusted_root.json"
SIDECAR_SUFFIX = ".tuf.json"
MAX_TARGET_BYTES = 2 * 1024 * 1024
SOCKET_TIMEOUT_S = 30


@dataclass(frozen=True)
class RootUpdate:
    source: str
    path: Path
    changed: bool
    sha256: str
    tuf_root_version: int


class _DirectoryFetcher(FetcherInterface):
    """A local mirror: `file://` URLs read from disk, so an air-gapped site copies the repository over."""

    def _fetch(self, url: str) -> Iterator[bytes]:
        path = Path(unquote(urlsplit(url).path))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise tuf_errors.DownloadHTTPError(f"{path} not found", 404) from None
        except OSError as exc:
            raise tuf_errors.DownloadError(f"{path}: {exc.strerror}") from None
        yield data


def update_trusted_root(*, repository: str, state_dir: Path, destination: Path,
                        bootstrap_root: Path | None = None) -> RootUpdate:
    """Refresh `destination` from the TUF repository; raises ConfigError (exit 2) for what the user must
    fix, CheckFailed (exit 1) for a repository TUF refuses, ExternalError (exit 3) when it cannot be reached."""
    base, fetcher = _base_and_fetcher(repository)
    metadata_dir = state_dir / hashlib.sha256(base.encode()).hexdigest()[:16]
    metadata_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    bootstrap = None
    if not (metadata_dir / "root.json").is_file():
        if bootstrap_root is None:
            raise ConfigError(f"first update from {repository}: give the TUF root.json you trust for it "
                              "(--tuf-root FILE or [trust] tuf_root)")
        try:
            bootstrap = bootstrap_root.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{bootstrap_root}: {exc.strerror}") from None
    target_dir = metadata_dir / "targets"
    target_dir.mkdir(exist_ok=True)
    try:
        updater = Updater(str(metadata_dir), f"{base}/", str(target_dir), f"{base}/targets/", fetcher,
                          UpdaterConfig(targets_max_length=MAX_TARGET_BYTES), bootstrap=bootstrap)
        updater.refresh()
        info = updater.get_targetinfo(TARGET)
        if info is None:
            raise CheckFailed(f"the TUF repository {repository} has no {TARGET} target")
        local = updater.find_cached_target(info) or updater.download_target(info)
    except tuf_errors.ExpiredMetadataError as exc:
        raise CheckFailed(f"TUF repository {repository}: expired metadata, refused ({exc})") from None
    except (tuf_errors.DownloadError, tuf_errors.SlowRetrievalError) as exc:
        raise ExternalError(f"TUF repository {repository} could not be read: {exc}") from None
    except tuf_errors.RepositoryError as exc:
        raise CheckFailed(f"TUF repository {repository} refused: {type(exc).__name__}: {exc}") from None
    except ValueError as exc:  # malformed bootstrap root or metadata
        raise CheckFailed(f"TUF metadata from {repository} is malformed: {exc}") from None
    root_version = json.loads((metadata_dir / "root.json").read_bytes())["signed"]["version"]
    data = Path(local).read_bytes()
    try:
        load_trusted_root(local)
    except (CheckFailed, InputError) as exc:
        raise CheckFailed(f"{TARGET} from {repository} is not a usable trusted root: {exc}") from None
    previous = destination.read_bytes() if destination.is_file() else None
    write_atomically(destination, data, mode=0o644)
    return RootUpdate(repository, destination, previous != data, hashlib.sha256(data).hexdigest(), root_version)


def record_refresh(destination: Path, update: RootUpdate, at: datetime) -> None:
    write_atomically(_sidecar(destination), json.dumps({"refreshed_at": iso(at), "source": update.source,
                                                     "sha256": update.sha256,
                                                     "tuf_root_version": update.tuf_root_version}).encode(),
                     mode=0o644)


def root_age_warning(trusted_root: str, max_age_seconds: int, now: datetime) -> str:
    """A one-line warning when the trusted root was last refreshed (through TUF; else when the file last
    changed) longer ago than allowed, else ""."""
    path = Path(trusted_root).expanduser()
    refreshed: datetime | None = None
    try:
        refreshed = datetime.fromisoformat(json.loads(_sidecar(path).read_text())["refreshed_at"])
    except (OSError, ValueError, KeyError, TypeError):
        try:
            refreshed = datetime.fromtimestamp(path.stat().st_mtime, tz=now.tzinfo)
        except OSError:
            return ""
    age = now - refreshed
    if age <= timedelta(seconds=max_age_seconds):
        return ""
    return (f"trusted root {path} was last refreshed {age.days} days ago (max_root_age {max_age_seconds // 86400}d): "
            "run `signet trust update`")


def _base_and_fetcher(repository: str) -> tuple[str, FetcherInterface]:
    if repository.startswith(("https://", "http://")):
        split = urlsplit(repository)
        if split.scheme == "http" and split.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise InputError(f"{repository}: a TUF repository over plain HTTP is only allowed on loopback")
        return repository.rstrip("/"), Urllib3Fetcher(socket_timeout=SOCKET_TIMEOUT_S)
    path = Path(repository).expanduser()
    if not path.is_dir():
        raise ConfigError(f"TUF repository {repository} is neither an http(s) URL nor a mirror directory")
    return path.resolve().as_uri(), _DirectoryFetcher()


def _sidecar(destination: Path) -> Path:
    return destination.with_name(destination.name + SIDECAR_SUFFIX)

