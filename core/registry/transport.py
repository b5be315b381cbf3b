"""Bounded reading of HTTP answers: a byte cap that holds whatever Content-Length says, and a deadline."""

from __future__ import annotations

import time

import httpx

from core.errors import LimitExceeded, RegistryError


def read_capped(resp: httpx.Response, cap: int, *, what: str, deadline: float | None = None) -> bytes:
    """At most `cap` bytes of the body (raw, undecoded); LimitExceeded beyond, or past `deadline`."""
    if resp.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
        # we asked for identity; decompressing would make the cap meaningless (zip bombs)
        raise RegistryError(f"{what}: server sent a compressed answer ({resp.headers['content-encoding'][:40]})")
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise LimitExceeded(what, int(declared), f"cap is {cap} bytes")
    data = bytearray()
    # No chunk size: with one, httpx buffers until a whole chunk has arrived, so a server dripping
    # a byte at a time would never let the deadline below be checked.
    try:
        for chunk in resp.iter_raw():
            data += chunk
            if len(data) > cap:
                raise LimitExceeded(what, f"more than {cap} bytes", "body longer than the cap")
            if deadline is not None and time.monotonic() > deadline:
                raise LimitExceeded("total_timeout", f"{what} still downloading")
    except httpx.TimeoutException:
        raise RegistryError(f"{what}: timed out while reading the body") from None
    except httpx.HTTPError as exc:  # a body cut short, a broken connection: a failure, not a crash
        raise RegistryError(f"{what}: {type(exc).__name__}: {str(exc)[:200]}") from None
    return bytes(data)
