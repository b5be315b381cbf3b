"""A small production-like world for cluster tests: a real registry with signed, unsigned and
wrongly-signed images, a loopback Kubernetes API running pods of them, and a Signet config."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from core.clock import FixedClock
from core.context import SignetContext, open_context
from core.identity import principal_for
from tests.support.kube_api import KubeApiServer, pod, workload, write_kubeconfig
from tests.support.oci import new_key, push_image, push_signatures, signature_layer, write_public_key

START = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


@dataclass
class ClusterWorld:
    root: Path
    registry_url: str
    kube: KubeApiServer
    kubeconfig: Path
    key_path: Path
    digests: dict[str, str] = field(default_factory=dict)  # name -> digest pushed
    clock: FixedClock = field(default_factory=lambda: FixedClock(START))

    @property
    def host(self) -> str:
        return self.registry_url.split("://", 1)[1]

    def image(self, name: str, tag: str = "v1") -> str:
        return f"{self.host}/{name}:{tag}"

    def image_id(self, name: str) -> str:
        return f"docker-pullable://{self.host}/{name}@{self.digests[name]}"

    def context(self, identity: str = "alice") -> SignetContext:
        ctx = open_context(clock=self.clock)
        if identity == ctx.config.identity:
            return ctx
        config = replace(ctx.config, identity=identity)
        return replace(ctx, config=config, principal=principal_for(config))


def push_signed(registry_url: str, name: str, key, tag: str = "v1") -> str:
    digest = push_image(registry_url, name, tag)
    host = registry_url.split("://", 1)[1]
    push_signatures(registry_url, name, digest, [signature_layer(key, f"{host}/{name}", digest)])
    return digest


def build_world(root: Path, registry_url: str, kube: KubeApiServer, *, extra_contexts: dict[str, str] | None = None,
                extra_config: str = "") -> ClusterWorld:
    """Images: `signed` (trusted key), `unsigned`, `forged` (signed by an untrusted key).
    Pods in `prod`: Deployment web (3 replicas, signed, init container signed), Pod batch-tool
    (unsigned), StatefulSet db (forged); in `staging`: CronJob report (signed, via its Job)."""
    trusted, stranger = new_key(), new_key()
    key_path = write_public_key(root / "trusted.pub", trusted)
    digests = {"signed": push_signed(registry_url, "signed", trusted),
               "unsigned": push_image(registry_url, "unsigned", "v1"),
               "forged": push_signed(registry_url, "forged", stranger)}
    kubeconfig = write_kubeconfig(root / "kubeconfig", {"prod-eu": kube.url, **(extra_contexts or {})})
    world = ClusterWorld(root=root, registry_url=registry_url, kube=kube, kubeconfig=kubeconfig, key_path=key_path,
                         digests=digests)
    kube.add(workload("Deployment", "web", "prod", [("app", world.image("signed"))]))
    kube.add(workload("ReplicaSet", "web-7d9f", "prod", [("app", world.image("signed"))],
                      owner=("Deployment", "web")))
    for i in range(3):
        kube.add(pod(f"web-7d9f-{i}", "prod", [("app", world.image("signed"), world.image_id("signed"))],
                     init_containers=[("init", world.image("signed"), world.image_id("signed"))],
                     owner=("ReplicaSet", "web-7d9f")))
    kube.add(pod("batch-tool", "prod", [("tool", world.image("unsigned"), world.image_id("unsigned"))]))
    kube.add(workload("StatefulSet", "db", "prod", [("db", world.image("forged"))]))
    kube.add(pod("db-0", "prod", [("db", world.image("forged"), world.image_id("forged"))],
                 owner=("StatefulSet", "db")))
    kube.add(workload("CronJob", "report", "staging", [("r", world.image("signed"))]))
    kube.add(workload("Job", "report-28812345", "staging", [("r", world.image("signed"))],
                      owner=("CronJob", "report")))
    kube.add(pod("report-28812345-x1", "staging", [("r", world.image("signed"), world.image_id("signed"))],
                 owner=("Job", "report-28812345"), phase="Succeeded"))
    contexts = ["prod-eu", *(extra_contexts or {})]
    clusters = "".join(f'\n[[clusters]]\ncontext = "{c}"\nkubeconfig = "{kubeconfig}"\n' for c in contexts)
    (root / "config.toml").write_text(
        'identity = "alice"\n\n[roles]\noperator = ["alice"]\ncustodian = ["alice"]\napprover = ["bob"]\n\n'
        f'[trust]\nkeys = ["{key_path}"]\n{clusters}{extra_config}')
    return world
