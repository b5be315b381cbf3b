"""Registry credentials and the token dance.

Credential sources, per registry host (config `[[registries]] auth` decides; hosts without config use
ECR for `*.dkr.ecr.*.amazonaws.com` and the docker config otherwise):
- `anonymous`: none.
- `basic`: `username` from the config, password from the environment variable `password_env`.
- `docker`: `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`): `credHelpers[host]`, then
  `credsStore`, run as `docker-credential-<helper> get` with the host on stdin (timeout, capped
  output) like the docker CLI; else `auths[host].auth` (base64 user:password).
- `ecr`: boto3 `ecr.get_authorization_token` (default credential chain; `AWS_ENDPOINT_URL` honoured).

Challenges (`WWW-Authenticate`): `Basic` sends the credentials; `Bearer realm=…,service=…,scope=…`
fetches a token from the realm (with the credentials as basic auth if we have any) and caches it per
scope until `expires_in` (default 60 s) runs out.

Realm decision: the realm may be on another host than the registry (Docker Hub's auth.docker.io,
Harbor, Quay) — that is how the protocol works, and the credentials we send there are the ones for
the registry that named the realm, so a registry can only send its own credentials elsewhere. What
we do require: the realm is `https`, unless its host is loopback or plain HTTP was allowed explicitly
for the registry (insecure in the config, or `--allow-http-registry`; a registry on loopback does not
by itself allow a plain-HTTP realm elsewhere, as our credentials would cross the network in clear);
no user-info in the realm URL; the
token answer is size-capped and its redirects are not followed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

from core.config.model import Config, RegistryConfig
from core.errors import AwsError, ConfigError, RegistryError
from core.registry.deadline import deadline_transport
from core.registry.transport import read_capped

MAX_DOCKER_CONFIG_BYTES = 1024 * 1024
MAX_HELPER_OUTPUT = 64 * 1024
MAX_TOKEN_RESPONSE = 256 * 1024
HELPER_TIMEOUT_S = 10.0
DEFAULT_TOKEN_TTL_S = 60.0
ECR_HOST = re.compile(r"^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io",
                   "https://registry-1.docker.io")
_HELPER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def basic_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return name in ("localhost", "[::1]") or bool(re.match(r"^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$", name))


def credentials_loader(config: Config, host: str) -> Callable[[], Credentials | None]:
    """A function that finds this host's credentials when first needed (helpers/ECR run only on a 401)."""
    reg = config.registry_for(host)
    mode = reg.auth if reg else ("ecr" if ECR_HOST.match(host) else "docker")
    if mode == "anonymous":
        return lambda: None
    if mode == "basic":
        return lambda: _basic_from_config(reg)
    if mode == "ecr":
        return lambda: ecr_credentials(host, config)
    return lambda: docker_credentials(host)


def _basic_from_config(reg: RegistryConfig | None) -> Credentials:
    if reg is None or not reg.username or not reg.password_env:
        raise ConfigError("basic auth needs 'username' and 'password_env'", field="registries.auth")
    password = os.environ.get(reg.password_env)
    if password is None:
        raise ConfigError(f"environment variable {reg.password_env} (password for {reg.name}) is not set",
                          field="registries.password_env")
    return Credentials(reg.username, password)


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def docker_credentials(host: str) -> Credentials | None:
    """Credentials for `host` from the docker CLI's config, as the docker CLI would find them."""
    path = docker_config_path()
    try:
        if not path.is_file():
            return None
        if path.stat().st_size > MAX_DOCKER_CONFIG_BYTES:
            raise ConfigError(f"larger than {MAX_DOCKER_CONFIG_BYTES} bytes", path=str(path))
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from None
    except (ValueError, RecursionError):  # RecursionError: [[[[... nesting
        raise ConfigError("not valid JSON", path=str(path)) from None
    if not isinstance(doc, dict):
        raise ConfigError("not a JSON object", path=str(path))
    keys = _lookup_keys(host)
    helpers = doc.get("credHelpers") or {}
    helper = next((helpers[k] for k in keys if isinstance(helpers, dict) and isinstance(helpers.get(k), str)), None)
    if helper is None and isinstance(doc.get("credsStore"), str) and doc["credsStore"]:
        helper = doc["credsStore"]
    if helper:
        found = run_credential_helper(helper, keys[0] if host != "docker.io" else DOCKER_HUB_KEYS[0])
        if found is not None:
            return found
    auths = doc.get("auths") or {}
    for key in keys:
        entry = auths.get(key) if isinstance(auths, dict) else None
        if isinstance(entry, dict):
            return _from_auth_entry(entry, str(path), key)
    return None


def _lookup_keys(host: str) -> list[str]:
    if host == "docker.io":
        return list(DOCKER_HUB_KEYS)
    return [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]


def _from_auth_entry(entry: dict[str, Any], path: str, key: str) -> Credentials | None:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            user, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ConfigError(f"auths[{key}].auth is not base64 of user:password", path=path) from None
        if not sep:
            raise ConfigError(f"auths[{key}].auth is not base64 of user:password", path=path)
        return Credentials(user, password)
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return Credentials(entry["username"], entry["password"])
    return None


def run_credential_helper(helper: str, server: str) -> Credentials | None:
    """`docker-credential-<helper> get`: host on stdin, JSON {Username, Secret} on stdout."""
    if not _HELPER_NAME.match(helper):
        raise ConfigError(f"credential helper name '{helper[:80]}' is not valid", path=str(docker_config_path()))
    exe = shutil.which(f"docker-credential-{helper}")
    if exe is None:
        raise RegistryError(f"credential helper docker-credential-{helper} is not installed")
    try:
        proc = subprocess.run([exe, "get"], input=server.encode(), capture_output=True, timeout=HELPER_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        raise RegistryError(f"credential helper docker-credential-{helper} did not answer within "
                            f"{HELPER_TIMEOUT_S:.0f}s") from None
    except OSError as exc:
        raise RegistryError(f"credential helper docker-credential-{helper} failed: {exc.strerror}") from None
    if proc.returncode != 0:
        if b"credentials not found" in proc.stdout.lower() + proc.stderr.lower():
            return None
        raise RegistryError(f"credential helper docker-credential-{helper} exited with {proc.returncode}")
    if len(proc.stdout) > MAX_HELPER_OUTPUT:
        raise RegistryError(f"credential helper docker-credential-{helper} printed too much")
    try:
        doc = json.loads(proc.stdout)
        return Credentials(str(doc["Username"]), str(doc["Secret"]))
    except (ValueError, KeyError, TypeError):
        raise RegistryError(f"credential helper docker-credential-{helper} printed no Username/Secret JSON") from None


def ecr_credentials(host: str, config: Config) -> Credentials:
    """ECR's short-lived basic credentials for the account and region named by the host."""
    # boto3/botocore load only when an ECR registry is used: they cost every other command start-up
    from botocore.exceptions import BotoCoreError, ClientError

    from core.aws.client import aws_client

    match = ECR_HOST.match(host)
    if not match:
        raise ConfigError(f"'{host}' is not an ECR registry host (<account>.dkr.ecr.<region>.amazonaws.com)",
                          field="registries.auth")
    account, region = match.groups()
    try:
        answer = aws_client("ecr", config.limits, region=region).get_authorization_token(registryIds=[account])
        token = answer["authorizationData"][0]["authorizationToken"]
        user, sep, password = base64.b64decode(token).decode().partition(":")
    except (BotoCoreError, ClientError) as exc:
        raise AwsError(f"ECR authorization token for {host}: {exc}") from None
    except (KeyError, IndexError, ValueError, binascii.Error):
        raise AwsError(f"ECR returned no usable authorization token for {host}") from None
    if not sep:
        raise AwsError(f"ECR returned no usable authorization token for {host}")
    return Credentials(user, password)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…"` -> ("bearer", {...}). Unknown schemes come back as they are."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


class RegistryAuth:
    """Authorization headers for one registry: learns the scheme from the first 401, caches tokens."""

    def __init__(self, host: str, loader: Callable[[], Credentials | None], *, http_allowed: bool,
                 timeout: httpx.Timeout, verify: Any) -> None:
        self.host = host
        self._loader = loader
        self._credentials: Credentials | None = None
        self._loaded = False
        self._http_allowed = http_allowed
        self._timeout, self._verify = timeout, verify
        self._scheme = ""
        self._tokens: dict[str, tuple[float, str]] = {}
        self._challenge: dict[str, str] = {}
        self._lock = threading.Lock()

    def header(self, scope: str) -> str | None:
        """The Authorization value for a request needing `scope`, if we know one."""
        if self._scheme == "basic":
            creds = self._creds()
            return creds.basic_header() if creds else None
        if self._scheme == "bearer":
            token = self._tokens.get(scope)
            if token and token[0] > time.monotonic():
                return f"Bearer {token[1]}"
        return None

    def on_challenge(self, header: str, scope: str) -> None:
        """Handle a 401: remember the scheme and fetch a token if it is Bearer. Raises RegistryError."""
        scheme, params = parse_challenge(header)
        with self._lock:
            if scheme == "basic":
                if self._creds() is None:
                    raise RegistryError(f"{self.host} requires a login and no credentials are configured")
                self._scheme = "basic"
                return
            if scheme != "bearer" or not params.get("realm"):
                raise RegistryError(f"{self.host} sent an unsupported authentication challenge")
            self._scheme = "bearer"
            self._challenge = params
            self._tokens[scope] = self._fetch_token(params, scope)

    def _creds(self) -> Credentials | None:
        if not self._loaded:
            self._credentials = self._loader()
            self._loaded = True
        return self._credentials

    def _fetch_token(self, params: dict[str, str], scope: str) -> tuple[float, str]:
        realm = params["realm"]
        parts = urlsplit(realm)
        realm_host = parts.netloc
        if parts.username or parts.password or not realm_host:
            raise RegistryError(f"{self.host}: token realm '{realm[:120]}' is not an acceptable URL")
        if parts.scheme != "https" and not (parts.scheme == "http" and (is_loopback(realm_host) or self._http_allowed)):
            raise RegistryError(f"{self.host}: token realm must use https (got '{realm[:120]}')")
        query: dict[str, str] = {}
        if params.get("service"):
            query["service"] = params["service"]
        query["scope"] = scope
        creds = self._creds()
        headers = {"Authorization": creds.basic_header()} if creds else {}
        try:
            # The deadline transport: the registry operation's deadline also ends a token request
            # whose realm drips its answer (the per-read timeouts alone would not).
            with httpx.Client(timeout=self._timeout, follow_redirects=False, trust_env=False,
                              transport=deadline_transport(verify=self._verify, limits=httpx.Limits())) as client:
                with client.stream("GET", realm, params=query, headers=headers) as resp:
                    body = read_capped(resp, MAX_TOKEN_RESPONSE, what="token answer")
        except httpx.HTTPError as exc:
            raise RegistryError(f"{self.host}: token request to {realm_host} failed: {type(exc).__name__}") from None
        if resp.status_code in (401, 403):
            raise RegistryError(f"{self.host}: token service refused the credentials (HTTP {resp.status_code})")
        if resp.status_code != 200:
            raise RegistryError(f"{self.host}: token service answered HTTP {resp.status_code}")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
            ttl = float(doc.get("expires_in") or DEFAULT_TOKEN_TTL_S)
        except (ValueError, AttributeError, TypeError, RecursionError):  # RecursionError: [[[[... nesting
            raise RegistryError(f"{self.host}: token service sent no token") from None
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_RESPONSE:
            raise RegistryError(f"{self.host}: token service sent no token")
        # renew a little early so a request never leaves with a token about to expire
        return time.monotonic() + max(1.0, min(ttl, 3600.0) - 5.0), token
