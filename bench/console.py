"""Console figures: start to first rendered dashboard, and opening / filtering History, with
1,000,000 history rows generated into a temporary database (executemany, in batches).

Targets (issues 8, 18): first dashboard < 1.0 s; complete dashboard (key panel too), History open and
History filter < 0.5 s. Each figure is wall time, and the CPU time the process used meanwhile (all its
threads): on a loaded machine the wall time grows with the load, the CPU time much less.
Run: .venv/bin/python bench/console.py [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

from core.clock import FixedClock  # noqa: E402
from core.context import open_context  # noqa: E402
from core.history.records import record_verifications  # noqa: E402
from core.results import RESULTS  # noqa: E402

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
SPAN = timedelta(days=365)
BATCH = 50_000
POLL_S = 0.005
TIMEOUT_S = 60.0


def generate(ctx, rows: int) -> float:
    rng = random.Random(1)
    images = [f"registry.example.com/team{t}/app{a}" for t in range(20) for a in range(50)]
    started = time.perf_counter()
    for start in range(0, rows, BATCH):
        batch = []
        for i in range(start, min(rows, start + BATCH)):
            image = rng.choice(images)
            result = rng.choices(RESULTS, weights=(80, 8, 5, 5, 2))[0]
            batch.append({"at": NOW - SPAN * (i / rows), "actor": "bench", "source": "sweep",
                          "reference": f"{image}:v{i % 97}", "digest": f"sha256:{i:064x}", "result": result,
                          "reason": "" if result == "verified" else "bench row",
                          "matched_keys": ["ab" * 32] if result == "verified" else [], "duration_ms": 1.0})
        with ctx.store.write() as db:
            record_verifications(db, batch)
    return time.perf_counter() - started


async def wait_for(predicate, what: str) -> None:
    deadline = time.perf_counter() + TIMEOUT_S
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(POLL_S)


class Stopwatch:
    """Wall and process CPU time since `start()`."""

    def start(self) -> "Stopwatch":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


async def measure(db: Path, config: Path) -> dict[str, tuple[float, float]]:
    figures: dict[str, tuple[float, float]] = {}
    started = Stopwatch().start()
    from tui.app import SignetApp  # the import is part of starting the console

    figures["import console"] = started.read()
    ctx = open_context(db=str(db), config=str(config), interface="tui", clock=FixedClock(NOW))
    app = SignetApp(ctx)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(lambda: app.view is not None and getattr(app.view, "summary", None) is not None, "dashboard")
        await pilot.pause()  # one refresh: the figures are on screen
        figures["start to first rendered dashboard"] = started.read()
        # The key panel loads after the first render (key services import boto3); let it finish so
        # the History figures measure History alone.
        await wait_for(lambda: app.view.ready, "dashboard keys panel")
        figures["dashboard complete (key panel too)"] = started.read()

        t = Stopwatch().start()
        app.show_view("history")
        await wait_for(lambda: app.view is not None and app.view.VIEW_NAME == "history"
                       and bool(app.view.rows) and not app.view.loading, "history")
        await pilot.pause()
        figures["open History (first page)"] = t.read()

        for label, text in (("filter History: result:invalid", "result:invalid"),
                            ("filter History: image text + result", "team7/app3 result:unsigned"),
                            ("filter History: since:24h source:sweep", "since:24h source:sweep")):
            view = app.view
            t = Stopwatch().start()
            view.apply_filter(text)
            await wait_for(lambda view=view: not view.loading, label)  # apply_filter set loading; the page clears it
            assert view.rows, f"{label}: no rows"
            await pilot.pause()
            figures[label] = t.read()

        view.filter_text = ""
        view.apply_filter("")
        await wait_for(lambda: not view.loading, "unfiltered")
        await pilot.pause()
        t = Stopwatch().start()
        await pilot.press("right_square_bracket")
        await wait_for(lambda: not app.view.loading and app.view.window_starts, "next page")
        await pilot.pause()
        figures["History next page (])"] = t.read()
    ctx.close()
    return figures


def _fresh_run(db: Path, config: Path) -> dict[str, list[float]]:
    """One measurement in a new interpreter, so every run pays the console's imports as a user would."""
    out = subprocess.run([sys.executable, __file__, "--measure", str(db), str(config)], capture_output=True,
                         text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit(f"measurement failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--measure":
        print(json.dumps(asyncio.run(measure(Path(sys.argv[2]), Path(sys.argv[3])))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="repetitions (best and median are printed)")
    parser.add_argument("--dir", default="", help="keep the generated database here and reuse it next time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.dir) if args.dir else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        db, config = root / "bench.db", root / "config.toml"
        config.write_text('identity = "bench"\n')
        ctx = open_context(db=str(db), config=str(config))
        have = ctx.store.query("SELECT COUNT(*) AS n FROM verifications")[0]["n"]
        if have != args.rows:
            took = generate(ctx, args.rows - have)
            print(f"generated {args.rows - have:,} history rows in {took:.1f} s")
        ctx.close()
        load = os.getloadavg()[0]
        print(f"{args.rows:,} history rows; load average {load:.1f} on {os.cpu_count()} CPUs; "
              f"{args.runs} runs, each in a fresh interpreter")
        runs = [_fresh_run(db, config) for _ in range(args.runs)]
        print(f"{'':45s} {'wall best':>9s} {'median':>9s} {'CPU best':>9s} {'median':>9s}")
        for label in runs[0]:
            walls = sorted(run[label][0] for run in runs)
            cpus = sorted(run[label][1] for run in runs)
            print(f"{label:45s}" + "".join(f" {v * 1000:6.0f} ms" for v in (
                walls[0], statistics.median(walls), cpus[0], statistics.median(cpus))))


if __name__ == "__main__":
    main()
