"""Notary Project verification cost, beside cosign's in the same run.

    .venv/bin/python bench/notation_verify.py [--count 2000] [--images 300]

Offline, per signature: parse a JWS envelope (ES256, leaf + intermediate + root, 3 certificates) and run
notation's checks at level strict against a ca: trust store (target <= 2 ms); the same for COSE; and a
classic cosign signature (ECDSA P-256 over a simple-signing payload) for comparison.
Through a real docker-registry (2.8: no referrers API, so the `sha256-<hex>` fallback tag): --images
notation-signed images verified cold then warm with notation trust only (target <= 4 requests per image:
image, referrers, signature manifest, envelope), then the same number of cosign-signed images with a key.
Self-made signatures (tests/support/notation.py). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402

from bench._support import REPOSITORY, bench_home, verify_cold_then_warm  # noqa: E402
from core.context import open_context  # noqa: E402
from core.crypto.public_keys import load_public_key, verify_signature  # noqa: E402
from core.notation.cose import parse_cose  # noqa: E402
from core.notation.envelope import TargetArtifact  # noqa: E402
from core.notation.jws import parse_jws  # noqa: E402
from core.notation.trust_policy import parse_trust_policy  # noqa: E402
from core.notation.trust_store import TrustStore  # noqa: E402
from core.notation.verify import verify_envelope  # noqa: E402
from core.verify.policy import TrustArgs  # noqa: E402
from core.verify.verifier import Verifier  # noqa: E402
from tests.support.notation import (attach_to_registry, cose_envelope, jws_envelope, make_signer,  # noqa: E402
                                    payload_for, statement, write_notation_config)
from tests.support.oci import (build_image, cosign_payload, new_key, push_blob, push_manifest,  # noqa: E402
                               push_signed_images, write_public_key)

DIGEST = "sha256:" + "ab" * 32


def per_call_ms(fn, count: int) -> str:
    """Wall and CPU milliseconds per call (CPU time is what this process spent, whatever else the
    shared machine runs)."""
    fn()  # warm caches and imports once
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        fn()
    return (f"{(time.perf_counter() - wall) * 1000 / count:.3f} ms wall, "
            f"{(time.process_time() - cpu) * 1000 / count:.3f} ms CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--images", type=int, default=300)
    args = parser.parse_args()
    signer = make_signer(intermediate=True)
    offline(signer, args.count)
    through_registry(signer, args.images)


def offline(signer, count: int) -> None:
    image = TargetArtifact("application/vnd.oci.image.manifest.v1+json", DIGEST, 1234)
    statement = parse_trust_policy(json.dumps({"version": "1.0", "trustPolicies": [{
        "name": "all", "registryScopes": ["*"], "signatureVerification": {"level": "strict"},
        "trustStores": ["ca:corp"], "trustedIdentities": ["*"]}]}).encode(), "bench").statements[0]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "x509" / "ca" / "corp"
        directory.mkdir(parents=True)
        (directory / "root.crt").write_bytes(signer.root.public_bytes(Encoding.PEM))
        store = TrustStore(Path(tmp))
        now = datetime.now(timezone.utc)
        jws = jws_envelope(signer, payload_for(DIGEST, 1234))
        cose = cose_envelope(signer, payload_for(DIGEST, 1234))
        assert verify_envelope(parse_jws(jws), image, statement, store, now).ok
        assert verify_envelope(parse_cose(cose), image, statement, store, now).ok
        jws_ms = per_call_ms(lambda: verify_envelope(parse_jws(jws), image, statement, store, now), count)
        cose_ms = per_call_ms(lambda: verify_envelope(parse_cose(cose), image, statement, store, now), count)
    cosign_key = ec.generate_private_key(ec.SECP256R1())
    payload = cosign_payload("registry.example/app", DIGEST)
    signature = cosign_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    public = load_public_key(cosign_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    assert verify_signature(public.key, signature, payload)
    cosign_ms = per_call_ms(lambda: verify_signature(public.key, signature, payload), count)
    print(f"offline, per signature ({count} runs):")
    print(f"  notation JWS ES256, 3-certificate chain, strict: {jws_ms} (target <= 2 ms)")
    print(f"  notation COSE ES256, 3-certificate chain, strict: {cose_ms}")
    print(f"  cosign ECDSA P-256 simple-signing signature:     {cosign_ms}")
    print(f"  (load average {os.getloadavg()[0]:.1f})")


def through_registry(signer, count: int) -> None:
    with bench_home("signet-bench-notation-") as (work, registry):
        refs = push_notation_signed_images(registry, count, signer)
        notation_dir = write_notation_config(work / "notation", {"ca:corp": [signer.root]}, [statement()])
        ctx = open_context()
        print(f"through docker-registry, {count} notation-signed images, notation trust only:")
        verify_cold_then_warm(ctx, refs, Verifier.for_args(ctx, TrustArgs(notation_config=str(notation_dir))),
                              registry.proc.pid)
        key = new_key()
        cosign_refs = [ref for ref, _ in push_signed_images(registry.url, REPOSITORY, count, key)]
        ctx.forget_registry_cache()
        print(f"through docker-registry, {count} cosign-signed images, one key:")
        verify_cold_then_warm(ctx, cosign_refs, Verifier.for_args(
            ctx, TrustArgs(keys=(str(write_public_key(work / "bench.pub", key)),))), registry.proc.pid)
        ctx.close()


def push_notation_signed_images(registry, count: int, signer) -> list[str]:
    repository = "bench/notation"
    base = build_image(b"notation bench layer")
    for blob in base.blobs:
        push_blob(registry.url, repository, blob)
    manifest = json.loads(base.manifest)

    def push(i: int) -> str:
        raw = json.dumps({**manifest, "annotations": {"bench.index": str(i)}}).encode()
        digest = push_manifest(registry.url, repository, f"img-{i}", raw)
        envelope = jws_envelope(signer, payload_for(digest, len(raw)))
        attach_to_registry(registry.url, repository, digest, len(raw), envelope)
        return f"{registry.host}/{repository}:img-{i}"

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(push, range(count)))


if __name__ == "__main__":
    main()
