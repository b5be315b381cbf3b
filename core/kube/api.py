"""Kubernetes API access: clients built from kubeconfig contexts, and bounded JSON calls over them.

The kubernetes client has no default timeout (urllib3 waits forever) and retries silently, so:
- `api_client_for` turns urllib3's retries off (a timeout is then really the time a call can take);
- `KubeApi` passes `_request_timeout=(connect, read)` on every call, cut to what is left of an
  overall deadline (so a server answering slowly page after page cannot stretch a read forever),
  caps the bytes read per answer and the items read per list, and maps every failure to a
  ClusterError naming the context.
An `ApiClient` holds a connection pool that is not safe to share: build one per thread.

Bodies are parsed as plain JSON (`_preload_content=False`) rather than into the client's model
classes: the models cost ~1 ms per pod, which a 5,000-pod sweep cannot afford, and drop fields
newer than the client.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from core.errors import ClusterError, ClusterRefused, ConfigError, LimitExceeded

DEFAULT_KUBECONFIG = "~/.kube/config"
PAGE_SIZE = 500
MAX_LIST_ITEMS = 100_000      # objects of one kind from one cluster
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
MAX_CONTEXTS = 200
CLUSTER_DEADLINE_S = 120.0    # everything one KubeApi does, so a slow server cannot stretch a read forever
_CONTENT_TYPES = {"apply": "application/apply-patch+yaml", "merge": "application/merge-patch+json"}


def kubeconfig_path(explicit: str | None = None) -> str:
    """`explicit`, else $KUBECONFIG (several files joined by os.pathsep, merged like kubectl does),
    else ~/.kube/config. Read at call time: the kubernetes module freezes $KUBECONFIG at import."""
    raw = explicit or os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
    return os.pathsep.join(str(Path(p).expanduser()) for p in raw.split(os.pathsep) if p)


def list_contexts(kubeconfig: str | None = None) -> tuple[list[str], str]:
    """(context names, current context) of the kubeconfig file(s)."""
    path = kubeconfig_path(kubeconfig)
    if not any(Path(p).is_file() for p in path.split(os.pathsep)):
        raise ConfigError(f"no kubeconfig file at {path}")
    try:
        contexts, active = kube_config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {_first_line(exc)}") from None
    names = [c["name"] for c in contexts or [] if isinstance(c, dict) and c.get("name")]
    if len(names) > MAX_CONTEXTS:
        raise LimitExceeded("kubeconfig contexts", len(names), path)
    return names, (active or {}).get("name", "")


def api_client_for(context: str, kubeconfig: str | None = None) -> ApiClient:
    """A new ApiClient for `context` of the kubeconfig(s); the caller closes it, on one thread.

    Callers pass `_request_timeout` on every call (or use `KubeApi`, which does)."""
    path = kubeconfig_path(kubeconfig)
    configuration = Configuration()
    try:
        kube_config.load_kube_config(config_file=path, context=context, client_configuration=configuration,
                                     persist_config=False)
    except (ConfigException, OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(f"kubeconfig {path}, context {context}: {_first_line(exc)}") from None
    configuration.retries = False  # no hidden retries multiplying the timeouts
    return ApiClient(configuration=configuration)


class KubeApi:
    """JSON calls on one ApiClient, each with timeouts and size bounds; errors name the context."""

    def __init__(self, client: ApiClient, context: str, *, timeout: tuple[float, float],
                 deadline_s: float = CLUSTER_DEADLINE_S) -> None:
        self.client = client
        self.context = context
        self.timeout = timeout
        self.deadline_s = deadline_s
        self._deadline = time.monotonic() + deadline_s

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "KubeApi":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._call("GET", path, query or {})

    def list(self, path: str, *, page_size: int = PAGE_SIZE,
             max_items: int = MAX_LIST_ITEMS) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, page by page (limit/continue), at most `max_items`."""
        token = ""
        seen = 0
        while True:
            query: dict[str, Any] = {"limit": page_size}
            if token:
                query["continue"] = token
            page = self._call("GET", path, query)
            items = page.get("items") or []
            if not isinstance(items, list):
                raise ClusterError(f"cluster {self.context}: {path}: items is not a list")
            seen += len(items)
            if seen > max_items:
                raise LimitExceeded(f"objects listed from {path}", seen, f"cluster {self.context}")
            yield from (i for i in items if isinstance(i, dict))
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def patch(self, path: str, body: dict[str, Any], *, kind: str = "apply", field_manager: str = "signet",
              force: bool = False) -> dict[str, Any]:
        """Server-side apply (`kind="apply"`) or JSON merge patch."""
        query: dict[str, Any] = {"fieldManager": field_manager}
        if kind == "apply" and force:
            query["force"] = "true"
        return self._call("PATCH", path, query, body=body, content_type=_CONTENT_TYPES[kind])

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", path, {}, body=body, content_type="application/json")

    def delete(self, path: str) -> dict[str, Any]:
        return self._call("DELETE", path, {})

    def _call(self, method: str, path: str, query: dict[str, Any], *, body: Any = None,
              content_type: str = "") -> dict[str, Any]:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise ClusterError(f"cluster {self.context}: gave up after {self.deadline_s:.0f}s ({method} {path})")
        timeout = (min(self.timeout[0], remaining), min(self.timeout[1], remaining))
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = self.client.call_api(
                path, method, query_params=list(query.items()), header_params=headers, body=body,
                auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
                _request_timeout=timeout)
            try:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
            finally:
                response.release_conn()
        except ApiException as exc:
            raise _refused(self.context, method, path, exc) from None
        except ClusterError:
            raise
        except Exception as exc:  # urllib3 connect/read timeouts, refused connections, TLS, auth plugins
            raise ClusterError(f"cluster {self.context} unreachable: {method} {path}: {_first_line(exc)}") from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise LimitExceeded("Kubernetes API response bytes", MAX_RESPONSE_BYTES, f"{method} {path}")
        try:
            doc = json.loads(raw or b"{}")
        except ValueError:
            raise ClusterError(f"cluster {self.context}: {method} {path}: answer is not JSON") from None
        if not isinstance(doc, dict):
            raise ClusterError(f"cluster {self.context}: {method} {path}: answer is not a JSON object")
        return doc


def resource_path(group: str, version: str, plural: str, *, namespace: str = "", name: str = "") -> str:
    """/api/v1/... for the core group, /apis/<group>/<version>/... otherwise."""
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if namespace:
        base += f"/namespaces/{quote(namespace, safe='')}"
    base += f"/{plural}"
    return base + (f"/{quote(name, safe='')}" if name else "")


def _refused(context: str, method: str, path: str, exc: ApiException) -> ClusterRefused:
    message, reason = "", exc.reason or ""
    try:
        status = json.loads(exc.body or b"{}")
        message, reason = str(status.get("message", ""))[:300], str(status.get("reason") or reason)
    except (ValueError, TypeError, AttributeError):
        pass
    text = f"cluster {context}: {method} {path}: HTTP {exc.status} {reason}" + (f": {message}" if message else "")
    return ClusterRefused(text, status=int(exc.status or 0), reason=reason)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]
