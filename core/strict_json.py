"""JSON from outside (registries, signed payloads, Sigstore bundles and roots) parsed strictly.

Duplicate keys are refused: Go and Python would both silently keep the last one, which lets two parsers
(the signer's, a policy engine's, ours) disagree about what a document says. NaN/Infinity (not JSON)
and invalid UTF-8 are refused too.
"""

from __future__ import annotations

import json
from typing import Any

from core.errors import SignetError


class _DuplicateKey(ValueError):
    pass


def loads_strict(raw: bytes, *, what: str, error: type[SignetError]) -> Any:
    """Parse UTF-8 JSON; anything refused raises `error` with a one-line reason naming `what`."""
    try:
        text = raw.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except _DuplicateKey as exc:
        raise error(f"{what} has a duplicate JSON key {str(exc)[:60]!r}") from None
    except UnicodeDecodeError:
        raise error(f"{what} is not UTF-8") from None
    except (ValueError, RecursionError) as exc:
        raise error(f"{what} is not valid JSON: {str(exc)[:120]}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
