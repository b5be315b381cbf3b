"""The console's `/` filter language for History: `result:invalid source:demo key:ab12 since:24h text`.

Parsing lives here (not in a screen) so it is tested without Textual and the CLI could reuse it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from core.clock import iso, parse_iso
from core.config import parse_duration
from core.errors import ConfigError, InputError
from core.history.records import HistoryFilter

MAX_FILTER_CHARS = 500
_FIELDS = ("image", "result", "source", "key", "since", "until")
# `word:` made of letters only reads as a filter key; `sha256:…` or `registry.example/app:v1` are text
_KEY_LIKE = re.compile(r"^[A-Za-z][A-Za-z_-]*$")


def parse_history_filter(text: str, *, now: datetime) -> HistoryFilter:
    """Words `field:value` set that field; any other words form the image substring.

    `since`/`until` take a duration back from now (24h, 7d) or an ISO time. Raises InputError.
    """
    if len(text) > MAX_FILTER_CHARS:
        raise InputError(f"filter longer than {MAX_FILTER_CHARS} characters")
    values: dict[str, str] = {}
    loose: list[str] = []
    for word in text.split():
        name, sep, value = word.partition(":")
        if sep and name in _FIELDS and value:
            if name in ("since", "until"):
                value = _time_bound(value, now=now, field=name)
            values[name] = value
        elif sep and _KEY_LIKE.match(name) and name not in _FIELDS:
            raise InputError(f"unknown filter key '{name[:40]}' (keys: {', '.join(_FIELDS)}); to search for "
                             f"text with a colon write image:{word[:80]}")
        else:
            loose.append(word)
    if loose:
        values["image"] = " ".join(loose) if "image" not in values else values["image"]
    filt = HistoryFilter(**values)
    filt.validate()
    return filt


def _time_bound(value: str, *, now: datetime, field: str) -> str:
    if value[0].isdigit() and value[-1] in "smhd" and "T" not in value:
        try:
            return iso(now - timedelta(seconds=parse_duration(value, field=field)))
        except ConfigError as exc:
            raise InputError(f"{field}: {exc.message}") from None
    try:
        return iso(parse_iso(value))
    except ValueError:
        raise InputError(f"{field}:{value} is neither a duration like 24h nor an ISO time") from None


def describe_filter(filt: HistoryFilter) -> str:
    """The filter back as text, for the view's title line."""
    return " ".join(f"{name}:{getattr(filt, name)}" for name in _FIELDS if getattr(filt, name))
