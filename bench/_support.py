"""What the benchmarks share: a throwaway Signet home with a real docker-registry, images signed the
classic cosign way, and the cold-then-warm `verify_images` figures."""

from __future__ import annotations

import os
import resource
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


from core.context import SignetContext
from core.verify.service import VerifyStats, verify_images
from core.verify.verifier import Verifier
from tests.support.processes import RegistryProcess

REPOSITORY = "bench/app"


@contextmanager
def bench_home(prefix: str = "signet-bench-") -> Iterator[tuple[Path, RegistryProcess]]:
    """A temporary directory used as the Signet home (SIGNET_DB, SIGNET_CONFIG = work/config.toml) and a
    docker-registry on loopback; both gone afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        os.environ["SIGNET_DB"] = str(work / "signet.db")
        os.environ["SIGNET_CONFIG"] = str(work / "config.toml")
        registry = RegistryProcess(work / "registry")
        try:
            yield work, registry
        finally:
            registry.stop()


def verify_cold_then_warm(ctx: SignetContext, refs: list[str], verifier: Verifier,
                          server_pid: int | None = None) -> None:
    """Verify `refs` twice through verify_images (empty caches, then warm) and print images/s (wall clock
    and per CPU-second of this process, which stays meaningful on a shared machine) and requests/image.

    With `server_pid` (the registry's process), also the CPU it and its children spent per image: it
    shares this machine's cores, so `cores / (Signet + registry CPU per image)` bounds the cold
    wall-clock rate whatever Signet does.
    """
    for label in ("cold", "warm"):
        registry_cpu = process_tree_cpu_seconds(server_pid) if server_pid else 0.0
        started, cpu_started = time.perf_counter(), time.process_time()
        stats = VerifyStats()
        results = verify_images(ctx, refs, verifier, source="cli", stats=stats)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        bad = [r for r in results if r.result != "verified"]
        requests = stats.requests
        print(f"{label}: {len(results) / elapsed:,.0f} images/s ({elapsed:.3f}s for {len(results)}), "
              f"{requests / len(results):.2f} HTTP requests/image, {len(bad)} not verified; "
              f"Signet CPU {cpu:.3f}s = {len(results) / max(cpu, 1e-9):,.0f} images per CPU-second")
        if server_pid and requests:
            registry_cpu = process_tree_cpu_seconds(server_pid) - registry_cpu
            per_image = (cpu + registry_cpu) / len(results)
            print(f"  registry CPU {registry_cpu * 1000 / len(results):.2f} ms/image, Signet "
                  f"{cpu * 1000 / len(results):.2f} ms/image: at most {(os.cpu_count() or 1) / per_image:,.0f} "
                  f"images/s on {os.cpu_count()} cores with both on this machine")
        if bad:
            print(f"  first failure: {bad[0].result}: {bad[0].reason}")


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process and its live children (nginx workers), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = {int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                for c in (task / "children").read_text().split()}
    return own + sum(process_tree_cpu_seconds(c) for c in children)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
