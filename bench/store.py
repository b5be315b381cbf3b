"""Store figures, SQLite file and team PostgreSQL side by side (PostgreSQL 15 on a loopback unix socket,
started throwaway like the tests do):

- history writes: 1,000 verifications recorded one transaction each (what verify does per image);
- history with N rows (default 1,000,000, generated in batches): first page, a filtered page
  (result + reference substring), a digest-prefix page: median of 5, seconds;
- audit appends with 8 concurrent writer processes (one transaction per entry): entries per second,
  and the chain verified afterwards.

Targets (issue 15): PostgreSQL writes within 2x of SQLite; pages < 0.5 s on both.
Run: .venv/bin/python bench/store.py [--rows N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.audit.chain import verify_chain  # noqa: E402
from core.history.records import (HistoryFilter, list_history, record_verification,  # noqa: E402
                                  record_verifications)
from core.results import RESULTS  # noqa: E402
from core.store.database import open_store  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.store import fresh_team_database  # noqa: E402

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
BATCH = 50_000
WRITERS = 8
APPENDS_PER_WRITER = 250
ROOT = Path(__file__).resolve().parent.parent

APPENDER = r"""
import sys
from pathlib import Path
from core.audit.chain import append_entry
from core.store.database import open_store
store = open_store(sys.argv[1] if "://" in sys.argv[1] else Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    with store.write() as db:
        append_entry(db, actor=store.login or "bench", action="bench.append", subject=str(i))
store.close()
"""


def history_writes(store, count: int = 1000) -> float:
    started = time.perf_counter()
    for i in range(count):
        with store.write() as db:
            record_verification(db, at=NOW + timedelta(seconds=i), actor="bench", source="cli",
                                reference=f"registry.example.com/bench/app:{i}", digest=f"sha256:{i:064x}",
                                result="verified", matched_keys=["ab" * 32], duration_ms=1.0)
    return time.perf_counter() - started


def generate(store, rows: int) -> float:
    rng = random.Random(1)
    images = [f"registry.example.com/team{t}/app{a}" for t in range(20) for a in range(50)]
    started = time.perf_counter()
    for start in range(0, rows, BATCH):
        batch = [dict(at=NOW - timedelta(seconds=rng.randrange(365 * 86400)), actor="bench", source="sweep",
                      reference=f"{rng.choice(images)}:v{rng.randrange(100)}",
                      digest=f"sha256:{rng.getrandbits(256):064x}", result=rng.choice(RESULTS), reason="",
                      matched_keys=[], duration_ms=2.0)
                 for _ in range(min(BATCH, rows - start))]
        with store.write() as db:
            record_verifications(db, batch)
    return time.perf_counter() - started


def page_time(store, filt: HistoryFilter) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        with store.read() as db:
            list_history(db, filt, limit=200)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def audit_rate(target: str) -> tuple[float, bool]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, target, str(APPENDS_PER_WRITER)], env=env)
             for _ in range(WRITERS)]
    if any(p.wait(timeout=900) for p in procs):
        raise SystemExit("an audit writer failed")
    elapsed = time.perf_counter() - started
    store = open_store(target if "://" in target else Path(target))
    with store.read() as db:
        intact = verify_chain(db).intact
    store.close()
    return WRITERS * APPENDS_PER_WRITER / elapsed, intact


def measure(target: str, rows: int) -> dict[str, str]:
    store = open_store(target if "://" in target else Path(target))
    try:
        writes = history_writes(store)
        generated = generate(store, rows)
        first = page_time(store, HistoryFilter())
        filtered = page_time(store, HistoryFilter(result="invalid", image="app7"))
        prefix = page_time(store, HistoryFilter(image="sha256:00ab"))
    finally:
        store.close()
    rate, intact = audit_rate(target)
    return {"1,000 history writes (1 txn each)": f"{writes:.2f} s ({writes:.2f} ms/write)",
            f"generate {rows:,} rows": f"{generated:.1f} s",
            "history first page": f"{first * 1000:.1f} ms",
            "filtered page (result + text)": f"{filtered * 1000:.1f} ms",
            "digest-prefix page": f"{prefix * 1000:.1f} ms",
            f"audit appends, {WRITERS} writers": f"{rate:.0f} /s, chain {'intact' if intact else 'BROKEN'}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    server = PostgresServer()
    os.environ["PGPASSFILE"] = str(server.pgpass)
    try:
        with tempfile.TemporaryDirectory(prefix="signet-bench-store-") as tmp:
            figures = {"SQLite file": measure(str(Path(tmp) / "signet.db"), args.rows),
                       "PostgreSQL (socket)": measure(fresh_team_database(server), args.rows)}
    finally:
        server.destroy()
    names = list(figures)
    print(f"{'':36}" + "".join(f"{n:>34}" for n in names))
    for label in figures[names[0]]:
        print(f"{label:36}" + "".join(f"{figures[n][label]:>34}" for n in names))


if __name__ == "__main__":
    main()
