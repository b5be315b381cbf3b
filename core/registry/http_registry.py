"""OCI distribution API v2 client on httpx.

Safety rules, all enforced here:
- TLS verified by default (a `ca_file` may be given per registry); plain HTTP only for loopback
  hosts, registries marked `insecure` in the config, or `--allow-http-registry`. `insecure` also
  accepts a self-signed certificate.
- Every request has connect/read timeouts (`limits.connect_timeout`/`read_timeout`) and every
  operation a total deadline (`limits.total_timeout`, checked between chunks and hops).
- Redirects are followed by hand, at most `limits.max_redirects`; Authorization is only ever sent to
  the registry's own host, never to a host a redirect points at; an https → http redirect is refused
  unless plain HTTP is allowed for the target.
- Bodies are read with a byte cap whatever Content-Length says (manifests `max_manifest_bytes`,
  blobs the caller's cap), as identity encoding only.
- Digests are computed over the received bytes and compared with the digest asked for;
  `Docker-Content-Digest` is never trusted.
"""

from __future__ import annotations

import functools
import itertools
import json
import ssl
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator
from urllib.parse import urljoin, urlsplit

import httpx

from core import __version__
from core.config.model import Config
from core.errors import ConfigError, DigestMismatch, LimitExceeded, NotFound, RegistryError
from core.registry.auth import RegistryAuth, credentials_loader, is_loopback
from core.registry.deadline import deadline_for_thread, deadline_transport
from core.registry.manifest import (ACCEPT_MANIFESTS, OCI_INDEX, Manifest, loads_strict, referrer_descriptors,
                                   sha256_digest)
from core.registry.reference import DIGEST_RE, DOCKER_HUB, ImageReference
from core.registry.transport import read_capped

DOCKER_HUB_API = "registry-1.docker.io"
MAX_LIST_PAGES = 1000
MAX_REMEMBERED_REPOSITORIES = 10_000
MAX_LIST_ITEMS = 100_000
MAX_LIST_BYTES = 4 * 1024 * 1024
PAGE_SIZE = 1000
MAX_ERROR_BODY = 16 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
THREAD_POOL_LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=2)  # per thread: one in use
BASE_HEADERS = {"User-Agent": f"signet/{__version__}", "Accept-Encoding": "identity"}


@functools.cache
def system_tls_context() -> ssl.SSLContext:
    """One TLS context with the system's CA bundle for the whole process: loading the bundle costs
    ~20 ms, once per registry client before, so a loop of single-image verifications (a gate, the
    console) spent half its time there. Contexts are made to be shared; nothing here changes it."""
    return httpx.create_ssl_context(verify=True, trust_env=False)


class HttpRegistry:
    """One registry host. Thread-safe: verify workers share it (and its connection pool)."""

    def __init__(self, host: str, *, config: Config, allow_http: bool = False) -> None:
        self.name = host
        self.limits = config.limits
        reg = config.registry_for(host)
        self.api_host = DOCKER_HUB_API if host == DOCKER_HUB else host
        self.http_allowed = is_loopback(self.api_host) or allow_http or bool(reg and reg.insecure)
        self.scheme = self._scheme(reg.url if reg else "")
        # allowed plain HTTP but not told which: try TLS first once, like docker's insecure registries
        self._probe_scheme = self.http_allowed and not is_loopback(self.api_host) and not (reg and "://" in reg.url)
        verify: Any = True
        if reg and reg.insecure:
            verify = False
        elif reg and reg.ca_file:
            try:
                verify = ssl.create_default_context(cafile=reg.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"cannot load ca_file: {exc}", path=reg.ca_file) from None
        self._timeout = httpx.Timeout(connect=self.limits.connect_timeout, read=self.limits.read_timeout,
                                      write=self.limits.read_timeout, pool=self.limits.total_timeout)
        self._tls: Any = system_tls_context() if verify is True else verify
        # Requests go straight to a transport: auth and redirects are handled here by hand, and the
        # client layer would only add cookie handling (a registry has no business setting cookies) and
        # URL merging, about a quarter of the CPU of each request. Each thread gets its own transport
        # (connection pool): verify workers sharing one pool spent much of their time on its lock.
        self._local = threading.local()
        self._no_referrers_api: set[str] = set()  # repositories whose referrers API answered 404
        self._transports: list[httpx.HTTPTransport] = []
        self._transports_lock = threading.Lock()
        self._timeouts = {"timeout": self._timeout.as_dict()}
        # a plain-HTTP token realm off loopback only when the user allowed plain HTTP explicitly
        explicit_http = allow_http or bool(reg and reg.insecure)
        self._auth = RegistryAuth(host, credentials_loader(config, host), http_allowed=explicit_http,
                                  timeout=self._timeout, verify=verify)
        self._counter = itertools.count(1)
        self.requests = 0
        self._lock = threading.Lock()

    @property
    def _transport(self) -> httpx.HTTPTransport:
        transport = getattr(self._local, "transport", None)
        if transport is None:
            transport = deadline_transport(verify=self._tls, limits=THREAD_POOL_LIMITS)
            with self._transports_lock:
                self._transports.append(transport)
            self._local.transport = transport
        return transport

    def _probe(self) -> None:
        with self._lock:
            if not self._probe_scheme:
                return
            try:
                probe = httpx.Request("GET", f"https://{self.api_host}/v2/", headers=BASE_HEADERS,
                                      extensions={"timeout": httpx.Timeout(self.limits.connect_timeout).as_dict()})
                self._transport.handle_request(probe).close()
            except httpx.TransportError:
                self.scheme = "http"
            self.requests = next(self._counter)
            self._probe_scheme = False

    def _scheme(self, configured_url: str) -> str:
        if "://" in configured_url:
            scheme = configured_url.split("://", 1)[0].lower()
            if scheme not in ("http", "https"):
                raise ConfigError(f"registry URL scheme must be http or https, not '{scheme}'")
            if scheme == "http" and not self.http_allowed:
                raise ConfigError(f"plain HTTP to {self.name} is refused: mark the registry insecure or pass "
                                  "--allow-http-registry")
            return scheme
        return "http" if is_loopback(self.api_host) else "https"

    # --- plumbing -------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if self._probe_scheme:
            self._probe()
        return f"{self.scheme}://{self.api_host}{path}"

    @contextmanager
    def _open(self, method: str, url: str, *, deadline: float, **kwargs: Any) -> Iterator[httpx.Response]:
        """`_exchange` with every socket operation, response headers included, ending by `deadline`."""
        with deadline_for_thread(deadline), self._exchange(method, url, deadline=deadline, **kwargs) as resp:
            yield resp

    @contextmanager
    def _exchange(self, method: str, url: str, *, scope: str, headers: dict[str, str] | None = None,
              content: bytes | None = None, deadline: float) -> Iterator[httpx.Response]:
        """Send, answering one auth challenge and following redirects by hand; yields the open response."""
        challenged = False
        for hop in itertools.count():
            if time.monotonic() > deadline:
                raise LimitExceeded("total_timeout", f"{self.limits.total_timeout}s", f"{method} {self.name}")
            parts = urlsplit(url)
            own_host = parts.netloc == self.api_host
            request_headers = {**BASE_HEADERS, **(headers or {})}
            if own_host:
                authorization = self._auth.header(scope)
                if authorization:
                    request_headers["Authorization"] = authorization
            try:
                request = httpx.Request(method, url, headers=request_headers, content=content,
                                        extensions=self._timeouts)
                resp = self._transport.handle_request(request)
            except httpx.TimeoutException as exc:
                raise RegistryError(f"{self.name}: timed out ({type(exc).__name__})") from None
            except httpx.HTTPError as exc:
                raise RegistryError(f"{self.name}: {type(exc).__name__}: {str(exc)[:200]}") from None
            self.requests = next(self._counter)
            if resp.status_code == 401 and own_host and not challenged:
                challenge = resp.headers.get("www-authenticate", "")
                resp.close()
                self._auth.on_challenge(challenge, scope)
                challenged = True
                continue
            if resp.status_code in _REDIRECTS:
                location = resp.headers.get("location", "")
                resp.close()
                if hop >= self.limits.max_redirects:
                    raise LimitExceeded("max_redirects", self.limits.max_redirects, f"{method} {self.name}")
                url = self._redirect_target(url, location)
                if resp.status_code == 303:
                    method, content = "GET", None
                continue
            try:
                yield resp
            finally:
                resp.close()
            return

    def _redirect_target(self, current: str, location: str) -> str:
        if not location:
            raise RegistryError(f"{self.name}: redirect without a Location")
        target = urljoin(current, location)
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or parts.username or parts.password:
            raise RegistryError(f"{self.name}: refusing redirect to '{target[:120]}'")
        if parts.scheme == "http" and not (self.http_allowed or is_loopback(parts.netloc)):
            raise RegistryError(f"{self.name}: refusing redirect to plain HTTP ({parts.netloc[:80]})")
        return target

    def _deadline(self) -> float:
        return time.monotonic() + self.limits.total_timeout

    def _fail(self, resp: httpx.Response, what: str, deadline: float) -> RegistryError | NotFound:
        code = resp.status_code
        detail = ""
        try:
            body = json.loads(read_capped(resp, MAX_ERROR_BODY, what="error body", deadline=deadline))
            errors = body.get("errors") if isinstance(body, dict) else None
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                detail = f": {str(errors[0].get('code', ''))[:40]} {str(errors[0].get('message', ''))[:120]}"
        except (ValueError, RecursionError, RegistryError):  # RecursionError: [[[[... nesting
            pass
        if code == 404:
            return NotFound(f"{what} not found on {self.name}{detail}")
        if code in (401, 403):
            return RegistryError(f"{self.name} refused access to {what} (HTTP {code}){detail}")
        return RegistryError(f"{self.name} answered HTTP {code} for {what}{detail}")

    @staticmethod
    def _scope(repository: str, push: bool = False) -> str:
        return f"repository:{repository}:{'pull,push' if push else 'pull'}"

    # --- API ------------------------------------------------------------------------------------

    def ping(self) -> None:
        deadline = self._deadline()
        with self._open("GET", self._url("/v2/"), scope="", deadline=deadline) as resp:
            if resp.status_code != 200:
                raise self._fail(resp, "the v2 API", deadline)

    def resolve(self, ref: ImageReference) -> Manifest:
        return self.get_manifest(ref.repository, ref.digest or ref.tag or "latest")

    def get_manifest(self, repository: str, tag_or_digest: str) -> Manifest:
        deadline = self._deadline()
        what = f"manifest {repository}:{tag_or_digest}"
        url = self._url(f"/v2/{repository}/manifests/{tag_or_digest}")
        with self._open("GET", url, scope=self._scope(repository), headers={"Accept": ACCEPT_MANIFESTS},
                        deadline=deadline) as resp:
            if resp.status_code != 200:
                raise self._fail(resp, what, deadline)
            raw = read_capped(resp, self.limits.max_manifest_bytes, what="max_manifest_bytes", deadline=deadline)
            header_type = resp.headers.get("content-type", "").split(";", 1)[0].strip()
        manifest = Manifest.from_bytes(raw, "")
        if not manifest.media_type:
            manifest = Manifest(raw=raw, media_type=header_type, digest=manifest.digest)
        if DIGEST_RE.match(tag_or_digest) and manifest.digest != tag_or_digest:
            raise DigestMismatch(f"{self.name} served {what} whose bytes hash to {manifest.digest}")
        return manifest

    def get_blob(self, repository: str, digest: str, *, max_bytes: int) -> bytes:
        if not DIGEST_RE.match(digest):
            raise RegistryError(f"'{digest[:80]}' is not a sha256 digest")
        deadline = self._deadline()
        with self._open("GET", self._url(f"/v2/{repository}/blobs/{digest}"), scope=self._scope(repository),
                        deadline=deadline) as resp:
            if resp.status_code != 200:
                raise self._fail(resp, f"blob {digest[:19]}", deadline)
            data = read_capped(resp, max_bytes, what=f"blob {digest[:19]} (cap {max_bytes} bytes)", deadline=deadline)
        if sha256_digest(data) != digest:
            raise DigestMismatch(f"{self.name} served blob {digest[:19]} whose bytes hash to "
                                 f"{sha256_digest(data)[:19]}")
        return data

    def blob_exists(self, repository: str, digest: str, *, push: bool = False) -> bool:
        deadline = self._deadline()
        with self._open("HEAD", self._url(f"/v2/{repository}/blobs/{digest}"),
                        scope=self._scope(repository, push), deadline=deadline) as resp:
            if resp.status_code == 200:
                return True
            if resp.status_code == 404:
                return False
            raise self._fail(resp, f"blob {digest[:19]}", deadline)

    def put_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        if self.blob_exists(repository, digest, push=True):
            return digest
        deadline = self._deadline()
        scope = self._scope(repository, push=True)
        with self._open("POST", self._url(f"/v2/{repository}/blobs/uploads/"), scope=scope,
                        headers={"Content-Length": "0"}, deadline=deadline) as resp:
            if resp.status_code not in (202, 201):
                raise self._fail(resp, f"upload to {repository}", deadline)
            location = resp.headers.get("location", "")
        if not location:
            raise RegistryError(f"{self.name}: upload started without a Location")
        target = self._redirect_target(self._url(f"/v2/{repository}/blobs/uploads/"), location)
        target += ("&" if "?" in target else "?") + f"digest={digest}"
        with self._open("PUT", target, scope=scope, content=data,
                        headers={"Content-Type": "application/octet-stream"}, deadline=deadline) as resp:
            if resp.status_code not in (201, 204):
                raise self._fail(resp, f"upload of blob {digest[:19]}", deadline)
        return digest

    def put_manifest(self, repository: str, tag_or_digest: str, raw: bytes, media_type: str) -> str:
        if len(raw) > self.limits.max_manifest_bytes:
            raise LimitExceeded("max_manifest_bytes", len(raw))
        deadline = self._deadline()
        with self._open("PUT", self._url(f"/v2/{repository}/manifests/{tag_or_digest}"),
                        scope=self._scope(repository, push=True), content=raw,
                        headers={"Content-Type": media_type}, deadline=deadline) as resp:
            if resp.status_code not in (201, 200, 204):
                raise self._fail(resp, f"manifest {repository}:{tag_or_digest}", deadline)
        return sha256_digest(raw)

    def list_tags(self, repository: str) -> list[str]:
        return self._paged(f"/v2/{repository}/tags/list?n={PAGE_SIZE}", "tags", self._scope(repository))

    def catalog(self) -> list[str]:
        return self._paged(f"/v2/_catalog?n={PAGE_SIZE}", "repositories", "registry:catalog:*")

    def _paged(self, first: str, field: str, scope: str) -> list[str]:
        items: list[str] = []
        url: str | None = self._url(first)
        for _ in range(MAX_LIST_PAGES):
            if url is None:
                return items
            deadline = self._deadline()
            with self._open("GET", url, scope=scope, deadline=deadline) as resp:
                if resp.status_code != 200:
                    raise self._fail(resp, field, deadline)
                doc = loads_strict(read_capped(resp, MAX_LIST_BYTES, what=f"{field} page", deadline=deadline),
                                   what=f"{field} page")
                link = resp.headers.get("link", "")
            values = doc.get(field) if isinstance(doc, dict) else None
            if values is None:
                values = []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise RegistryError(f"{self.name}: '{field}' is not a list of strings")
            items.extend(values)
            if len(items) > MAX_LIST_ITEMS:
                raise LimitExceeded(f"{field} listed", len(items), f"at most {MAX_LIST_ITEMS}")
            url = self._next_page(url, link)
        raise LimitExceeded(f"{field} pages", MAX_LIST_PAGES)

    def _next_page(self, current: str, link: str) -> str | None:
        """RFC 5988 `Link: </v2/...?last=x>; rel="next"`, only to this registry's own host."""
        if 'rel="next"' not in link or "<" not in link:
            return None
        target = urljoin(current, link[link.index("<") + 1:link.index(">")])
        if urlsplit(target).netloc != self.api_host:
            raise RegistryError(f"{self.name}: pagination link points at another host")
        return target

    def referrers(self, repository: str, digest: str) -> list[dict[str, Any]]:
        """OCI 1.1 referrers API; on 404 the `sha256-<hex>` fallback tag index; [] when neither exists.
        A registry with the API answers 200 for a repository it holds (an empty index when nothing refers
        to the digest), so a 404 means no API there: remembered per repository, later images of it go
        straight to the fallback tag."""
        index: Manifest | None = None
        if repository not in self._no_referrers_api:
            deadline = self._deadline()
            with self._open("GET", self._url(f"/v2/{repository}/referrers/{digest}"),
                            scope=self._scope(repository), headers={"Accept": OCI_INDEX}, deadline=deadline) as resp:
                if resp.status_code == 200:
                    index = Manifest.from_bytes(read_capped(resp, self.limits.max_manifest_bytes,
                                                            what="max_manifest_bytes", deadline=deadline), OCI_INDEX)
                elif resp.status_code == 404:
                    if len(self._no_referrers_api) < MAX_REMEMBERED_REPOSITORIES:
                        self._no_referrers_api.add(repository)
                else:
                    raise self._fail(resp, f"referrers of {digest[:19]}", deadline)
        if index is None:
            try:
                index = self.get_manifest(repository, digest.replace(":", "-", 1))
            except NotFound:
                return []
        return referrer_descriptors(index, self.limits.max_referrers)

    def close(self) -> None:
        with self._transports_lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()
