"""Crash safety of the store: kill -9 in the middle of history writes and audit appends, and two
processes (console + CLI) writing at once.

The writers are real child processes (`python -m tests.test_crash_safety_store worker ...`) that
report each committed batch on stdout; the parent waits on that output (never on sleeps) and sends
SIGKILL at a random batch, or while the child is provably inside an open transaction. After reopening:
`PRAGMA integrity_check` is ok, `signet audit verify` says intact, every batch the child reported as
committed is present in full, and no batch is present in part.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from core.store.database import open_store

REPO = Path(__file__).resolve().parent.parent
ROWS_PER_BATCH = 200
LINE_TIMEOUT_S = 60.0  # a silent child is killed by a watchdog; generous for a loaded machine


# --- the child --------------------------------------------------------------------------------------


def _worker(label: str, batches: int, rows: int, hold_at: int, interface: str) -> None:
    """Write `batches` transactions of `rows` history rows + one audit entry each; print after commit.

    With `hold_at` >= 0 the child stops inside that batch's open transaction (half the rows written)
    and waits on stdin, so the parent can kill it provably mid-transaction.
    """
    from core.context import open_context
    from core.history.records import record_verification

    ctx = open_context(interface=interface)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    for batch in range(batches):
        with ctx.store.write() as db:
            for row in range(rows):
                record_verification(db, at=ctx.clock(), actor=ctx.actor, source=interface,
                                    reference=f"{label}/batch-{batch}/row-{row}", digest=None,
                                    result="verified", reason="", details={"batch": batch})
                if batch == hold_at and row == rows // 2:
                    print(f"holding {batch}", flush=True)
                    sys.stdin.readline()  # the parent kills us here
            ctx.audit("test.crash-batch", f"{label}/batch-{batch}", {"rows": rows})
        print(f"committed {batch}", flush=True)
    print("done", flush=True)
    ctx.close()


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "worker":
    _worker(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    sys.exit(0)


# --- the parent -------------------------------------------------------------------------------------


class Worker:
    def __init__(self, label: str, *, batches: int, rows: int = ROWS_PER_BATCH, hold_at: int = -1,
                 interface: str = "cli") -> None:
        self.label = label
        self.committed: list[int] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.test_crash_safety_store", "worker", label, str(batches), str(rows),
             str(hold_at), interface],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.next_line() == "ready"

    def next_line(self) -> str:
        """One progress line. A watchdog kills a child that stops talking, so this cannot hang."""
        import threading

        watchdog = threading.Timer(LINE_TIMEOUT_S, self.proc.kill)
        watchdog.start()
        try:
            line = self.proc.stdout.readline().strip()
        finally:
            watchdog.cancel()
        if line.startswith("committed "):
            self.committed.append(int(line.split()[1]))
        return line

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait_for(self, expected: str) -> None:
        while (line := self.next_line()) != expected:
            assert line, f"worker {self.label} ended before '{expected}': {self.proc.stderr.read()[-2000:]}"

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        assert self.proc.returncode == -signal.SIGKILL
        # Lines printed after the kill was decided may still be in the pipe: they were committed too.
        for line in self.proc.stdout.read().splitlines():
            if line.startswith("committed "):
                self.committed.append(int(line.split()[1]))
        self._close_pipes()

    def finish(self) -> str:
        self.wait_for("done")
        self.proc.stdin.close()
        self.proc.wait(30)
        err = self.proc.stderr.read()
        self._close_pipes()
        return err

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe and not pipe.closed:
                pipe.close()


def _check_store(db_path: Path) -> tuple[Counter, list[str]]:
    """integrity_check ok; returns rows per batch label and audit subjects."""
    store = open_store(db_path)
    try:
        assert store.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        per_batch: Counter = Counter()
        for row in store.query("SELECT reference FROM verifications"):
            per_batch[row["reference"].rsplit("/", 1)[0]] += 1
        subjects = [r["subject"] for r in store.query(
            "SELECT subject FROM audit WHERE action = 'test.crash-batch' ORDER BY seq")]
        return per_batch, subjects
    finally:
        store.close()


def _audit_verify_cli() -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli.main", "audit", "verify"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def _assert_atomic_and_complete(per_batch: Counter, subjects: list[str], workers: list[Worker]) -> None:
    # No batch is present in part: each transaction is all or nothing.
    partial = {b: n for b, n in per_batch.items() if n != ROWS_PER_BATCH}
    assert not partial, f"batches present in part after kill -9: {partial}"
    # Every batch reported committed is there, and each present batch has exactly its audit entry.
    for worker in workers:
        for batch in worker.committed:
            assert per_batch[f"{worker.label}/batch-{batch}"] == ROWS_PER_BATCH
    assert sorted(subjects) == sorted(per_batch), "history rows and audit entries disagree"
    assert len(subjects) == len(set(subjects))


def test_kill9_at_random_batches_loses_no_committed_row_and_keeps_the_chain(signet_home):
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng.seed(seed)
    workers = []
    for round_ in range(3):
        worker = Worker(f"round{round_}", batches=10_000)
        worker.go()
        kill_after = rng.randrange(0, 12)
        worker.wait_for(f"committed {kill_after}")
        worker.kill9()  # the child is somewhere inside batch kill_after + 1 (or committing it)
        workers.append(worker)
        per_batch, subjects = _check_store(signet_home / "signet.db")
        _assert_atomic_and_complete(per_batch, subjects, workers)
        assert len(worker.committed) >= kill_after + 1, f"seed {seed}"
    verify = _audit_verify_cli()
    assert verify.returncode == 0, verify.stderr
    assert "audit chain intact" in verify.stdout


def test_kill9_inside_an_open_transaction_leaves_nothing_of_it(signet_home):
    worker = Worker("held", batches=5, hold_at=3)
    worker.go()
    worker.wait_for("holding 3")  # half of batch 3 is written, not committed
    worker.kill9()
    per_batch, subjects = _check_store(signet_home / "signet.db")
    assert sorted(worker.committed) == [0, 1, 2]
    assert set(per_batch) == {"held/batch-0", "held/batch-1", "held/batch-2"}
    _assert_atomic_and_complete(per_batch, subjects, [worker])
    # A rolled-back hot journal must not block the next writer: a fresh process appends and commits.
    after = Worker("after", batches=2)
    after.go()
    assert "locked" not in after.finish()
    per_batch, subjects = _check_store(signet_home / "signet.db")
    _assert_atomic_and_complete(per_batch, subjects, [worker, after])
    assert per_batch["after/batch-1"] == ROWS_PER_BATCH
    verify = _audit_verify_cli()
    assert verify.returncode == 0, verify.stderr


def test_console_and_cli_writing_at_once_lose_nothing_and_never_see_locked(signet_home):
    batches = 25
    console = Worker("console", batches=batches, rows=ROWS_PER_BATCH, interface="tui")
    cli = Worker("cli", batches=batches, rows=ROWS_PER_BATCH, interface="cli")
    console.go()
    cli.go()
    # A third process reads the chain while both write (WAL readers never block writers).
    verify_during = _audit_verify_cli()
    errors = {"console": console.finish(), "cli": cli.finish()}
    assert console.proc.returncode == 0 and cli.proc.returncode == 0, errors
    for err in errors.values():
        assert "locked" not in err.lower() and "Traceback" not in err
    assert verify_during.returncode == 0, verify_during.stderr
    per_batch, subjects = _check_store(signet_home / "signet.db")
    assert len(per_batch) == 2 * batches
    _assert_atomic_and_complete(per_batch, subjects, [console, cli])
    # Both writers' audit entries interleave in one unbroken chain.
    assert {s.split("/")[0] for s in subjects} == {"console", "cli"}
    verify = _audit_verify_cli()
    assert verify.returncode == 0, verify.stderr
    assert f"{2 * batches} entries" in verify.stdout


@pytest.mark.parametrize("victim", ["console", "cli"])
def test_kill9_of_one_writer_does_not_stop_the_other(signet_home, victim):
    console = Worker("console", batches=30, interface="tui", hold_at=10 if victim == "console" else -1)
    cli = Worker("cli", batches=30, interface="cli", hold_at=10 if victim == "cli" else -1)
    killed, survivor = (console, cli) if victim == "console" else (cli, console)
    console.go()
    cli.go()
    killed.wait_for("holding 10")  # holds the write lock with an open transaction
    killed.kill9()
    err = survivor.finish()  # the lock dies with the process; the survivor carries on
    assert survivor.proc.returncode == 0 and "locked" not in err.lower(), err
    per_batch, subjects = _check_store(signet_home / "signet.db")
    assert sorted(killed.committed) == list(range(10))
    assert sum(1 for b in per_batch if b.startswith(survivor.label)) == 30
    _assert_atomic_and_complete(per_batch, subjects, [console, cli])
    assert _audit_verify_cli().returncode == 0
