"""Store figures, SQLite file and team PostgreSQL side by side (PostgreSQL 15 on a loopback unix socket,
started throwaway like the tests do):

- warm verify of 1,000 signed images in a local docker-registry through `verify_images` (the path of
  `signet verify` and of the console's verify actions, history rows included), its answers already
  cached: as one call (1,000 rows recorded together, what `signet verify` of 1,000 images does) and
  as 1,000 calls of one image each (one row each: the console verifying one image at a time), and
  the same single call without recording (the share that is not the store's);
- history writes, nothing else: 1,000 rows appended one at a time (verify's own way of recording),
  and the same rows each in a write transaction (serialized with every other writer: what a
  bypass decision, a key event or an audited change costs);
- history with N rows (default 1,000,000, generated in batches): first page, a filtered page
  (result + reference substring), a digest-prefix page: median of 5, seconds;
- audit appends with 8 concurrent writer processes (one transaction per entry): entries per second,
  and the chain verified afterwards.

The first three are timed alternately on both backends (median of REPEATS), so both see the same
load on a shared machine; the last column is PostgreSQL's time over SQLite's.
Targets (issue 15): warm verify with history writes within 2x of SQLite on PostgreSQL; pages
< 0.5 s on both.
Run: .venv/bin/python bench/store.py [--rows N] [--images N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._support import REPOSITORY, bench_home  # noqa: E402
from core.audit.chain import verify_chain  # noqa: E402
from core.context import SignetContext, open_context  # noqa: E402
from core.history.records import (HistoryFilter, append_verifications, list_history,  # noqa: E402
                                  record_verification, record_verifications)
from core.results import RESULTS  # noqa: E402
from core.store.database import open_store  # noqa: E402
from core.verify.policy import TrustArgs  # noqa: E402
from core.verify.service import VerifyStats, verify_images  # noqa: E402
from core.verify.verifier import Verifier  # noqa: E402
from tests.support.oci import new_key, push_signed_images, write_public_key  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.store import fresh_team_database  # noqa: E402

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
BATCH = 50_000
WRITERS = 8
APPENDS_PER_WRITER = 250
REPEATS = 5
ROOT = Path(__file__).resolve().parent.parent
# Answers stay cached for the whole run (the default 30 s could lapse between repeats on a busy machine).
CONFIG = "[limits]\ncache_ttl_seconds = 3600\n"

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


class WarmVerify:
    """One backend's context with every image's answer cached (a first, unrecorded pass fetched them)."""

    def __init__(self, target: str, refs: list[str], public_key: Path) -> None:
        self.ctx: SignetContext = open_context(db=target)
        self.refs = refs
        self.verifier = Verifier.for_args(self.ctx, TrustArgs(keys=(str(public_key),)))
        self.verify(refs, record=False)
        self._rows = 0

    def verify(self, refs: list[str], *, record: bool = True) -> int:
        """Registry requests made (0 when warm); every image must verify."""
        stats = VerifyStats()
        results = verify_images(self.ctx, refs, self.verifier, source="cli", record=record, stats=stats)
        bad = [r for r in results if r.result != "verified"]
        if bad:
            raise SystemExit(f"{len(bad)} images not verified, first: {bad[0].reference}: {bad[0].reason}")
        return stats.requests

    def one_call(self) -> None:
        self.verify(self.refs)

    def one_call_unrecorded(self) -> None:
        self.verify(self.refs, record=False)

    def call_per_image(self) -> None:
        for ref in self.refs:
            self.verify([ref])

    def history_appends(self) -> None:
        """As many bare history rows as there are images, each appended on its own (as verify does)."""
        for i in range(len(self.refs)):
            append_verifications(self.ctx.store, [self._bare_row(i)])

    def write_transactions(self) -> None:
        """The same rows, each in a serialized write transaction (what any other change costs)."""
        for i in range(len(self.refs)):
            with self.ctx.store.write() as db:
                record_verification(db, **self._bare_row(i))

    def _bare_row(self, i: int) -> dict[str, Any]:
        self._rows += 1
        return dict(at=NOW + timedelta(seconds=self._rows), actor="bench", source="cli",
                    reference=f"registry.example.com/bench/app:{i}", digest=f"sha256:{i:064x}", result="verified",
                    matched_keys=["ab" * 32], duration_ms=1.0)


def alternately(backends: dict[str, WarmVerify], run: Callable[[WarmVerify], None]) -> dict[str, float]:
    """Median seconds of `run` per backend, the backends taking turns so both see the same load."""
    times: dict[str, list[float]] = {name: [] for name in backends}
    for _ in range(REPEATS):
        for name, backend in backends.items():
            started = time.perf_counter()
            run(backend)
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}


def warm_figures(targets: dict[str, str], refs: list[str], public_key: Path) -> dict[str, dict[str, float]]:
    backends = {name: WarmVerify(target, refs, public_key) for name, target in targets.items()}
    try:
        for name, backend in backends.items():
            if requests := backend.verify(refs, record=False):
                raise SystemExit(f"{name}: a warm verify still made {requests} registry requests")
        n = len(refs)
        return {f"warm verify {n:,} images, 1 call": alternately(backends, WarmVerify.one_call),
                f"warm verify {n:,} images, 1 call each": alternately(backends, WarmVerify.call_per_image),
                "  the same 1 call, no history": alternately(backends, WarmVerify.one_call_unrecorded),
                f"{n:,} history rows, 1 append each": alternately(backends, WarmVerify.history_appends),
                f"{n:,} write transactions, 1 row each": alternately(backends, WarmVerify.write_transactions)}
    finally:
        for backend in backends.values():
            backend.ctx.close()


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


def history_figures(target: str, rows: int) -> dict[str, str]:
    store = open_store(target if "://" in target else Path(target))
    try:
        generated = generate(store, rows)
        first = page_time(store, HistoryFilter())
        filtered = page_time(store, HistoryFilter(result="invalid", image="app7"))
        prefix = page_time(store, HistoryFilter(image="sha256:00ab"))
    finally:
        store.close()
    rate, intact = audit_rate(target)
    return {f"generate {rows:,} rows": f"{generated:.1f} s",
            "history first page": f"{first * 1000:.1f} ms",
            "filtered page (result + text)": f"{filtered * 1000:.1f} ms",
            "digest-prefix page": f"{prefix * 1000:.1f} ms",
            f"audit appends, {WRITERS} writers": f"{rate:.0f} /s, chain {'intact' if intact else 'BROKEN'}"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()
    server = PostgresServer()
    os.environ["PGPASSFILE"] = str(server.pgpass)
    try:
        with bench_home("signet-bench-store-") as (work, registry):
            (work / "config.toml").write_text(CONFIG)
            key = new_key()
            refs = [ref for ref, _ in push_signed_images(registry.url, REPOSITORY, args.images, key)]
            targets = {"SQLite file": str(work / "signet.db"), "PostgreSQL (socket)": fresh_team_database(server)}
            warm = warm_figures(targets, refs, write_public_key(work / "bench.pub", key))
            history = {name: history_figures(target, args.rows) for name, target in targets.items()}
    finally:
        server.destroy()
    names = list(targets)
    print(f"{'':38}" + "".join(f"{n:>30}" for n in names) + f"{'PG / SQLite':>14}")
    for label, seconds in warm.items():
        cells = [f"{seconds[n] * 1000:.0f} ms ({seconds[n] * 1000 / args.images:.3f} ms each)" for n in names]
        ratio = seconds[names[1]] / seconds[names[0]]
        print(f"{label:38}" + "".join(f"{c:>30}" for c in cells) + f"{ratio:>13.1f}x")
    for label in history[names[0]]:
        print(f"{label:38}" + "".join(f"{history[n][label]:>30}" for n in names))


if __name__ == "__main__":
    main()
