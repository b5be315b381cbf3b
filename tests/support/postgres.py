"""A throwaway PostgreSQL 15 server for one test session: initdb + pg_ctl in a temp dir.

The server listens on a unix socket in its own directory only (no TCP). initdb refuses to run as
root, so when the tests run as root the cluster belongs to the `postgres` OS user and its directory
is handed to that user. The superuser `postgres` connects without a password (local trust for that
role only); every other role authenticates with a password (scram), so wrong-password and
missing-role cases are real.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("SIGNET_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
START_TIMEOUT_S = 60
# Every test login's password; libpq finds it in the session's PGPASSFILE (never in a URL).
TEST_PASSWORD = "signet-test-password"


class PostgresServer:
    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"PostgreSQL 15 server binaries missing in {PG_BIN}; "
                               "`make system-packages` installs Debian's postgresql")
        # A short path under /tmp: unix socket paths are limited to ~107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="signet-pg-"))
        self.data = self.root / "data"
        self.socket_dir = str(self.root)
        self._owner = _server_user()
        if self._owner is not None:
            os.chown(self.root, self._owner.pw_uid, self._owner.pw_gid)
        self.root.chmod(0o755)  # clients (root, test processes) reach the socket
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8",
                   "--locale=C.UTF-8", "--auth=trust", "--no-sync"])
        hba = self.data / "pg_hba.conf"
        # The superuser is trusted on the socket (the fixture administers with it); others use passwords.
        hba.write_text("local all postgres trust\nlocal all all scram-sha-256\n", encoding="utf-8")
        self.log = self.root / "server.log"
        self.pgpass = self.root / "pgpass"
        self.pgpass.write_text(f"*:*:*:*:{TEST_PASSWORD}\n", encoding="utf-8")
        self.pgpass.chmod(0o600)
        self.start()

    def start(self) -> None:
        # fsync off: only an OS crash could lose data, and that is not what tests simulate; commits
        # stay synchronous, so a SIGKILLed server (kill()) keeps every committed transaction.
        options = (f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off "
                   "-c full_page_writes=off -c max_connections=200")
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                   "-t", str(START_TIMEOUT_S), "-o", options, "start"])

    def stop(self, mode: str = "fast") -> None:
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], check=False)

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash, not a shutdown); its backends exit on their own."""
        pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        os.kill(pid, 9)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)  # polling for the process to be gone, with a deadline
        # Orphaned backends finish within moments; a fresh start waits for the shared memory to free.
        (self.data / "postmaster.pid").unlink(missing_ok=True)

    def restart_after_kill(self) -> None:
        """Start again after `kill()`: orphaned backends may hold the old shared memory for a moment,
        so starting is retried until they are gone (bounded)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                self.start()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)  # polling for the old backends to exit, with a deadline

    def destroy(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres", user: str = SUPERUSER) -> str:
        return f"postgresql://{user}@/{database}?host={self.socket_dir}"

    def admin(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(host=self.socket_dir, user=SUPERUSER, dbname=database, autocommit=True)

    def create_database(self, name: str) -> str:
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def create_login(self, name: str, *groups: str, password: str = TEST_PASSWORD) -> None:
        """A login role with a password, member of `groups` (the signet_* ones exist after `store init`)."""
        from psycopg import sql

        with self.admin() as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name),
                                                                              sql.Literal(password)))
            # Exactly these signet_* memberships: logins are cluster-wide and tests reuse names.
            held = [r[0] for r in conn.execute(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s", (name,))]
            for group in held:
                if group not in groups:
                    conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(group), sql.Identifier(name)))
            for group in groups:
                if group not in held:
                    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))

    def _run(self, argv: list[str], *, check: bool = True) -> None:
        kwargs: dict = {}
        if self._owner is not None:
            kwargs.update(user=self._owner.pw_uid, group=self._owner.pw_gid, extra_groups=[])
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=self.root, **kwargs)
        if check and result.returncode != 0:
            has_log = getattr(self, "log", None) and self.log.exists()
            log = self.log.read_text(errors="replace")[-2000:] if has_log else ""
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip()} {log}")


def _server_user() -> pwd.struct_passwd | None:
    """The OS user that owns the cluster: `postgres` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root needs the `postgres` OS user (Debian's postgresql package "
                           "creates it; `make system-packages` installs it)") from None
