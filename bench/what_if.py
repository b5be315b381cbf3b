"""What-if: 5,000 pods over 1,000 unique digests in 3 clusters (loopback Kubernetes APIs of
tests/support/kube_api.py, read by the real client, each with an Audit Kyverno ClusterPolicy) plus 200
Lambda functions (a functions file, as the demo's), images signed in a local docker-registry.

    .venv/bin/python bench/what_if.py [--pods 5000] [--digests 1000] [--functions 200]

One candidate change (Enforce the ClusterPolicy, with a second key in [trust] dropped). Times the whole
what-if (read the clusters, verify every running digest, judge everything) cold and warm (verification
answers cached per digest and trust policy), then the console's recount after toggling a change (judging
only, from the cached facts). Targets: warm under 2 s, recount under 0.5 s. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._support import REPOSITORY, bench_home, peak_rss_mb  # noqa: E402
from bench.sweep import populate  # noqa: E402
from core.clusters.inventory import cluster_targets  # noqa: E402
from core.context import open_context  # noqa: E402
from core.crypto.public_keys import load_public_key  # noqa: E402
from core.lambdas.file_client import write_functions_file  # noqa: E402
from core.demo.workloads import pinned  # noqa: E402
from core.policy.generate import kyverno_cluster_policy  # noqa: E402
from core.whatif.change import enforce_change, key_change  # noqa: E402
from core.whatif.service import prepare_what_if  # noqa: E402
from core.whatif.world import read_world  # noqa: E402
from tests.support.kube_api import KubeApiServer, write_kubeconfig  # noqa: E402
from tests.support.oci import new_key, push_signed_images, write_public_key  # noqa: E402

CLUSTERS = 3
POLICY = "bench-verify-images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--digests", type=int, default=1000)
    parser.add_argument("--functions", type=int, default=200)
    args = parser.parse_args()
    os.environ.pop("KUBECONFIG", None)
    with bench_home("signet-bench-whatif-") as (work, registry):
        key, other = new_key(), new_key()
        started = time.perf_counter()
        refs, digests = zip(*push_signed_images(registry.url, REPOSITORY, args.digests, key), strict=True)
        print(f"pushed {len(refs)} signed images in {time.perf_counter() - started:.1f}s")
        pub, other_pub = write_public_key(work / "bench.pub", key), write_public_key(work / "other.pub", other)
        servers = [KubeApiServer().start() for _ in range(CLUSTERS)]
        try:
            policy = kyverno_cluster_policy([load_public_key(Path(pub).read_bytes())], name=POLICY,
                                            image_globs=[f"{registry.host}/*"], mode="Audit")
            per_cluster = args.pods // CLUSTERS
            for n, kube in enumerate(servers):
                populate(kube, refs, digests, registry.host, per_cluster + (args.pods % CLUSTERS if n == 0 else 0))
                kube.add(policy)
            kubeconfig = write_kubeconfig(work / "kubeconfig", {f"bench-{n}": k.url for n, k in enumerate(servers)})
            functions = [{"FunctionName": f"fn-{i}", "Region": "eu-west-1", "PackageType": "Image",
                          "FunctionArn": f"arn:aws:lambda:eu-west-1:000000000000:function:fn-{i}",
                          "ImageUri": refs[i % len(refs)],
                          "ResolvedImageUri": pinned(refs[i % len(refs)], digests[i % len(refs)]),
                          "RevisionId": str(i)} for i in range(args.functions)]
            write_functions_file(work / "lambda.json", functions)
            clusters = "".join(f'[[clusters]]\ncontext = "bench-{n}"\nkubeconfig = "{kubeconfig}"\n\n'
                               for n in range(CLUSTERS))
            (work / "config.toml").write_text(
                f'[trust]\nkeys = ["{pub}", "{other_pub}"]\n\n{clusters}'
                f'[aws]\nregions = ["eu-west-1"]\ndemo_lambda = "{work / "lambda.json"}"\n')
            ctx = open_context()
            targets = cluster_targets(ctx.config)
            changes = [enforce_change(POLICY), key_change(ctx, "drop-key", str(other_pub))]
            for label in ("cold", "warm"):
                started, cpu = time.perf_counter(), time.process_time()
                world = read_world(ctx, targets)
                read = time.perf_counter() - started
                prepared = prepare_what_if(ctx, changes, world=world)
                verified = time.perf_counter() - started - read
                report = prepared.evaluate(changes)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                print(f"  {label}: read clusters and Lambda {read:.2f}s, verify {verified:.2f}s, judge "
                      f"{elapsed - read - verified:.2f}s")
                pods = sum(o.workload.pods for o in report.outcomes if o.workload.place == "cluster")
                print(f"{label} what-if: {elapsed:.2f}s wall, {cpu:.2f}s CPU in this process (incl. the loopback "
                      f"API servers), load average {os.getloadavg()[0]:.1f}")
                print(f"  {pods} pods in {CLUSTERS} clusters, {len(report.outcomes)} workloads/functions judged, "
                      f"counts {report.counts()}, problems {len(report.problems)}")
            timings = []
            for active in ([changes[0]], changes, [], changes[1:], changes):
                started = time.perf_counter()
                recount = prepared.evaluate(active)
                timings.append(time.perf_counter() - started)
            print(f"console recount after a toggle: median {sorted(timings)[len(timings) // 2]:.3f}s, "
                  f"max {max(timings):.3f}s over {len(timings)} toggles (last counts {recount.counts()})")
            ctx.close()
        finally:
            for kube in servers:
                kube.stop()
    print(f"repository {REPOSITORY}; peak RSS: {peak_rss_mb():.0f} MB; cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
