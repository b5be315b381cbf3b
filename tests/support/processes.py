"""Start real servers on loopback for tests and wait until they answer (polling with a deadline)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, *, timeout: float = 20.0, ok=(200, 401)) -> None:
    """Poll until the server answers; this is readiness polling, not a sleep standing in for sync."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code in ok:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up within {timeout}s: {last}")


class RegistryProcess:
    """Debian's docker-registry (distribution v2) on a free 127.0.0.1 port with its own storage."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.storage = workdir / "storage"
        self.storage.mkdir(parents=True)
        self.config = workdir / "config.yml"
        self.config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            "storage:\n  cache:\n    blobdescriptor: inmemory\n"
            f"  filesystem:\n    rootdirectory: {self.storage}\n  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n")
        self.log = open(workdir / "registry.log", "wb")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.config)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_http(f"http://127.0.0.1:{self.port}/v2/")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
