"""Keyless verification throughput: push N images to a local docker-registry, each signed the cosign
v3 way (a DSSE Sigstore bundle attached as a referrer; docker-registry 2.8 has no referrers API, so
through the `sha256-<hex>` fallback index), then verify them all through `verify_images` with a
keyless identity and a trusted root (our own test CA and log), cold then warm.

    .venv/bin/python bench/keyless_verify.py [--count 100]

Prints images/s, HTTP requests per image and the offline bundle verification cost. Not a test.
Measured on the shared 2-core machine (100 images): offline 5.2 ms per bundle; cold 56 images/s at
6 requests/image (tag, .sig 404, referrers 404, fallback index, referrer manifest, bundle blob); warm
283 images/s at 2 requests/image.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._support import bench_home, verify_cold_then_warm  # noqa: E402
from core.clock import FixedClock  # noqa: E402
from core.context import open_context  # noqa: E402
from core.sigstore.bundle import parse_bundle  # noqa: E402
from core.sigstore.verifier import verify_bundle  # noqa: E402
from core.verify.policy import TrustArgs  # noqa: E402
from core.verify.verifier import Verifier  # noqa: E402
from tests.support.oci import build_image, push_image  # noqa: E402
from tests.support.referrers import attach_bundle  # noqa: E402
from tests.support.sigstore_factory import T0, FakeSigstore, statement  # noqa: E402
from tests.support.sigstore_world import ALICE  # noqa: E402

REPOSITORY = "bench/keyless"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    sigstore = FakeSigstore()
    with bench_home() as (work, registry):
        (work / "root.json").write_bytes(sigstore.trusted_root())

        def push(i: int) -> tuple[str, bytes, str]:
            image = build_image(b"layer %d" % i)
            digest = push_image(registry.url, REPOSITORY, f"img-{i}", image)
            return f"{registry.host}/{REPOSITORY}:img-{i}", image.manifest, digest

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            images = list(pool.map(push, range(args.count)))
        pushed = []
        for ref, manifest, digest in images:  # one at a time: every referrer shares the `{}` config blob
            bundle = sigstore.dsse_bundle(sigstore.leaf(), statement(digest))
            attach_bundle(registry.url, REPOSITORY, digest, len(manifest), bundle)
            pushed.append((ref, bundle, digest))
        print(f"pushed {len(pushed)} images with bundle referrers in {time.perf_counter() - started:.1f}s")
        ctx = open_context()
        ctx.clock = FixedClock(T0.replace(month=6))
        verifier = Verifier.for_args(ctx, TrustArgs(identities=(ALICE,), trusted_root=str(work / "root.json")))
        trust = verifier.attestation_trust
        started = time.perf_counter()
        for _, bundle, digest in pushed:
            verify_bundle(parse_bundle(bundle), digest=digest, trust=trust, now=ctx.clock())
        offline = (time.perf_counter() - started) / len(pushed) * 1000
        print(f"offline parse + verify: {offline:.2f} ms per bundle")
        verify_cold_then_warm(ctx, [ref for ref, _, _ in pushed], verifier, registry.proc.pid)
        ctx.close()


if __name__ == "__main__":
    main()
