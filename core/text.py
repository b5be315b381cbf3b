"""Outside text (registry names, tags, justifications) is data: strip what a terminal would act on."""

from __future__ import annotations

import re

# C0/C1 control characters except tab and newline, and DEL. ESC is among them, so no escape
# sequence survives; bidi overrides are removed too, as they can disguise what is shown.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe_text(value: str, *, max_len: int | None = None) -> str:
    cleaned = _CONTROL.sub("\ufffd", value)
    if max_len is not None and len(cleaned) > max_len:
        cleaned = cleaned[: max_len - 1] + "\u2026"
    return cleaned


def has_control_chars(value: str) -> bool:
    return bool(_CONTROL.search(value))
