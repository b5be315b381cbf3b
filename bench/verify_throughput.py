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
import base64
import json
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from core.context import open_context  # noqa: E402
from core.verify.policy import resolve_trust_policy  # noqa: E402
from core.verify.service import verify_images  # noqa: E402
from tests.support.oci import (OCI_CONFIG, OCI_MANIFEST, SIGNATURE_ANNOTATION, SIMPLE_SIGNING,  # noqa: E402
                               build_image, cosign_payload, descriptor, new_key, push_blob, sign, signature_tag,
                               write_public_key)
from tests.support.processes import RegistryProcess  # noqa: E402

REPOSITORY = "bench/app"


def push_signed_images(registry: RegistryProcess, count: int, key) -> list[str]:
    """Images share their blobs (distinct manifests via an annotation); each gets its own signature."""
    base = build_image(b"bench layer")
    for blob in base.blobs:
        push_blob(registry.url, REPOSITORY, blob)
    sig_config = b'{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":[]},"config":{}}'
    push_blob(registry.url, REPOSITORY, sig_config)
    manifest = json.loads(base.manifest)
    client = httpx.Client(base_url=registry.url, timeout=30)

    def push(i: int) -> str:
        raw = json.dumps({**manifest, "annotations": {"bench.index": str(i)}}).encode()
        tag = f"img-{i}"
        assert client.put(f"/v2/{REPOSITORY}/manifests/{tag}", content=raw,
                          headers={"Content-Type": OCI_MANIFEST}).status_code == 201
        digest = descriptor(raw, OCI_MANIFEST)["digest"]
        payload = cosign_payload(f"{registry.host}/{REPOSITORY}", digest)
        push_blob(registry.url, REPOSITORY, payload)
        sig = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                          "config": descriptor(sig_config, OCI_CONFIG),
                          "layers": [descriptor(payload, SIMPLE_SIGNING, annotations={
                              SIGNATURE_ANNOTATION: base64.b64encode(sign(key, payload)).decode()})]}).encode()
        assert client.put(f"/v2/{REPOSITORY}/manifests/{signature_tag(digest)}", content=sig,
                          headers={"Content-Type": OCI_MANIFEST}).status_code == 201
        return f"{registry.host}/{REPOSITORY}:{tag}"

    with ThreadPoolExecutor(8) as pool:
        refs = list(pool.map(push, range(count)))
    client.close()
    return refs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=None, help="limits.concurrency (default: config's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="signet-bench-") as tmp:
        work = Path(tmp)
        os.environ["SIGNET_DB"] = str(work / "signet.db")
        os.environ["SIGNET_CONFIG"] = str(work / "config.toml")
        if args.concurrency:
            (work / "config.toml").write_text(f"[limits]\nconcurrency = {args.concurrency}\n")
        registry = RegistryProcess(work / "registry")
        try:
            key = new_key()
            started = time.perf_counter()
            refs = push_signed_images(registry, args.count, key)
            print(f"pushed {len(refs)} signed images in {time.perf_counter() - started:.1f}s")
            ctx = open_context()
            policy = resolve_trust_policy(ctx, keys=[str(write_public_key(work / "bench.pub", key))])
            for label in ("cold", "warm"):
                started, cpu_started = time.perf_counter(), time.process_time()
                results = verify_images(ctx, refs, policy, source="cli")
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                bad = [r for r in results if r.result != "verified"]
                requests = ctx.extras.get("last_verify_requests", 0)
                print(f"{label}: {len(results) / elapsed:,.0f} images/s ({elapsed:.3f}s for {len(results)}), "
                      f"{requests / len(results):.2f} HTTP requests/image, {len(bad)} not verified; "
                      f"Signet CPU {cpu:.3f}s = {len(results) / max(cpu, 1e-9):,.0f} images per CPU-second")
                if bad:
                    print(f"  first failure: {bad[0].result}: {bad[0].reason}")
            rows = ctx.store.query("SELECT COUNT(*) AS n FROM verifications")[0]["n"]
            ctx.close()
            print(f"history rows written: {rows}")
        finally:
            registry.stop()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
