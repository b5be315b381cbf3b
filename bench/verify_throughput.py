"""Verification throughput: push N signed images to a local docker-registry, verify them all through
`verify_images` (the code path of `signet verify`, history rows included), cold then warm.

    .venv/bin/python bench/verify_throughput.py [--count 1000]

Prints images/s cold and warm (wall clock, and per CPU-second of this process, which stays meaningful
when other work shares the machine), HTTP requests per image (registry client counters), the
registry's own CPU per image, and peak RSS. `--static-registry` (default: when nginx is installed)
repeats the run against the same bytes served by nginx (bench/_static_registry.py), which shows
Signet's rate without docker-registry's own CPU cost.
Targets on a 2-core machine: cold >= 300 images/s with <= 3 requests per image, warm >= 20,000
images/s, peak RSS < 300 MB. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._support import REPOSITORY, bench_home, peak_rss_mb, verify_cold_then_warm  # noqa: E402
from bench._static_registry import nginx_binary, static_mirror  # noqa: E402
from core.context import open_context  # noqa: E402
from core.verify.policy import TrustArgs  # noqa: E402
from core.verify.verifier import Verifier  # noqa: E402
from tests.support.oci import new_key, push_signed_images, write_public_key  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=None, help="limits.concurrency (default: config's)")
    parser.add_argument("--static-registry", choices=("auto", "yes", "no"), default="auto",
                        help="also verify against a static nginx copy of the registry (bench/_static_registry.py); "
                             "auto: when nginx is installed")
    args = parser.parse_args()
    with bench_home() as (work, registry):
        if args.concurrency:
            (work / "config.toml").write_text(f"[limits]\nconcurrency = {args.concurrency}\n")
        key = new_key()
        started = time.perf_counter()
        refs = [ref for ref, _ in push_signed_images(registry.url, REPOSITORY, args.count, key)]
        print(f"pushed {len(refs)} signed images in {time.perf_counter() - started:.1f}s")
        ctx = open_context()
        verifier = Verifier.for_args(ctx, TrustArgs(keys=(str(write_public_key(work / "bench.pub", key)),)))
        print("against docker-registry:")
        verify_cold_then_warm(ctx, refs, verifier, registry.proc.pid)
        if args.static_registry == "auto" and nginx_binary() is None:
            print("(no nginx here: skipped the run against a static copy; apt-get install nginx-light)")
        elif args.static_registry != "no":
            tags = [ref.rsplit(":", 1)[1] for ref in refs]
            with static_mirror(registry, REPOSITORY, tags, work) as (host, nginx_pid):
                print(f"against the same images served as static files by nginx ({host}):")
                ctx.forget_registry_cache()  # cold again: nothing cached from the first run
                verify_cold_then_warm(ctx, [f"{host}/{REPOSITORY}:{tag}" for tag in tags], verifier, nginx_pid)
        rows = ctx.store.query("SELECT COUNT(*) AS n FROM verifications")[0]["n"]
        ctx.close()
        print(f"history rows written: {rows}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
