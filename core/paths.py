"""Where Signet keeps things. Precedence for the database: --db flag, SIGNET_DB, platform data dir."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "signet"


@dataclass(frozen=True)
class SignetPaths:
    db: Path
    config: Path
    key_store: Path


def resolve_paths(*, db: str | os.PathLike[str] | None = None,
                  config: str | os.PathLike[str] | None = None) -> SignetPaths:
    data_dir = Path(platformdirs.user_data_dir(APP_NAME))
    config_dir = Path(platformdirs.user_config_dir(APP_NAME))
    db_path = Path(db) if db else Path(os.environ["SIGNET_DB"]) if os.environ.get("SIGNET_DB") else data_dir / "signet.db"
    config_path = (Path(config) if config else Path(os.environ["SIGNET_CONFIG"])
                   if os.environ.get("SIGNET_CONFIG") else config_dir / "config.toml")
    key_store = (Path(os.environ["SIGNET_KEY_STORE"]) if os.environ.get("SIGNET_KEY_STORE")
                 else db_path.parent / "keys")
    return SignetPaths(db=db_path.expanduser(), config=config_path.expanduser(), key_store=key_store.expanduser())
