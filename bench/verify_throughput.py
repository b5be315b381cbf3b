"""Verification throughput: push N signed images to a local docker-registry, verify them all through
`verify_images` (the code path of `signet verify`, history rows included), cold then warm.

    .venv/bin/python bench/verify_throughput.py [--count 1000]

Prints images/s cold and warm (wall clock, and per CPU-second of this process, which stays meaningful
when other work shares the machine), HTTP requests per image (registry client counters) and peak RSS.
Targets on a 2-core machine: cold >= 300 images/s with <= 3 requests per image, warm >= 20,000
images/s, peak RSS < 300 MB. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._support import bench_home, peak_rss_mb, push_signed_images, verify_cold_then_warm  # noqa: E402
from core.context import open_context  # noqa: E402
from core.verify.policy import resolve_trust_policy  # noqa: E402
from tests.support.oci import new_key, write_public_key  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=None, help="limits.concurrency (default: config's)")
    args = parser.parse_args()
    with bench_home() as (work, registry):
        if args.concurrency:
            (work / "config.toml").write_text(f"[limits]\nconcurrency = {args.concurrency}\n")
        key = new_key()
        started = time.perf_counter()
        refs = [ref for ref, _ in push_signed_images(registry, args.count, key)]
        print(f"pushed {len(refs)} signed images in {time.perf_counter() - started:.1f}s")
        ctx = open_context()
        policy = resolve_trust_policy(ctx, keys=[str(write_public_key(work / "bench.pub", key))])
        verify_cold_then_warm(ctx, refs, policy, registry)
        rows = ctx.store.query("SELECT COUNT(*) AS n FROM verifications")[0]["n"]
        ctx.close()
        print(f"history rows written: {rows}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
