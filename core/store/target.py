"""Which store a `--db` / `$SIGNET_DB` / `[store] url` value names: a SQLite file or a team database.

A team database is a libpq URL (`postgresql://bob@db.example/signet`, `postgresql:///signet?service=team`)
or a libpq keyword string (`service=team`). Passwords never travel in it: the command line and the
environment are visible to other local users and end up in shell history and CI logs. libpq finds
them in PGPASSWORD, ~/.pgpass, a service file, a client certificate or an IAM token instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ConfigError

URL_PREFIXES = ("postgresql://", "postgres://")
# A libpq keyword string starts with one of its keywords and '=' ("service=team", "host=db dbname=x").
_KEYWORD = re.compile(r"^\s*(service|host|hostaddr|port|dbname|user|sslmode|options|application_name)\s*=")


def is_team_store(text: str) -> bool:
    return text.startswith(URL_PREFIXES) or bool(_KEYWORD.match(text))


@dataclass(frozen=True)
class TeamTarget:
    conninfo: str   # what libpq gets (no password in it)
    shown: str      # host/db as user: safe to print
    where: str = ""  # host/db

    def __str__(self) -> str:
        return self.shown


def parse_team_target(text: str) -> TeamTarget:
    """Validate a team-store URL without connecting; one-line ConfigError when malformed."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(text)
    except ProgrammingError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "malformed"
        raise ConfigError(f"store URL is not a valid PostgreSQL URL: {reason}") from None
    if params.get("password"):
        raise ConfigError("store URL contains a password: remove it and use PGPASSWORD, ~/.pgpass or a "
                          "service file (a password in a URL leaks through the process list and logs)")
    host = str(params.get("host") or params.get("service") or "local socket")
    if host.startswith("/"):
        host = "local socket"
    database = str(params.get("dbname") or params.get("user") or "")
    user = params.get("user")
    where = f"{host}/{database}"
    return TeamTarget(conninfo=text, shown=where + (f" as {user}" if user else ""), where=where)
