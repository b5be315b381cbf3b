"""A read-only copy of the benchmark's signed images served as static files by nginx.

docker-registry 2.8 spends about 5.5 ms of CPU per verified image (1.4 ms per manifest, 3.5 ms per
blob: it allocates a 4 MiB read buffer for every blob), which on a shared 2-core machine caps a cold
run below 300 images/s whatever the client does. Production registries (and the CDNs in front of
them) serve these reads as static content; nginx serving the same bytes at the same distribution v2
paths measures Signet without that ceiling. Everything Signet reads is the registry's own bytes,
fetched once through the v2 API; nothing is synthesised. Needs Debian's nginx (`apt-get install
nginx-light`); the default benchmark does not.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx

from core.registry.manifest import ACCEPT_MANIFESTS, sha256_digest
from tests.support.processes import RegistryProcess, free_port, wait_http

NGINX_CONF = """daemon off;
worker_processes 1;
user root;
pid {root}/nginx.pid;
error_log stderr error;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen 127.0.0.1:{port};
        root {root}/files;
        location ~ /manifests/ {{ default_type application/vnd.oci.image.manifest.v1+json; }}
        location / {{ default_type application/octet-stream; }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")  # sbin is not on every PATH


@contextmanager
def static_mirror(registry: RegistryProcess, repository: str, tags: list[str],
                  work: Path) -> Iterator[tuple[str, int]]:
    """Copy `tags` of `repository` (each image's manifest, its `.sig` manifest and the signature payloads)
    out of `registry` through its v2 API, serve them with nginx on loopback; yields (host, nginx's pid)."""
    nginx = nginx_binary()
    if nginx is None:
        raise SystemExit("the static registry needs Debian's nginx: apt-get install nginx-light")
    root = work / "static-registry"
    base = root / "files" / "v2" / repository
    (base / "manifests").mkdir(parents=True)
    (base / "blobs").mkdir()
    (root / "tmp").mkdir()
    with httpx.Client(base_url=registry.url, timeout=30) as client:
        def fetch(path: str) -> bytes:
            response = client.get(f"/v2/{repository}/{path}", headers={"Accept": ACCEPT_MANIFESTS})
            response.raise_for_status()
            return response.content

        for tag in tags:
            manifest = fetch(f"manifests/{tag}")
            (base / "manifests" / tag).write_bytes(manifest)
            digest = sha256_digest(manifest)
            sig_tag = digest.replace(":", "-") + ".sig"
            signature = fetch(f"manifests/{sig_tag}")
            (base / "manifests" / sig_tag).write_bytes(signature)
            for layer in json.loads(signature)["layers"]:
                (base / "blobs" / layer["digest"]).write_bytes(fetch(f"blobs/{layer['digest']}"))
    port = free_port()
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=port))
    proc = subprocess.Popen([nginx, "-c", str(root / "nginx.conf"), "-p", str(root)], stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/v2/{repository}/manifests/{tags[0]}", ok=(200,))
        yield f"127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)
