"""A loopback Kubernetes API server for tests: the subset Signet uses, shaped like real responses.

No kube-apiserver binary can run here, so this serves, over plain HTTP on 127.0.0.1:
- discovery: /version, /api, /api/v1, /apis, /apis/<group>, /apis/<group>/<version>
  (core, apps, batch, kyverno.io v1/v2, policy.sigstore.dev v1beta1/v1alpha1, Gatekeeper templates and
  Ratify's constraint kind, config.ratify.deislabs.io);
- namespaces, pods, deployments, statefulsets, daemonsets, replicasets, jobs, cronjobs,
  Kyverno ClusterPolicy/Policy/PolicyException and Sigstore ClusterImagePolicy;
- list (cluster-wide and namespaced) with limit/continue pagination, resourceVersion and
  remainingItemCount; watch (chunked JSON lines of ADDED/MODIFIED/DELETED from a resourceVersion,
  410 Expired when it is too old, ended after timeoutSeconds); get, create (POST), delete, and PATCH:
  server-side apply
  (application/apply-patch+yaml with fieldManager, recorded in managedFields) and merge patches;
- per-namespace 403 injection (a Status with reason Forbidden, as RBAC answers), bearer-token auth.

Objects live in one store keyed by (group, plural, namespace, name): like the real API server, one
object is served under every version of its group (apiVersion is rewritten to the version asked).
Drive it with the real `kubernetes` client and a kubeconfig from `write_kubeconfig`.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import yaml

from core.kube.merge_patch import json_merge_patch


@dataclass(frozen=True)
class Resource:
    group: str           # "" for the core group
    versions: tuple[str, ...]
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()

    @property
    def singular(self) -> str:
        return self.kind.lower()


_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]

RESOURCES: tuple[Resource, ...] = (
    Resource("", ("v1",), "namespaces", "Namespace", False, ("ns",)),
    Resource("", ("v1",), "pods", "Pod", True, ("po",)),
    Resource("apps", ("v1",), "deployments", "Deployment", True, ("deploy",)),
    Resource("apps", ("v1",), "statefulsets", "StatefulSet", True, ("sts",)),
    Resource("apps", ("v1",), "daemonsets", "DaemonSet", True, ("ds",)),
    Resource("apps", ("v1",), "replicasets", "ReplicaSet", True, ("rs",)),
    Resource("batch", ("v1",), "jobs", "Job", True),
    Resource("batch", ("v1",), "cronjobs", "CronJob", True, ("cj",)),
    Resource("kyverno.io", ("v1", "v2beta1"), "clusterpolicies", "ClusterPolicy", False, ("cpol",)),
    Resource("kyverno.io", ("v1", "v2beta1"), "policies", "Policy", True, ("pol",)),
    Resource("kyverno.io", ("v2", "v2beta1"), "policyexceptions", "PolicyException", True, ("polex",)),
    Resource("policy.sigstore.dev", ("v1beta1", "v1alpha1"), "clusterimagepolicies", "ClusterImagePolicy",
             False, ("cip",)),
    # Kyverno 1.14+ CEL policy types (served as v1 since 1.16, with the older versions alongside)
    Resource("policies.kyverno.io", ("v1", "v1beta1", "v1alpha1"), "imagevalidatingpolicies",
             "ImageValidatingPolicy", False, ("ivpol",)),
    Resource("policies.kyverno.io", ("v1", "v1beta1"), "namespacedimagevalidatingpolicies",
             "NamespacedImageValidatingPolicy", True, ("nivpol",)),
    # OPA Gatekeeper (templates, and the constraint kind Ratify's library template defines) and Ratify
    Resource("templates.gatekeeper.sh", ("v1", "v1beta1"), "constrainttemplates", "ConstraintTemplate", False),
    Resource("constraints.gatekeeper.sh", ("v1beta1", "v1alpha1"), "ratifyverification", "RatifyVerification",
             False),
    Resource("config.ratify.deislabs.io", ("v1beta1", "v1alpha1"), "verifiers", "Verifier", False),
    Resource("config.ratify.deislabs.io", ("v1beta1",), "namespacedverifiers", "NamespacedVerifier", True),
    Resource("config.ratify.deislabs.io", ("v1beta1",), "keymanagementproviders", "KeyManagementProvider", False),
    Resource("config.ratify.deislabs.io", ("v1beta1",), "namespacedkeymanagementproviders",
             "NamespacedKeyManagementProvider", True),
    Resource("config.ratify.deislabs.io", ("v1beta1", "v1alpha1"), "certificatestores", "CertificateStore", False),
)

# Group order as the real server lists them: preferred version first.
_GROUPS: dict[str, tuple[str, ...]] = {}
for _r in RESOURCES:
    if _r.group:
        known = _GROUPS.setdefault(_r.group, ())
        _GROUPS[_r.group] = known + tuple(v for v in _r.versions if v not in known)

MAX_LIMIT = 5000  # like the real server's practical page cap; asked limits above it are clamped
MAX_EVENTS = 10_000  # watch history kept; older resourceVersions get 410 Expired, as after etcd compaction
MAX_WATCH_SECONDS = 60.0


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status(code: int, reason: str, message: str, *, kind: str = "", name: str = "",
            group: str = "") -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    if kind:
        details["kind"] = kind
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure" if code >= 400 else "Success", "message": message,
                            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    def __init__(self, status: dict[str, Any]) -> None:
        super().__init__(status["message"])
        self.status = status


class KubeApiServer:
    """The in-memory API server. Use as a context manager, or call start()/stop()."""

    def __init__(self, *, token: str = "signet-test-token") -> None:
        self.token = token
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self._created_rv: dict[tuple[str, str, str, str], int] = {}  # continued lists hide later creations
        self._events: list[tuple[int, str, tuple[str, str, str, str], dict[str, Any]]] = []
        self._events_floor = 1  # watches from a resourceVersion below this have lost events
        self._changed = threading.Condition(self._lock)
        self._stopping = False
        self._rv = 1
        self._forbidden_namespaces: set[str] = set()
        self._forbidden_resources: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path?query) in arrival order
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "KubeApiServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="kube-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> "KubeApiServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ---------------------------------------------------------------------------

    def forbid_namespace(self, namespace: str) -> None:
        """RBAC denies this namespace; cluster-wide lists of namespaced kinds are then denied too,
        as they are for a user whose access comes from per-namespace RoleBindings."""
        with self._lock:
            self._forbidden_namespaces.add(namespace)

    def forbid_resource(self, plural: str) -> None:
        """RBAC denies every request on this resource (e.g. "namespaces"), wherever it is."""
        with self._lock:
            self._forbidden_resources.add(plural)

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object as a controller would have created it (its namespace is created too)."""
        res, version = resource_for(obj["apiVersion"], obj["kind"])
        meta = obj.setdefault("metadata", {})
        with self._lock:
            if res.namespaced:
                ns = meta.setdefault("namespace", "default")
                if (("", "namespaces", "", ns)) not in self._objects:
                    self._put(RESOURCES[0], {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            return self._put(res, obj)

    def add_many(self, objs: list[dict[str, Any]]) -> None:
        for obj in objs:
            self.add(obj)

    def get(self, group: str, version: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The stored object as served at `version`, or None."""
        res = _resource(group, version, plural)
        with self._lock:
            obj = self._objects.get((group, plural, namespace if res.namespaced else "", name))
            return copy.deepcopy(self._served(res, version, obj)) if obj is not None else None

    def list(self, group: str, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(o) for (g, p, ns, _), o in sorted(self._objects.items())
                    if g == group and p == plural and (namespace is None or ns == namespace)]

    def delete(self, group: str, plural: str, namespace: str, name: str) -> None:
        with self._lock:
            self._forget((group, plural, namespace, name))

    def compact(self) -> None:
        """Forget the watch history, as etcd compaction does: older resourceVersions get 410 Expired."""
        with self._lock:
            self._events.clear()
            self._events_floor = self._rv

    def request_count(self, fragment: str = "") -> int:
        with self._lock:
            return sum(1 for _, path in self.requests if fragment in path)

    # -- store internals -------------------------------------------------------------------------

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _put(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace", "") if res.namespaced else ""
        if not res.namespaced:
            meta.pop("namespace", None)
        key = (res.group, res.plural, ns, meta["name"])
        old = self._objects.get(key)
        meta.setdefault("uid", (old or {}).get("metadata", {}).get("uid") or str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", (old or {}).get("metadata", {}).get("creationTimestamp") or _now())
        meta["resourceVersion"] = self._next_rv()
        if "spec" in obj:
            generation = (old or {}).get("metadata", {}).get("generation", 0)
            changed = old is None or old.get("spec") != obj.get("spec")
            meta["generation"] = generation + 1 if changed else generation
        if res.plural == "namespaces":
            obj.setdefault("status", {"phase": "Active"})
        self._objects[key] = obj
        if old is None:
            self._created_rv[key] = self._rv
        self._event("ADDED" if old is None else "MODIFIED", key, obj)
        return copy.deepcopy(obj)

    def _forget(self, key: tuple[str, str, str, str]) -> dict[str, Any] | None:
        obj = self._objects.pop(key, None)
        self._created_rv.pop(key, None)
        if obj is not None:
            gone = {**obj, "metadata": {**obj["metadata"], "resourceVersion": self._next_rv()}}
            self._event("DELETED", key, gone)
        return obj

    def _event(self, kind: str, key: tuple[str, str, str, str], obj: dict[str, Any]) -> None:
        self._events.append((self._rv, kind, key, obj))
        if len(self._events) > MAX_EVENTS:
            dropped = self._events[: len(self._events) - MAX_EVENTS]
            del self._events[: len(dropped)]
            self._events_floor = dropped[-1][0]
        self._changed.notify_all()

    def _served(self, res: Resource, version: str, obj: dict[str, Any], *, in_list: bool = False) -> dict[str, Any]:
        # A shallow copy is enough: stored objects are never mutated in place (_put stores a deep copy
        # and patches build new dicts), and answers are serialised straight away.
        out = dict(obj)
        if in_list and not res.group:
            # Real list responses of built-in kinds omit kind/apiVersion on items; CRD lists keep them.
            out.pop("kind", None)
            out.pop("apiVersion", None)
        else:
            out["apiVersion"] = f"{res.group}/{version}" if res.group else version
            out["kind"] = res.kind
        return out

    # -- request handling (called from handler threads) ------------------------------------------

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path + ("?" + "&".join(f"{k}={v}" for k, v in sorted(query.items()))
                                                  if query else "")))
        if self.token and headers.get("authorization") != f"Bearer {self.token}":
            return 401, _status(401, "Unauthorized", "Unauthorized")
        try:
            return self._route(method, path.rstrip("/") or "/", query, headers, body)
        except ApiError as exc:
            return exc.status["code"], exc.status

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if path == "/version":
            return 200, {"major": "1", "minor": "31", "gitVersion": "v1.31.4", "gitCommit":
                         "a78aa47129b8539636eb86a9d00e31b2720fe06b", "gitTreeState": "clean",
                         "buildDate": "2024-12-10T18:05:28Z", "goVersion": "go1.22.9", "compiler": "gc",
                         "platform": "linux/amd64"}
        if parts == ["api"]:
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": self.url.split("://", 1)[1]}]}
        if parts == ["apis"]:
            return 200, {"kind": "APIGroupList", "apiVersion": "v1",
                         "groups": [self._group_doc(g) for g in ("apps", "batch", *sorted(
                             g for g in _GROUPS if g not in ("apps", "batch")))]}
        if parts and parts[0] == "api":
            group, rest = "", parts[1:]
        elif parts and parts[0] == "apis" and len(parts) >= 2:
            if parts[1] not in _GROUPS:
                raise ApiError(_status(404, "NotFound", "the server could not find the requested resource"))
            if len(parts) == 2:
                return 200, {"kind": "APIGroup", "apiVersion": "v1", **self._group_doc(parts[1])}
            group, rest = parts[1], parts[2:]
        else:
            raise ApiError(_status(404, "NotFound", "the server could not find the requested resource"))
        if not rest:
            raise ApiError(_status(404, "NotFound", "the server could not find the requested resource"))
        version, rest = rest[0], rest[1:]
        if not rest:
            return 200, self._resource_list(group, version)
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name = rest[0], (rest[1] if len(rest) > 1 else "")
        if len(rest) > 2:  # subresources (status, scale, log) are not served
            raise ApiError(_status(404, "NotFound", "the server could not find the requested resource"))
        res = _resource(group, version, plural)
        if namespace and not res.namespaced:
            raise ApiError(_status(404, "NotFound", "the server could not find the requested resource"))
        self._authorize(method, res, namespace, name)
        if method == "GET" and not name and query.get("watch", "").lower() in ("true", "1"):
            return 200, self._watch(res, version, namespace, query)
        if method == "GET" and not name:
            return 200, self._list(res, version, namespace, query)
        if method == "GET":
            return 200, self._get(res, version, namespace, name)
        if method == "POST" and not name:
            return 201, self._create(res, version, namespace, _load_body(body, headers))
        if method == "DELETE" and name:
            return 200, self._delete(res, version, namespace, name)
        if method == "PATCH" and name:
            return self._patch(res, version, namespace, name, query, headers.get("content-type", ""), body)
        raise ApiError(_status(405, "MethodNotAllowed", f"the server does not allow this method on {plural}"))

    def _authorize(self, method: str, res: Resource, namespace: str, name: str) -> None:
        verb = {"GET": "get" if name else "list", "POST": "create", "DELETE": "delete", "PATCH": "patch"}.get(
            method, method.lower())
        with self._lock:
            forbidden = set(self._forbidden_namespaces)
            denied_resource = res.plural in self._forbidden_resources
        cluster_wide = res.namespaced and not namespace and bool(forbidden)
        denied = denied_resource or namespace in forbidden or cluster_wide or (
            res.plural == "namespaces" and name in forbidden and method != "GET")
        if denied:
            where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
            raise ApiError(_status(
                403, "Forbidden",
                f'{res.plural} is forbidden: User "system:serviceaccount:signet:reader" cannot {verb} resource '
                f'"{res.plural}" in API group "{res.group}"{where}', kind=res.plural, group=res.group))

    def _group_doc(self, group: str) -> dict[str, Any]:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in _GROUPS[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def _resource_list(self, group: str, version: str) -> dict[str, Any]:
        served = [r for r in RESOURCES if r.group == group and version in r.versions]
        if not served:
            raise ApiError(_status(404, "NotFound", "the server could not find the requested resource"))
        return {"kind": "APIResourceList", "apiVersion": "v1",
                "groupVersion": f"{group}/{version}" if group else version,
                "resources": [{"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                               "kind": r.kind, "verbs": _VERBS, **({"shortNames": list(r.short_names)}
                                                                   if r.short_names else {})}
                              for r in served]}

    def _list(self, res: Resource, version: str, namespace: str, query: dict[str, str]) -> dict[str, Any]:
        limit = int(query.get("limit") or 0)
        limit = min(limit, MAX_LIMIT) if limit > 0 else 0
        start_after = ""
        with self._lock:
            list_rv = str(self._rv)
            if query.get("continue"):
                try:
                    token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                    start_after, list_rv = token["start"], str(token["rv"])
                except (ValueError, KeyError, TypeError):
                    raise ApiError(_status(400, "BadRequest", "continue key is not valid: invalid token")) from None
            keys = sorted(k for k in self._objects if k[0] == res.group and k[1] == res.plural
                          and (not namespace or k[2] == namespace))
            if start_after:  # the rest of the list as of the first page's resourceVersion
                keys = [k for k in keys if f"{k[2]}/{k[3]}" > start_after and self._created_rv[k] <= int(list_rv)]
            page = keys[:limit] if limit else keys
            items = [self._served(res, version, self._objects[k], in_list=True) for k in page]
        meta: dict[str, Any] = {"resourceVersion": list_rv}
        if limit and len(keys) > len(page):
            last = page[-1]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": int(list_rv), "start": f"{last[2]}/{last[3]}"}).encode()).decode()
            meta["remainingItemCount"] = len(keys) - len(page)
        return {"kind": f"{res.kind}List", "apiVersion": f"{res.group}/{version}" if res.group else version,
                "metadata": meta, "items": items}

    def _watch(self, res: Resource, version: str, namespace: str, query: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Watch events as JSON objects; the handler streams them one per line (chunked)."""
        deadline = time.monotonic() + min(float(query.get("timeoutSeconds") or 5), MAX_WATCH_SECONDS)

        def selected(key: tuple[str, str, str, str]) -> bool:
            return key[0] == res.group and key[1] == res.plural and (not namespace or key[2] == namespace)

        with self._lock:
            asked = query.get("resourceVersion", "")
            if asked in ("", "0"):  # start with the current state, as the real server does
                initial = [{"type": "ADDED", "object": self._served(res, version, o)}
                           for k, o in sorted(self._objects.items()) if selected(k)]
                since = self._rv
            elif int(asked) < self._events_floor:
                initial = [{"type": "ERROR", "object": _status(
                    410, "Expired", f"too old resource version: {asked} ({self._events_floor})")}]
                since = None
            else:
                initial, since = [], int(asked)

        def events() -> Iterator[dict[str, Any]]:
            nonlocal since
            yield from initial
            while since is not None:
                with self._changed:
                    pending = [e for e in self._events if e[0] > since and selected(e[2])]
                    if not pending:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or self._stopping:
                            return
                        self._changed.wait(remaining)
                        continue
                for rv, kind, _, obj in pending:
                    since = rv
                    yield {"type": kind, "object": self._served(res, version, obj)}

        return events()

    def _get(self, res: Resource, version: str, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            obj = self._objects.get((res.group, res.plural, namespace, name))
            if obj is None:
                raise ApiError(_not_found(res, name))
            return self._served(res, version, obj)

    def _create(self, res: Resource, version: str, namespace: str, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name"):
            raise ApiError(_status(422, "Invalid", f"{res.kind} is invalid: metadata.name: Required value: "
                                   "name or generateName is required", kind=res.kind))
        self._check_kind(res, version, obj)
        name = obj["metadata"]["name"]
        with self._lock:
            self._check_namespace(res, namespace)
            if (res.group, res.plural, namespace, name) in self._objects:
                raise ApiError(_status(409, "AlreadyExists", f'{res.plural} "{name}" already exists',
                                       kind=res.plural, name=name, group=res.group))
            if res.namespaced:
                obj["metadata"]["namespace"] = namespace
            return self._served(res, version, self._put(res, obj))

    def _delete(self, res: Resource, version: str, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            obj = self._forget((res.group, res.plural, namespace, name))
            if obj is None:
                raise ApiError(_not_found(res, name))
        if res.group:  # CRDs answer with the deleted object, built-ins with a Status
            return self._served(res, version, obj)
        body = _status(200, "", "", kind=res.plural, name=name)
        body.pop("reason")
        body.pop("message")
        body["details"]["uid"] = obj["metadata"]["uid"]
        return body

    def _patch(self, res: Resource, version: str, namespace: str, name: str, query: dict[str, str],
               content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        content_type = content_type.split(";")[0].strip().lower()
        key = (res.group, res.plural, namespace, name)
        if content_type == "application/apply-patch+yaml":
            manager = query.get("fieldManager", "")
            if not manager:
                raise ApiError(_status(422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: '
                                       "Required value: is required for apply patch"))
            try:
                applied = yaml.safe_load(body.decode())
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise ApiError(_status(400, "BadRequest", f"error decoding YAML: {exc}")) from None
            if not isinstance(applied, dict):
                raise ApiError(_status(400, "BadRequest", "apply patch must be an object"))
            self._check_kind(res, version, applied)
            if (applied.get("metadata") or {}).get("name") not in (None, name):
                raise ApiError(_status(400, "BadRequest", "the name of the object does not match the URL"))
            with self._lock:
                self._check_namespace(res, namespace)
                old = self._objects.get(key)
                merged = json_merge_patch(old or {}, {k: v for k, v in applied.items() if k != "status"})
                meta = merged.setdefault("metadata", {})
                meta["name"] = name
                if res.namespaced:
                    meta["namespace"] = namespace
                fields = [f for f in meta.get("managedFields", []) if f.get("manager") != manager]
                fields.append({"manager": manager, "operation": "Apply", "apiVersion": applied["apiVersion"],
                               "time": _now(), "fieldsType": "FieldsV1", "fieldsV1": {}})
                meta["managedFields"] = fields
                stored = self._put(res, merged)
            return (201 if old is None else 200), self._served(res, version, stored)
        if content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            patch = _load_body(body, {"content-type": "application/json"})
            with self._lock:
                old = self._objects.get(key)
                if old is None:
                    raise ApiError(_not_found(res, name))
                return 200, self._served(res, version, self._put(res, json_merge_patch(old, patch)))
        raise ApiError(_status(415, "UnsupportedMediaType",
                               "the body of the request was in an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/apply-patch+yaml"))

    def _check_kind(self, res: Resource, version: str, obj: dict[str, Any]) -> None:
        want = f"{res.group}/{version}" if res.group else version
        if obj.get("kind") != res.kind or obj.get("apiVersion") != want:
            raise ApiError(_status(400, "BadRequest", f"the API version in the data ({obj.get('apiVersion')}) "
                                   f"does not match the expected API version ({want})"))

    def _check_namespace(self, res: Resource, namespace: str) -> None:
        if res.namespaced and ("", "namespaces", "", namespace) not in self._objects:
            raise ApiError(_status(404, "NotFound", f'namespaces "{namespace}" not found', kind="namespaces",
                                   name=namespace))


def resource_for(api_version: str, kind: str) -> tuple[Resource, str]:
    group, _, version = api_version.rpartition("/")
    for res in RESOURCES:
        if res.group == group and res.kind == kind and version in res.versions:
            return res, version
    raise KeyError(f"{api_version} {kind} is not served by the test API server")


def _resource(group: str, version: str, plural: str) -> Resource:
    for res in RESOURCES:
        if res.group == group and res.plural == plural and version in res.versions:
            return res
    raise ApiError(_status(404, "NotFound", "the server could not find the requested resource"))


def _not_found(res: Resource, name: str) -> dict[str, Any]:
    return _status(404, "NotFound", f'{res.plural}{"." + res.group if res.group else ""} "{name}" not found',
                   kind=res.plural, name=name, group=res.group)


def _load_body(body: bytes, headers: dict[str, str]) -> Any:
    try:
        return json.loads(body.decode() or "null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(_status(400, "BadRequest", f"error decoding body: {exc}")) from None


def _handler_for(server: KubeApiServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            split = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            code, doc = server.handle(self.command, split.path, query, headers, body)
            if not isinstance(doc, dict):  # a watch: one JSON event per line, chunked
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for event in doc:
                    line = json.dumps(event).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                return
            raw = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read server.requests
            return

    return Handler


# --- kubeconfig and unreachable endpoints --------------------------------------------------------


def write_kubeconfig(path: str | Path, contexts: dict[str, str], *, token: str = "signet-test-token",
                     current: str | None = None, namespace: str | None = None) -> Path:
    """A real kubeconfig: one cluster, user (bearer token) and context per entry of {context: server_url}."""
    path = Path(path)
    doc = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": f"{name}-cluster", "cluster": {"server": url}} for name, url in contexts.items()],
        "users": [{"name": f"{name}-user", "user": {"token": token}} for name in contexts],
        "contexts": [{"name": name, "context": {"cluster": f"{name}-cluster", "user": f"{name}-user",
                                                 **({"namespace": namespace} if namespace else {})}}
                     for name in contexts],
        "current-context": current or next(iter(contexts), ""),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    path.chmod(0o600)
    return path


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class SilentEndpoint:
    """Accepts TCP connections into its backlog and never answers: a client without a read timeout hangs."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "SilentEndpoint":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- object builders shaped like what controllers and kubelets write ------------------------------


def container(name: str, image: str) -> dict[str, Any]:
    return {"name": name, "image": image, "imagePullPolicy": "IfNotPresent", "resources": {}}


def pod(name: str, namespace: str, containers: list[tuple[str, str, str]], *,
        init_containers: list[tuple[str, str, str]] = (), ephemeral: list[tuple[str, str, str]] = (),
        owner: tuple[str, str] | None = None, phase: str = "Running", node: str = "node-1") -> dict[str, Any]:
    """A Pod with spec and kubelet status. Each container is (name, spec image, imageID); imageID is what
    the kubelet reports, e.g. "docker-pullable://repo@sha256:..." or "repo@sha256:..." ("" while pulling)."""

    def statuses(entries: Iterator[tuple[str, str, str]] | list, ready: bool) -> list[dict[str, Any]]:
        return [{"name": n, "image": img, "imageID": iid, "ready": ready and bool(iid), "restartCount": 0,
                 "started": bool(iid), "containerID": f"containerd://{uuid.uuid4().hex}" if iid else "",
                 "state": {"running": {"startedAt": _now()}} if iid else
                 {"waiting": {"reason": "ContainerCreating"}}}
                for n, img, iid in entries]

    meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": {"app": name.rsplit("-", 2)[0]}}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1" if owner[0] == "Job" else "apps/v1",
                                    "kind": owner[0], "name": owner[1], "uid": str(uuid.uuid4()),
                                    "controller": True, "blockOwnerDeletion": True}]
    spec: dict[str, Any] = {"containers": [container(n, img) for n, img, _ in containers],
                            "nodeName": node, "restartPolicy": "Always", "serviceAccountName": "default"}
    status: dict[str, Any] = {"phase": phase, "podIP": "10.0.0.1", "hostIP": "192.168.0.1",
                              "containerStatuses": statuses(containers, True)}
    if init_containers:
        spec["initContainers"] = [container(n, img) for n, img, _ in init_containers]
        status["initContainerStatuses"] = statuses(init_containers, False)
    if ephemeral:
        spec["ephemeralContainers"] = [{"name": n, "image": img, "targetContainerName": containers[0][0]}
                                       for n, img, _ in ephemeral]
        status["ephemeralContainerStatuses"] = statuses(ephemeral, False)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status}


def workload(kind: str, name: str, namespace: str, images: list[tuple[str, str]], *,
             init_images: list[tuple[str, str]] = (), owner: tuple[str, str] | None = None) -> dict[str, Any]:
    """A Deployment/StatefulSet/DaemonSet/ReplicaSet/Job/CronJob whose pod template runs `images`
    [(container name, image)]."""
    template: dict[str, Any] = {"metadata": {"labels": {"app": name}},
                                "spec": {"containers": [container(n, i) for n, i in images]}}
    if init_images:
        template["spec"]["initContainers"] = [container(n, i) for n, i in init_images]
    api = "batch/v1" if kind in ("Job", "CronJob") else "apps/v1"
    spec: dict[str, Any]
    if kind == "CronJob":
        spec = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        spec = {"template": template, "backoffLimit": 6}
    else:
        spec = {"selector": {"matchLabels": {"app": name}}, "template": template}
        if kind != "DaemonSet":
            spec["replicas"] = 1
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "batch/v1" if owner[0] == "CronJob" else "apps/v1",
                                    "kind": owner[0], "name": owner[1], "uid": str(uuid.uuid4()),
                                    "controller": True}]
    return {"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec}
