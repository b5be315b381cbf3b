"""Cluster sweep: 5,000 pods over 1,000 unique digests, each signed, in a local docker-registry; the
cluster is the loopback Kubernetes API of tests/support/kube_api.py, read by the real client.

    .venv/bin/python bench/sweep.py [--pods 5000] [--digests 1000]

Times `run_sweep` end to end (inventory over paginated lists, one verification per unique digest,
history rows, clusters table), cold (empty caches) then warm (same process). Target on a 2-core
machine: a cold full sweep under 10 s. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._support import REPOSITORY, bench_home, peak_rss_mb  # noqa: E402
from core.clusters.inventory import cluster_targets, read_inventories  # noqa: E402
from core.clusters.sweep import run_sweep  # noqa: E402
from core.context import open_context  # noqa: E402
from core.verify.service import VerifyStats  # noqa: E402
from core.verify.verifier import Verifier  # noqa: E402
from tests.support.kube_api import KubeApiServer, pod, workload, write_kubeconfig  # noqa: E402
from tests.support.oci import new_key, push_signed_images, write_public_key  # noqa: E402

NAMESPACES = 20


def populate(kube: KubeApiServer, refs: tuple[str, ...], digests: tuple[str, ...], host: str, pods: int) -> None:
    """One Deployment (with its ReplicaSet) per digest; pods spread over the Deployments round-robin."""
    for i, ref in enumerate(refs):
        ns = f"team-{i % NAMESPACES}"
        kube.add(workload("Deployment", f"svc-{i}", ns, [("app", ref)]))
        kube.add(workload("ReplicaSet", f"svc-{i}-rs", ns, [("app", ref)], owner=("Deployment", f"svc-{i}")))
    for p in range(pods):
        i = p % len(refs)
        kube.add(pod(f"svc-{i}-rs-{p}", f"team-{i % NAMESPACES}",
                     [("app", refs[i], f"docker-pullable://{host}/{REPOSITORY}@{digests[i]}")],
                     owner=("ReplicaSet", f"svc-{i}-rs")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--digests", type=int, default=1000)
    args = parser.parse_args()
    os.environ.pop("KUBECONFIG", None)
    with bench_home("signet-bench-sweep-") as (work, registry):
        key = new_key()
        started = time.perf_counter()
        refs, digests = zip(*push_signed_images(registry.url, REPOSITORY, args.digests, key), strict=True)
        print(f"pushed {len(refs)} signed images in {time.perf_counter() - started:.1f}s")
        with KubeApiServer() as kube:
            populate(kube, refs, digests, registry.host, args.pods)
            kubeconfig = write_kubeconfig(work / "kubeconfig", {"bench": kube.url})
            pub = write_public_key(work / "bench.pub", key)
            (work / "config.toml").write_text(
                f'[trust]\nkeys = ["{pub}"]\n\n[[clusters]]\ncontext = "bench"\nkubeconfig = "{kubeconfig}"\n')
            ctx = open_context()
            verifier = Verifier.for_args(ctx)
            targets = cluster_targets(ctx.config)
            started = time.perf_counter()
            read_inventories(ctx.config, targets, templates=False)
            print(f"inventory alone (what a sweep reads): {time.perf_counter() - started:.2f}s")
            for label in ("cold", "warm"):
                started, cpu = time.perf_counter(), time.process_time()
                stats = VerifyStats()
                report = run_sweep(ctx, verifier, targets, stats=stats)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                pods = sum(c.pods for c in report.clusters)
                print(f"{label} sweep: {elapsed:.2f}s wall, {cpu:.2f}s CPU in this process (incl. the loopback "
                      f"API server), load average {os.getloadavg()[0]:.1f}")
                requests = stats.requests
                print(f"  {requests / max(report.unique_images, 1):.2f} registry requests per unique image")
                print(f"  {pods} pods, {report.unique_images} unique images, "
                      f"{len(report.findings)} workload containers; counts {report.counts()}; ok={report.ok}")
            rows = ctx.store.query("SELECT COUNT(*) AS n FROM verifications WHERE source = 'sweep'")[0]["n"]
            ctx.close()
            print(f"sweep history rows: {rows}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB; cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
