"""Build the demo environment in one directory, offline, through the real services.

    DIR/config.toml        identities alice (operator, custodian) and bob (operator, approver),
                           the demo registry, an unreachable registry, the demo cluster, trusted keys
    DIR/kubeconfig         the demo cluster's context, served from DIR/cluster.json (no network)
    DIR/cluster.json       the demo cluster's objects (core/kube/file_api.py; workloads.py says what runs)
    DIR/lambda.json        the demo's Lambda functions (core/lambdas/file_client.py)
    DIR/signet.db          history, audit log, keys, backups, bypasses
    DIR/registry/<repo>/   OCI layouts: images signed by two keys, by one, unsigned, tampered; vuln attestations
    DIR/keys/              the demo key store (cosign-encrypted keys only, 0600 files, 0700 dir)
    DIR/backups/           encrypted key backups
    DIR/demo-passphrase    the demo keys' passphrase (0600): generated per build, kept only here

Rebuilding wipes exactly these paths (only in a directory marked as a demo) and builds again.
"""

from __future__ import annotations

import json
import random
import secrets
import shutil
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Callable, Sequence

from core.aws.regions import aws_targets
from core.bypass.service import approve_bypass, request_bypass
from core.clock import Clock, system_clock
from core.clusters.inventory import cluster_targets
from core.clusters.policy_apply import apply_policy, generate_policy
from core.clusters.sweep import run_sweep
from core.context import SignetContext, open_context
from core.kube.file_api import file_url, write_cluster_file
from core.demo.images import copy_signature, write_attestation, write_image
from core.lambdas.file_client import write_functions_file
from core.demo.workloads import AUDIT_POLICY, LAMBDA_REGION, cluster_objects, lambda_functions
from core.errors import InputError
from core.history.records import record_verifications
from core.identity import principal_for
from core.keys.backup import PassphraseScheme, ShareScheme, create_backup, drill_backup
from core.keys.custody import generate_key
from core.keys.inventory import KeyRecord
from core.keys.local_store import write_secret_file
from core.sign.signers import signer_for_record
from core.lambdas.inventory import list_image_functions, verify_functions
from core.paths import SignetPaths
from core.registry.layout import OciLayout
from core.sign.service import sign_image
from core.sigstore.attestation import PREDICATE_TYPES
from core.verify.service import verify_images
from core.verify.verifier import Verifier

MARKER = ".signet-demo"
MANAGED = ("config.toml", "signet.db", "signet.db-wal", "signet.db-shm", "registry", "keys", "backups",
           "kubeconfig", "demo-passphrase", "cluster.json", "cluster.json.lock", "lambda.json", "lambda.json.lock")
IDENTITIES = ("alice", "bob")
DEMO_CLUSTER = "demo-prod"
DEMO_CLUSTER_VERSION = "v1.31.0"
HISTORY_ROWS = 360
HISTORY_SPAN = timedelta(days=7)
KEY_NAMES = ("release-a", "release-b")


@dataclass(frozen=True)
class DemoImage:
    repository: str
    tag: str
    story: str  # signed-both | signed-a | signed-b | unsigned | tampered | bypassed


IMAGES = (
    DemoImage("payments-api", "v1.4.2", "signed-both"),
    DemoImage("payments-api", "v1.4.1", "signed-a"),
    DemoImage("checkout", "v2.0.0", "signed-b"),
    DemoImage("ledger", "v0.9.0", "unsigned"),
    DemoImage("web-frontend", "v3.1.0", "tampered"),
    DemoImage("hotfix-worker", "v0.1.0-hotfix", "bypassed"),
)


@dataclass(frozen=True)
class DemoEnvironment:
    root: Path
    db: Path
    config: Path
    key_store: Path
    passphrase_file: Path
    references: dict[str, str]  # "repository:tag" -> full reference
    digests: dict[str, str]     # "repository:tag" -> digest
    pending_bypass: str
    active_bypass: str


def demo_paths(root: Path) -> SignetPaths:
    return SignetPaths(db=root / "signet.db", config=root / "config.toml", key_store=root / "keys")


def open_demo_context(root: Path, *, identity: str = "alice", clock: Clock = system_clock,
                      interface: str = "tui") -> SignetContext:
    """A context on the demo directory only, whatever SIGNET_* variables say, acting as `identity`."""
    if identity not in IDENTITIES:
        raise InputError(f"demo identities are {', '.join(IDENTITIES)}")
    paths = demo_paths(Path(root))
    if not paths.config.is_file():
        raise InputError(f"{root} holds no demo; run `signet demo --dir {root}` first")
    ctx = open_context(db=str(paths.db), config=str(paths.config), interface=interface, clock=clock)
    config = replace(ctx.config, identity=identity)
    ctx.config, ctx.paths = config, paths
    ctx.principal = principal_for(config)
    return ctx


def build_demo(root: Path, *, clock: Clock = system_clock, seed: int = 7,
               progress: Callable[[str], None] = lambda _step: None) -> DemoEnvironment:
    """Build (or rebuild) the demo in `root`; returns what was made."""
    root = Path(root).expanduser().resolve()
    _prepare(root)
    passphrase = secrets.token_urlsafe(24).encode()
    passphrase_file = root / "demo-passphrase"
    write_secret_file(passphrase_file, passphrase + b"\n")
    _write_config(root)
    progress("keys")
    ctx = open_demo_context(root, clock=clock, interface="demo")
    try:
        keys = [generate_key(ctx, name=name, passphrase=passphrase, custodians=("alice", "carol", "dave"))
                for name in KEY_NAMES]
        progress("registry")
        references, digests = _build_registry(ctx, root / "registry", keys, passphrase)
        _vulnerability_scans(ctx, root / "registry", keys[0], passphrase, digests)
        image_glob = f"oci:{root / 'registry'}/*"
        write_cluster_file(root / "cluster.json", cluster_objects(
            references, digests, [k.trusted_key() for k in keys], image_glob=image_glob),
            version=DEMO_CLUSTER_VERSION)
        progress("policies")  # `cluster policy generate --apply`: audited, recorded in each key's trusted_by
        for target in cluster_targets(ctx.config):
            apply_policy(ctx, target, generate_policy(ctx, engine="kyverno", image_globs=[image_glob],
                                                      name=AUDIT_POLICY, mode="Audit"))
        write_functions_file(root / "lambda.json", lambda_functions(references, digests))
        progress("backups")
        create_backup(ctx, keys[0].id, ShareScheme(2, 3, ("alice", "carol", "dave")),
                      passphrase_provider=lambda _name: passphrase)  # shares dropped: its drill shows as due
        second = create_backup(ctx, keys[1].id, PassphraseScheme(passphrase),
                               passphrase_provider=lambda _name: passphrase)
        drill_backup(ctx, second.path, passphrase=passphrase)  # one proven backup, one with its drill due
        progress("bypasses")
        pending, active = _bypasses(ctx, root, digests, clock)
        progress("history")
        _history(ctx, references, digests, active, clock, random.Random(seed))
        verifier = Verifier.for_args(ctx)
        progress("lambda")  # through the same inventory code as AWS, answered by the demo's functions file
        inventories = list_image_functions(ctx.config, aws_targets(ctx.config))
        verify_functions(ctx, [f for inventory in inventories for f in inventory.functions], verifier)
        progress("sweep")  # the demo cluster, answered by the demo's cluster file
        run_sweep(ctx, verifier, cluster_targets(ctx.config))
        progress("verify")  # last: each image's newest history row is a direct verification of its tag
        verify_images(ctx, list(references.values()), verifier, source="demo")
    finally:
        ctx.close()
    return DemoEnvironment(root, root / "signet.db", root / "config.toml", root / "keys", passphrase_file,
                           references, digests, pending, active)


def _prepare(root: Path) -> None:
    if root.exists() and any(root.iterdir()) and not (root / MARKER).exists():
        raise InputError(f"{root} is not empty and is not a Signet demo directory; choose another --dir")
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name in MANAGED:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    (root / MARKER).write_text("This directory is a Signet demo; `signet demo` rebuilds it.\n")


def _write_config(root: Path) -> None:
    kubeconfig = root / "kubeconfig"
    # The demo cluster's API is answered from DIR/cluster.json (a `file:` server; see core/kube/file_api.py).
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": DEMO_CLUSTER,
        "clusters": [{"name": DEMO_CLUSTER, "cluster": {"server": file_url(root / "cluster.json")}}],
        "users": [{"name": "demo", "user": {"token": "demo-token-not-a-secret"}}],
        "contexts": [{"name": DEMO_CLUSTER, "context": {"cluster": DEMO_CLUSTER, "user": "demo"}}],
    }, indent=2))
    q = json.dumps  # TOML basic strings accept JSON string escapes
    (root / "config.toml").write_text(f"""# Signet demo configuration (generated by `signet demo`).
identity = "alice"

[environment]
name = "demo"
tier = "development"

[roles]
operator = ["alice", "bob"]
custodian = ["alice"]
approver = ["bob"]

[[registries]]
name = "demo"
url = {q("oci:" + str(root / "registry"))}
auth = "anonymous"

[[registries]]
name = "offline-mirror"
url = "127.0.0.1:9"
auth = "anonymous"
insecure = true

[[clusters]]
context = "{DEMO_CLUSTER}"
kubeconfig = {q(str(kubeconfig))}
name = "prod"

[trust]
keys = {q(list(KEY_NAMES))}

[aws]
regions = [{q(LAMBDA_REGION)}]
demo_lambda = {q(str(root / "lambda.json"))}

[limits]
connect_timeout = 2.0
read_timeout = 3.0
total_timeout = 5.0
""")


def _build_registry(ctx: SignetContext, registry: Path, keys: Sequence[KeyRecord], passphrase: bytes
                    ) -> tuple[dict[str, str], dict[str, str]]:
    signers = [signer_for_record(ctx, key, passphrase_provider=lambda _name: passphrase) for key in keys]
    layouts: dict[str, OciLayout] = {}
    references: dict[str, str] = {}
    digests: dict[str, str] = {}
    for image in IMAGES:
        layout = layouts.setdefault(image.repository, OciLayout(str(registry / image.repository),
                                                                limits=ctx.config.limits))
        name = f"{image.repository}:{image.tag}"
        digests[name] = write_image(layout, image.tag, f"{name} demo layer\n".encode())
        references[name] = f"oci:{registry / image.repository}:{image.tag}"
    for image in IMAGES:
        name = f"{image.repository}:{image.tag}"
        chosen = {"signed-both": signers, "signed-a": signers[:1], "signed-b": signers[1:]}.get(image.story, [])
        for signer in chosen:
            sign_image(ctx, references[name], signer)
    copy_signature(layouts["payments-api"], digests["payments-api:v1.4.2"], layouts["web-frontend"],
                   digests["web-frontend:v3.1.0"], max_bytes=ctx.config.limits.max_blob_bytes)
    return references, digests


# Self-made scan results (the shape of `trivy image --format cosign-vuln`), attested by release-a: the
# current payments-api is clean up to HIGH; the older one has a CRITICAL finding (what --max-severity HIGH
# refuses in the what-if).
SCANS = {"payments-api:v1.4.2": ("LOW", "HIGH"), "payments-api:v1.4.1": ("MEDIUM", "CRITICAL")}


def _vulnerability_scans(ctx: SignetContext, registry: Path, key: KeyRecord, passphrase: bytes,
                         digests: dict[str, str]) -> None:
    signer = signer_for_record(ctx, key, passphrase_provider=lambda _name: passphrase)
    for name, severities in SCANS.items():
        repository = name.split(":")[0]
        report = {"SchemaVersion": 2, "ArtifactName": name, "Results": [{
            "Target": f"{name} (debian 12.5)", "Class": "os-pkgs", "Type": "debian",
            "Vulnerabilities": [{"VulnerabilityID": f"CVE-2026-{4100 + i}", "PkgName": "libdemo", "Severity": s}
                                for i, s in enumerate(severities)]}]}
        statement = {"_type": "https://in-toto.io/Statement/v1", "predicateType": PREDICATE_TYPES["vuln"],
                     "subject": [{"name": repository, "digest": {"sha256": digests[name].split(":", 1)[1]}}],
                     "predicate": {"scanner": {"uri": "pkg:github/aquasecurity/trivy@v0.58.0", "version": "0.58.0",
                                               "result": report},
                                   "metadata": {"scanStartedOn": "2026-12-01T10:00:00Z",
                                                "scanFinishedOn": "2026-12-01T10:00:05Z"}}}
        write_attestation(OciLayout(str(registry / repository), limits=ctx.config.limits), digests[name], statement,
                          signer.sign)


def _bypasses(ctx: SignetContext, root: Path, digests: dict[str, str], clock: Clock) -> tuple[str, str]:
    pending = request_bypass(ctx, digest=digests["ledger:v0.9.0"], cluster=DEMO_CLUSTER, namespace="payments",
                             workload="ledger", justification="ledger 0.9.0 fixes the settlement outage; its "
                             "signing pipeline is down (INC-2211)", ticket="INC-2211", duration="4h")
    active = request_bypass(ctx, digest=digests["hotfix-worker:v0.1.0-hotfix"], function="hotfix-worker",
                            region="eu-west-1", justification="emergency hotfix for the card-refund backlog, "
                            "signed build follows", ticket="CHG-1093", duration="6h")
    bob = open_demo_context(root, identity="bob", clock=clock, interface="demo")
    try:
        approve_bypass(bob, active.id)
    finally:
        bob.close()
    return pending.id, active.id


def _history(ctx: SignetContext, references: dict[str, str], digests: dict[str, str], active_bypass: str,
             clock: Clock, rng: random.Random) -> None:
    """Past verifications spread over the last week, as sweeps, the gate and people would have left."""
    now = clock()
    outcomes = {"signed-both": ("verified", "signed by 2 trusted key(s), threshold 1"),
                "signed-a": ("verified", "signed by 1 trusted key(s), threshold 1"),
                "signed-b": ("verified", "signed by 1 trusted key(s), threshold 1"),
                "unsigned": ("unsigned", "no signatures found"),
                "tampered": ("invalid", "no valid signature from a trusted key: payload names another digest"),
                "bypassed": ("bypassed", "unsigned; covered by an active bypass")}
    fingerprints = [r["fingerprint"] for r in ctx.store.query("SELECT fingerprint FROM keys ORDER BY name")]
    rows = []
    for i in range(HISTORY_ROWS):
        image = rng.choice(IMAGES)
        name = f"{image.repository}:{image.tag}"
        result, reason = outcomes[image.story]
        if rng.random() < 0.03:
            result, reason = "error", "registry timed out after 5.0 s (limits.total_timeout)"
        keys = {"signed-both": fingerprints, "signed-a": fingerprints[:1],
                "signed-b": fingerprints[1:]}.get(image.story, []) if result == "verified" else []
        source = rng.choice(("sweep", "sweep", "gate", "cli", "tui"))
        rows.append({"at": now - HISTORY_SPAN * (i / HISTORY_ROWS) - timedelta(seconds=rng.randint(1, 600)),
                     "actor": rng.choice(IDENTITIES), "source": "demo", "reference": references[name],
                     "digest": digests[name], "result": result, "reason": reason, "matched_keys": keys,
                     "duration_ms": rng.uniform(3, 180), "bypass_id": active_bypass if result == "bypassed" else None,
                     "cluster": DEMO_CLUSTER if source == "sweep" else None,
                     "namespace": "payments" if source == "sweep" else None, "details": {"as": source}})
    with ctx.store.write() as db:
        record_verifications(db, rows)
        ctx.audit("demo.history", "verifications", {"rows": len(rows), "source": "demo"})
