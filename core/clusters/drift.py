"""Tag drift: a pod runs digest A while its spec's tag now points at digest B in the registry.

Each unique spec reference is resolved once (concurrently, bounded, over the verify session's pooled
registry connections but past its tag cache: drift is about where the tag points now). A spec pinned
by digest drifts when the kubelet reports a different one. Registry failures give status
`unknown` with the reason; they are never reported as "current".
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

from core.clusters.inventory import ClusterInventory
from core.context import SignetContext
from core.errors import SignetError
from core.registry.reference import parse_reference
from core.verify.session import VerifySession


@dataclass(frozen=True)
class ImageDrift:
    cluster: str
    namespace: str
    workload_kind: str
    workload: str
    pod: str
    container: str
    image: str
    running_digest: str | None
    registry_digest: str | None
    status: str            # drift | current | unknown
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "namespace": self.namespace, "workload_kind": self.workload_kind,
                "workload": self.workload, "pod": self.pod, "container": self.container, "image": self.image,
                "running_digest": self.running_digest, "registry_digest": self.registry_digest,
                "status": self.status, "reason": self.reason}


def find_drift(ctx: SignetContext, inventories: Sequence[ClusterInventory], *,
               allow_http: bool = False) -> list[ImageDrift]:
    """One entry per running container of every reachable cluster."""
    uses = [(inv.cluster, pod, c) for inv in inventories if inv.reachable for pod in inv.pods for c in pod.containers]
    wanted = sorted({c.image for _, _, c in uses if c.image and not c.spec_digest})
    resolved = _resolve_all(ctx, wanted, allow_http=allow_http)
    found = []
    for cluster, pod, c in uses:
        registry_digest, error = (c.spec_digest, "") if c.spec_digest else resolved.get(c.image, (None, "no image"))
        if c.running_digest is None:
            status, reason = "unknown", "the kubelet reports no registry digest for this container yet"
        elif registry_digest is None:
            status, reason = "unknown", f"cannot resolve {c.image}: {error}"
        elif registry_digest != c.running_digest:
            status, reason = "drift", f"{c.image} now points at {registry_digest}, the pod runs {c.running_digest}"
        else:
            status, reason = "current", ""
        found.append(ImageDrift(cluster=cluster, namespace=pod.namespace, workload_kind=pod.workload_kind,
                                workload=pod.workload, pod=pod.name, container=c.container, image=c.image,
                                running_digest=c.running_digest, registry_digest=registry_digest, status=status,
                                reason=reason))
    return found


def _resolve_all(ctx: SignetContext, images: Sequence[str], *, allow_http: bool) -> dict[str, tuple[str | None, str]]:
    session = VerifySession(ctx, allow_http=allow_http)

    def resolve(image: str) -> tuple[str, tuple[str | None, str]]:
        try:
            ref = parse_reference(image)
            return image, (session.source_for(ref).source.resolve(ref).digest, "")
        except SignetError as exc:
            return image, (None, str(exc))
        except Exception as exc:  # fail closed with the reason: unknown, never "current"
            return image, (None, f"{type(exc).__name__}: {exc}"[:300])

    try:
        workers = max(1, min(ctx.config.limits.concurrency, len(images) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift") as pool:
            return dict(pool.map(resolve, images))
    finally:
        session.close()
