"""The team store: one PostgreSQL database shared by every Signet of a team (psycopg 3).

Transactions mirror the SQLite store's: `write()` begins a transaction and takes one
transaction-scoped advisory lock, so writers are serialized exactly as `BEGIN IMMEDIATE` serializes
them on SQLite (services' read-then-write checks and the audit chain rely on that); `read()` is a
REPEATABLE READ, READ ONLY snapshot. `append()` (history rows, which no check or chain reads
back) is a single autocommitted statement instead: all or nothing like a transaction, at one
statement instead of four (BEGIN, the lock, the insert, COMMIT) and no queueing on the lock. Each thread
gets its own pooled connection for the length of its outermost transaction (psycopg-pool), so
console workers do not queue behind one another.

Errors become SignetErrors with one line: the server unreachable or the connection lost is a
StoreError (exit 3); a refusal by the database's grants or guards is PermissionDenied (exit 2).
"""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Sequence

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from core.errors import ConfigError, PermissionDenied, SignetError, StoreError
from core.store.session import POSTGRESQL, insert_sql, rows_as_dicts, upsert_sql
from core.store.target import TeamTarget

CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT_MS = 30_000
STATEMENT_TIMEOUT_MS = 120_000
POOL_SIZE = 4
# pg_advisory_xact_lock key every write transaction takes (an arbitrary constant: "SIGNET" in ASCII).
WRITE_LOCK = 0x5349474E4554
_BEGIN_WRITE = f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})".encode()
_BEGIN_READ = b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


@functools.lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """`?` placeholders to psycopg's `%s` (outside quotes and comments); a literal `%` becomes `%%`."""
    out: list[str] = []
    quote = ""
    i = 0
    while i < len(sql):
        ch = sql[i]
        if ch == "%":
            out.append("%%")
        elif quote:
            out.append(ch)
            if ch == quote:
                quote = ""
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
            continue
        elif ch == "?":
            out.append("%s")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def server_error(exc: psycopg.Error, where: str) -> SignetError:
    """One line for people from a psycopg error."""
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None and diag.message_primary else str(exc)).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, (pg_errors.InsufficientPrivilege, pg_errors.RaiseException)):
        return PermissionDenied(f"the team store refused: {text}")
    if isinstance(exc, pg_errors.LockNotAvailable):
        return StoreError(f"team store {where} stayed locked for {LOCK_TIMEOUT_MS // 1000}s; "
                          "another Signet is holding it")
    return StoreError(f"team store {where} unreachable: {text}")


def connect_error(exc: psycopg.Error, where: str) -> SignetError:
    """Connecting failed: bad credentials or names are configuration (exit 2), the rest the server (3)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()] or [type(exc).__name__]
    # libpq: "connection to server ... failed: FATAL:  <reason>", sometimes followed by notes.
    text = next((line for line in lines if "FATAL:" in line), lines[0])
    text = text.split("FATAL:", 1)[-1].strip() if "FATAL:" in text else text
    lowered = text.lower()
    if any(s in lowered for s in ("password authentication failed", "no password supplied",
                                  "does not exist", "authentication failed", "not permitted to log in",
                                  "permission denied for database", "definition of service")):
        return ConfigError(f"team store {where}: {text}")
    return StoreError(f"team store {where} unreachable: {text}")


class PostgresSession:
    dialect = POSTGRESQL

    def __init__(self, conn: psycopg.Connection, where: str) -> None:
        self.conn = conn
        self._where = where

    @property
    def in_transaction(self) -> bool:
        return self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor:
        try:
            return self.conn.execute(to_pyformat(sql), tuple(params))
        except (psycopg.OperationalError, psycopg.InterfaceError, pg_errors.InsufficientPrivilege,
                pg_errors.RaiseException) as exc:
            raise server_error(exc, self._where) from None

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self.conn.cursor() as cursor:
                cursor.executemany(to_pyformat(sql), [tuple(r) for r in rows])
        except (psycopg.OperationalError, psycopg.InterfaceError, pg_errors.InsufficientPrivilege,
                pg_errors.RaiseException) as exc:
            raise server_error(exc, self._where) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        return rows_as_dicts(self.execute(sql, params))

    def insert(self, table: str, row: dict[str, Any]) -> None:
        self.execute(insert_sql(table, row), tuple(row.values()))

    def bulk_insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        try:
            with self.conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except (psycopg.OperationalError, psycopg.InterfaceError, pg_errors.InsufficientPrivilege,
                pg_errors.RaiseException) as exc:
            raise server_error(exc, self._where) from None

    def upsert(self, table: str, row: dict[str, Any], *, key: str) -> None:
        self.execute(upsert_sql(table, row, key), tuple(row.values()))

    def table_names(self) -> list[str]:
        return [r[0] for r in self.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]


class PostgresStore:
    backend = POSTGRESQL

    def __init__(self, target: TeamTarget, pool: ConnectionPool, *, login: str, held_roles: frozenset[str],
                 team_policy: tuple[int, int] | None = None, read_only: bool = False) -> None:
        self.target = target
        self.login = login
        self.held_roles = held_roles
        self.team_policy = team_policy  # (approvals, longest bypass s): the store's row, as read at open
        self.location = f"{target.where} as {login}"  # who the database authenticated, not who the URL named
        self.read_only = read_only
        self._pool = pool
        self._local = threading.local()
        self._saw_broken = False  # a connection broke since the pool was last renewed
        self._renewing = threading.Lock()

    @contextmanager
    def write(self) -> Iterator[PostgresSession]:
        """A write transaction, serialized with every other Signet's. Nested use joins the outer one."""
        with self._transaction(write=True) as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[PostgresSession]:
        """One consistent snapshot for several reads."""
        with self._transaction(write=False) as session:
            yield session

    def append(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Outside a transaction, one autocommitted statement (an INSERT for one row, else COPY), which
        PostgreSQL applies all or nothing."""
        if not rows:
            return
        state = getattr(self._local, "state", None)
        if state is not None:
            _insert_rows(state[0], table, columns, rows)
            return
        with self._connection() as conn:
            _insert_rows(PostgresSession(conn, self.location), table, columns, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._transaction(write=False) as session:
            return list(session.query(sql, params))

    def current(self) -> PostgresSession:
        state = getattr(self._local, "state", None)
        if state is None or not state[2]:
            raise RuntimeError("no write transaction is open (use `with store.write()`)")
        session: PostgresSession = state[0]
        return session

    def close(self) -> None:
        self._pool.close()

    def reconnect(self) -> None:
        """The server answers again (a fresh connection to it just succeeded): StoreError unless a
        transaction works now. The pool is renewed first: its own reconnect backs off exponentially
        through an outage, so after a long one it would next try long after the server came back."""
        self._renew_pool()
        self.query("SELECT 1")

    def _renew_pool(self) -> None:
        with self._renewing:  # two threads that both saw a break renew once each, leaking no pool
            self._saw_broken = False
            stale, self._pool = self._pool, open_pool(self.target)
        stale.close(timeout=0)  # whoever still waits on it gets a pool error, reported as unreachable

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[PostgresSession]:
        state = getattr(self._local, "state", None)
        if state is not None:  # nested: join the transaction open on this thread
            yield state[0]
            return
        with self._connection() as conn:
            session = PostgresSession(conn, self.location)
            try:
                # One round trip each (a parameterless script): the begin is most of a short write's cost.
                conn.execute(_BEGIN_WRITE if write else _BEGIN_READ)
            except psycopg.Error as exc:
                raise server_error(exc, self.location) from None
            self._local.state = (session, conn, write)
            try:
                yield session
            except BaseException:
                self._local.state = None
                self._rollback(conn)
                raise
            self._local.state = None
            try:
                conn.execute("COMMIT")
            except psycopg.Error as exc:
                self._rollback(conn)
                raise server_error(exc, self.location) from None

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection]:
        if self._saw_broken:
            # A connection broke (server restart, failover): its idle siblings in the pool broke with it,
            # and the pool may be backing off. A new pool connects now, so the next transaction neither
            # fails on a dead connection nor waits out the backoff.
            self._renew_pool()
        try:
            with self._pool.connection(timeout=CONNECT_TIMEOUT_S + LOCK_TIMEOUT_MS / 1000) as conn:
                try:
                    yield conn
                finally:
                    self._saw_broken = self._saw_broken or conn.broken
        except PoolTimeout:
            raise StoreError(f"team store {self.location} unreachable: no connection within "
                             f"{CONNECT_TIMEOUT_S}s") from None
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise server_error(exc, self.location) from None

    @staticmethod
    def _rollback(conn: psycopg.Connection) -> None:
        if conn.closed:
            return  # a lost connection rolled back on the server; the pool discards it
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            pass  # the connection is broken; the pool replaces it


def _insert_rows(session: PostgresSession, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    if len(rows) == 1:  # a single row: an INSERT is one exchange, COPY two
        session.execute(insert_sql(table, columns), rows[0])
    else:
        session.bulk_insert(table, columns, rows)


def connect(target: TeamTarget, **kwargs: Any) -> psycopg.Connection:
    """One direct autocommit connection (no pool), with Signet's timeouts; one-line errors."""
    try:
        return psycopg.connect(target.conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                               options=f"-c lock_timeout={LOCK_TIMEOUT_MS} "
                                       f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
                               application_name="signet", **kwargs)
    except psycopg.Error as exc:
        raise connect_error(exc, target.shown) from None


def open_pool(target: TeamTarget) -> ConnectionPool:
    def configure(conn: psycopg.Connection) -> None:
        conn.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
        conn.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        conn.execute("SET application_name = 'signet'")

    pool = ConnectionPool(target.conninfo, min_size=1, max_size=POOL_SIZE, open=False,
                          kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
                          configure=configure, name="signet")
    pool.open(wait=False)
    return pool
