"""A total deadline for every socket operation of an HTTP exchange, headers included.

httpx's timeouts apply to each read: a server that sends its status line and headers one byte
just before each read timeout keeps a request alive for as long as it likes, and no code of ours
runs until the headers are complete. The network backend here caps the timeout of every connect,
read and write by the deadline of the registry operation running on this thread
(`deadline_for_thread`), so an exchange ends by that deadline whatever the server does.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

import httpcore
import httpx

_current = threading.local()


@contextmanager
def deadline_for_thread(deadline: float) -> Iterator[None]:
    """Every socket operation of a deadline transport on this thread ends by `deadline` (monotonic),
    or by an earlier deadline already set around it (an operation inside one image's verification)."""
    previous = getattr(_current, "deadline", None)
    _current.deadline = deadline if previous is None else min(previous, deadline)
    try:
        yield
    finally:
        _current.deadline = previous


def _bounded(timeout: float | None) -> float | None:
    deadline: float | None = getattr(_current, "deadline", None)
    if deadline is None:
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpcore.ReadTimeout("the operation's total deadline has passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, _bounded(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_tcp(host, port, _bounded(timeout), local_address,
                                                         socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._backend.connect_unix_socket(path, _bounded(timeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def deadline_transport(*, verify: Any, limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport whose socket operations honour `deadline_for_thread`."""
    transport = httpx.HTTPTransport(verify=verify, limits=limits, trust_env=False)
    # httpx has no option for the network backend; its httpcore pool takes one, read when it opens
    # each connection, so wrapping it before the first request covers every connection.
    transport._pool._network_backend = _DeadlineBackend(transport._pool._network_backend)
    return transport
