"""The demo's cluster: a Kubernetes API answered from a JSON file of objects, without a network.

A kubeconfig cluster whose `server` is a `file:` URL (the demo writes one) opens this instead of an
HTTP client (`core.kube.connect.open_kube_api`), so inventory, sweeps, policy drift and bypass PolicyExceptions all run
their ordinary code over it: only `_call` differs. It answers the subset Signet asks for, shaped like
the real API server (lists with `items`, a Status with the HTTP code on errors, 404 for a kind not
served). Writes (create, delete, apply/merge patch) rewrite the file atomically under a lock, so the
console and a shell can both act on the demo.

File: {"version": {...}, "objects": {"<group or core>/<plural>": [object, ...]}}.
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from core.kube.api import MAX_RESPONSE_BYTES, KubeApi
from core.kube.merge_patch import json_merge_patch
from core.locked_json_file import load_json_file, locked_update, save_json_file
from core.errors import ClusterError, ClusterRefused

# (group, versions, plural, kind, namespaced): what the demo cluster serves; anything else is a 404,
# as on a cluster where that CRD is not installed.
SERVED = (
    ("", ("v1",), "namespaces", "Namespace", False),
    ("", ("v1",), "pods", "Pod", True),
    ("apps", ("v1",), "deployments", "Deployment", True),
    ("apps", ("v1",), "statefulsets", "StatefulSet", True),
    ("apps", ("v1",), "daemonsets", "DaemonSet", True),
    ("apps", ("v1",), "replicasets", "ReplicaSet", True),
    ("batch", ("v1",), "jobs", "Job", True),
    ("batch", ("v1",), "cronjobs", "CronJob", True),
    ("kyverno.io", ("v1",), "clusterpolicies", "ClusterPolicy", False),
    ("kyverno.io", ("v1",), "policies", "Policy", True),
    ("kyverno.io", ("v2",), "policyexceptions", "PolicyException", True),
)


def file_url(path: Path) -> str:
    """The kubeconfig `server` that opens `path` through this module."""
    return Path(path).resolve().as_uri()


def store_key(group: str, plural: str) -> str:
    return f"{group or 'core'}/{plural}"


def write_cluster_file(path: Path, objects: dict[str, list[dict[str, Any]]], *, version: str) -> None:
    save_json_file(Path(path), {"version": {"major": "1", "minor": version.split(".")[1], "gitVersion": version},
                       "objects": objects})


class FileKubeApi(KubeApi):
    """`KubeApi` over a cluster file; every call reads (and a write rewrites) the file."""

    def __init__(self, path: Path, context: str) -> None:
        super().__init__(client=None, context=context, timeout=(0.0, 0.0))
        self.path = path

    @classmethod
    def from_url(cls, url: str, context: str) -> "FileKubeApi":
        return cls(Path(unquote(urlsplit(url).path)), context)

    def close(self) -> None:
        pass

    def _call(self, method: str, path: str, query: dict[str, Any], *, body: Any = None,
              content_type: str = "") -> dict[str, Any]:
        if path == "/version":
            return dict(self._load().get("version") or {})
        group, version, plural, kind, namespaced, namespace, name = self._route(method, path)
        key = store_key(group, plural)
        if method == "GET":
            items = [o for o in (self._load().get("objects") or {}).get(key, [])
                     if not namespace or _meta(o).get("namespace") == namespace]
            if not name:
                return {"kind": f"{kind}List", "apiVersion": _api_version(group, version), "metadata": {},
                        "items": [_served(o, group, version, kind) for o in items]}
            found = [o for o in items if _meta(o).get("name") == name]
            if not found:
                raise self._refused(method, path, 404, "NotFound", f'{plural} "{name}" not found')
            return _served(found[0], group, version, kind)
        with locked_update(self.path, self._load) as doc:
            stored = doc.setdefault("objects", {}).setdefault(key, [])
            index = next((i for i, o in enumerate(stored) if _meta(o).get("name") == (name or _meta(body).get("name"))
                          and (not namespaced or _meta(o).get("namespace") == namespace)), None)
            if method == "DELETE":
                if index is None:
                    raise self._refused(method, path, 404, "NotFound", f'{plural} "{name}" not found')
                del stored[index]
                return {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}
            if not isinstance(body, dict) or not _meta(body).get("name"):
                raise self._refused(method, path, 400, "BadRequest", "the object has no metadata.name")
            if namespaced and index is None and not any(_meta(n).get("name") == namespace for n in
                                                          doc["objects"].get(store_key("", "namespaces"), [])):
                raise self._refused(method, path, 404, "NotFound", f'namespaces "{namespace}" not found')
            if method == "POST" and index is not None:
                raise self._refused(method, path, 409, "AlreadyExists",
                                    f'{plural} "{_meta(body)["name"]}" already exists')
            obj = json_merge_patch(stored[index], body) if index is not None else copy.deepcopy(body)
            meta = obj.setdefault("metadata", {})
            if namespaced:
                meta["namespace"] = namespace
            doc["resourceVersion"] = int(doc.get("resourceVersion") or 0) + 1
            meta.update(resourceVersion=str(doc["resourceVersion"]), generation=int(meta.get("generation") or 0) + 1)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
            if index is None:
                stored.append(obj)
            else:
                stored[index] = obj
            return _served(obj, group, version, kind)

    def _route(self, method: str, path: str) -> tuple[str, str, str, str, bool, str, str]:
        """(group, version, plural, kind, namespaced, namespace, name) of a resource path."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise self._refused(method, path, 404, "NotFound", "the server could not find the requested resource")
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        for served_group, versions, plural, kind, namespaced in SERVED:
            if (served_group, plural) == (group, rest[0]) and version in versions and len(rest) <= 2:
                if namespace and not namespaced:
                    break
                return group, version, plural, kind, namespaced, namespace, rest[1] if len(rest) == 2 else ""
        raise self._refused(method, path, 404, "NotFound", "the server could not find the requested resource")

    def _refused(self, method: str, path: str, status: int, reason: str, message: str) -> ClusterRefused:
        return ClusterRefused(f"cluster {self.context}: {method} {path}: HTTP {status} {reason}: {message}",
                              status=status, reason=reason)

    def _load(self) -> dict[str, Any]:
        return load_json_file(self.path, max_bytes=MAX_RESPONSE_BYTES,
                              error=lambda why: ClusterError(f"cluster {self.context} unreachable: {why}"))


def _meta(obj: Any) -> dict[str, Any]:
    return (obj.get("metadata") or {}) if isinstance(obj, dict) else {}


def _api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _served(obj: dict[str, Any], group: str, version: str, kind: str) -> dict[str, Any]:
    return {**copy.deepcopy(obj), "apiVersion": _api_version(group, version), "kind": kind}
