"""Where Signet keeps things. Precedence for the database: --db flag, SIGNET_DB, platform data dir.

Only the default location is created when missing. An explicit database path (flag or SIGNET_DB)
whose directory does not exist is a mistake (a typo would otherwise open a new, empty history that
reads as "no failures"), so it is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from core.errors import UsageError
from core.store.target import is_team_store

APP_NAME = "signet"


@dataclass(frozen=True)
class SignetPaths:
    db: Path
    config: Path
    key_store: Path
    db_explicit: bool = False  # named by --db or SIGNET_DB (not the platform default)
    store_url: str = ""  # a team database named by --db or SIGNET_DB (then `db` is only the local default)

    @property
    def store(self) -> str:
        """What to open: the team database URL if one was named, else the SQLite file."""
        return self.store_url or str(self.db)

    def check_db_location(self) -> None:
        """Refuse an explicit database path whose directory is missing (the default one is created)."""
        if self.db_explicit and not self.db.parent.is_dir():
            raise UsageError(f"database {self.db}: directory {self.db.parent} does not exist "
                             "(create it, or fix --db / SIGNET_DB)")


def default_paths() -> SignetPaths:
    """The platform locations used when neither flags nor SIGNET_* variables name others."""
    db = Path(platformdirs.user_data_dir(APP_NAME)) / "signet.db"
    return SignetPaths(db=db, config=Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml",
                       key_store=db.parent / "keys")


def resolve_paths(*, db: str | os.PathLike[str] | None = None,
                  config: str | os.PathLike[str] | None = None) -> SignetPaths:
    defaults = default_paths()
    named = str(db) if db else os.environ.get("SIGNET_DB", "")
    store_url = named if is_team_store(named) else ""
    db_path = Path(named) if named and not store_url else defaults.db
    config_path = (Path(config) if config else Path(os.environ["SIGNET_CONFIG"])
                   if os.environ.get("SIGNET_CONFIG") else defaults.config)
    key_store = (Path(os.environ["SIGNET_KEY_STORE"]) if os.environ.get("SIGNET_KEY_STORE")
                 else db_path.parent / "keys")
    return SignetPaths(db=db_path.expanduser(), config=config_path.expanduser(), key_store=key_store.expanduser(),
                       db_explicit=bool(named) and not store_url, store_url=store_url)
