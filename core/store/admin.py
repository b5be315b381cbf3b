"""Administering stores: `signet store init|migrate|status|copy`.

`init` and `migrate` run as a database admin (they create roles and tables); `status` as anyone;
`copy` moves a local SQLite file's state into a team store, verifying the audit chain on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from core.audit.chain import GENESIS_HASH, append_entry, entry_hash, verify_chain
from core.errors import CheckFailed, InputError
from core.store.session import POSTGRESQL, Store, StoreSession
from core.store.target import parse_team_target

GRANTABLE = ("reader", "operator", "custodian", "approver")
COPY_BATCH = 2000
# Copy order respects foreign keys; the id column is left out on --append (the target numbers rows).
COPIED_TABLES: tuple[tuple[str, str | None], ...] = (
    ("registries", "id"), ("clusters", "id"), ("lambda_functions", "id"), ("images", None), ("image_tags", None),
    ("keys", None), ("key_events", "id"), ("backups", None), ("rotations", None), ("bypasses", None),
    ("bypass_approvals", None), ("verifications", "id"),
)
COUNTED_TABLES = tuple(t for t, _ in COPIED_TABLES) + ("audit",)


@dataclass(frozen=True)
class InitReport:
    location: str
    roles_created: tuple[str, ...]
    schema_version: int
    bypass_approvals: int      # the store's policy row, enforced by the database
    max_bypass_seconds: int


@dataclass(frozen=True)
class StoreStatus:
    backend: str
    location: str
    schema_version: int
    identity: str          # as the database sees it (team store), else as configured
    roles: tuple[str, ...]
    rows: dict[str, int]


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]
    audit_entries: int
    head_hash: str


def initialise_team_store(url: str, *, approvals: int | None = None,
                          max_bypass_seconds: int | None = None) -> InitReport:
    """Group roles, schema and grants; idempotent (a second run changes nothing). `approvals` and
    `max_bypass_seconds` set the store's bypass policy row, which the database enforces for everyone."""
    from core.store.postgres_schema import ensure_roles, migrate_postgres, one_row
    from core.store.postgres_store import connect

    if approvals is not None and approvals < 1:
        raise InputError("--approvals must be at least 1")
    if max_bypass_seconds is not None and max_bypass_seconds < 1:
        raise InputError("--max-bypass-duration must be positive")
    target = parse_team_target(url)
    with connect(target) as conn:
        created = ensure_roles(conn, target.shown)
        version = migrate_postgres(conn, target.shown)
        for column, value in (("bypass_approvals", approvals), ("max_bypass_seconds", max_bypass_seconds)):
            if value is not None:  # column names are ours
                conn.execute(f"UPDATE signet_policy SET {column} = %s", (value,))
        policy = one_row(conn, "SELECT bypass_approvals, max_bypass_seconds FROM signet_policy")
    return InitReport(target.shown, tuple(created), version, int(policy[0]), int(policy[1]))


def migrate_team_store(url: str) -> int:
    """Apply pending migrations to an initialised team store; returns the schema version."""
    from core.store.postgres_schema import migrate_postgres, schema_state
    from core.store.postgres_store import connect

    target = parse_team_target(url)
    with connect(target) as conn:
        if schema_state(conn).version == 0 and not schema_state(conn).foreign_tables:
            raise InputError(f"team store {target.shown} is not initialised: run `signet store init URL` first")
        return migrate_postgres(conn, target.shown)


def grant_lines(grants: dict[str, Iterable[str]]) -> list[str]:
    """The SQL an admin runs to give people their roles (role -> logins); placeholders when none named."""
    lines = []
    for role in GRANTABLE:
        for login in grants.get(role, ()) or ("<login>",):
            lines.append(f"GRANT signet_{role} TO {_quote_login(login)};")
    return lines


def _quote_login(login: str) -> str:
    if login == "<login>" or (login.isidentifier() and login.islower()):
        return login
    return '"' + login.replace('"', '""') + '"'


def schema_version(db: StoreSession) -> int:
    if db.dialect == POSTGRESQL:
        return int(db.execute("SELECT value FROM signet_meta WHERE key = 'schema_version'").fetchone()[0])
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def store_status(store: Store, identity: str, roles: Iterable[str]) -> StoreStatus:
    """`identity`/`roles`: the context's principal (on a team store it came from the database)."""
    with store.read() as db:
        rows = {t: int(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in COUNTED_TABLES}
        version = schema_version(db)
    return StoreStatus(store.backend, store.location, version, identity, tuple(sorted(roles)), rows)


def copy_store(source: Store, target: Store, *, copier: str, append: bool = False) -> CopyReport:
    """Copy every row of `source` into `target` in one transaction on the target.

    The source's audit chain must verify first. Into an empty target the audit entries are copied
    as they are (same sequence numbers and hashes), so the target's chain is the source's chain.
    `append` adds to a non-empty target instead: rows keep their ids where those are names (bypass
    and key ids; existing names win), numbered rows are renumbered, and the source's audit entries are
    appended to the target's chain as new links (same time, actor, action, subject and details),
    followed by a `store.copy` entry naming the source's head hash. The target's chain is verified
    before the transaction commits.
    """
    with source.read() as src:
        status = verify_chain(src)
        if not status.intact:
            raise CheckFailed(f"source audit chain is broken at entry {status.first_bad_seq} ({status.reason}); "
                              "nothing copied")
    with target.write() as dst:
        existing = {t: int(dst.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in COUNTED_TABLES}
        if any(existing.values()) and not append:
            busy = ", ".join(f"{t} {n}" for t, n in existing.items() if n)
            raise InputError(f"target store {target.location} is not empty ({busy}); use --append to add to it")
        copied: dict[str, int] = {}
        with source.read() as src:
            for table, id_column in COPIED_TABLES:
                copied[table] = _copy_table(src, dst, table, drop=id_column if append else None,
                                            skip_existing=append)
            if append:
                copied["audit"] = _rechain(src, dst)
                append_entry(dst, actor=copier, action="store.copy", subject=source.location,
                             details={"source_head_hash": status.head_hash, "entries": status.entries})
            else:
                copied["audit"] = _copy_table(src, dst, "audit", drop=None, skip_existing=False)
        if dst.dialect == POSTGRESQL:  # explicit ids were inserted: move the identity sequences past them
            for table, id_column in COPIED_TABLES:
                if id_column:
                    dst.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{id_column}'), "
                                f"GREATEST((SELECT MAX({id_column}) FROM {table}), 1))")
        after = verify_chain(dst)
        same = append or (after.entries == status.entries and after.head_hash == status.head_hash)
        if not after.intact or not same:
            raise CheckFailed(f"audit chain in the target does not verify after copying "
                              f"({after.reason or 'different head'}); nothing copied")
    return CopyReport(copied, status.entries, status.head_hash)


def _copy_table(src: StoreSession, dst: StoreSession, table: str, *, drop: str | None, skip_existing: bool) -> int:
    cursor = src.execute(f"SELECT * FROM {table} ORDER BY 1")
    columns = [c[0] for c in cursor.description if c[0] != drop]
    keep = [i for i, c in enumerate(cursor.description) if c[0] != drop]
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    if skip_existing:
        sql += " ON CONFLICT DO NOTHING"
    total = 0
    for batch in _batches(cursor):
        rows = [tuple(row[i] for i in keep) for row in batch]
        if skip_existing:
            dst.executemany(sql, rows)
        else:  # into an empty store: the fast path (COPY on PostgreSQL)
            dst.bulk_insert(table, columns, rows)
        total += len(batch)
    return total


def _rechain(src: StoreSession, dst: StoreSession) -> int:
    """Append every source entry to the target's chain as a new link (content kept, re-hashed)."""
    last = dst.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0], last[1]) if last else (0, GENESIS_HASH)
    total = 0
    cursor = src.execute("SELECT at, actor, action, subject, details FROM audit ORDER BY seq")
    for batch in _batches(cursor):
        rows = []
        for at, actor, action, subject, details in batch:
            seq += 1
            digest = entry_hash(seq, at, actor, action, subject, details, prev)
            rows.append((seq, at, actor, action, subject, details, prev, digest))
            prev = digest
        dst.executemany("INSERT INTO audit (seq, at, actor, action, subject, details, prev_hash, hash) "
                        "VALUES (?,?,?,?,?,?,?,?)", rows)
        total += len(rows)
    return total


def _batches(cursor: Any) -> Iterator[list[tuple[Any, ...]]]:
    while batch := cursor.fetchmany(COPY_BATCH):
        yield batch


def open_location(location: str | Path) -> Store:
    """A store named on the command line (a team URL or a SQLite file, which must exist)."""
    from core.store.database import open_store
    from core.store.target import is_team_store

    if isinstance(location, str) and is_team_store(location):
        return open_store(location)
    path = Path(location)
    if not path.is_file():
        raise InputError(f"no SQLite database at {path}")
    return open_store(path)
