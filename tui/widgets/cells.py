"""Table cells: outside text always as rich Text (never markup), results as coloured badges."""

from __future__ import annotations

from rich.text import Text

from core.text import safe_text

RESULT_STYLES = {
    "verified": "bold green",
    "bypassed": "bold yellow",
    "unsigned": "bold magenta",
    "invalid": "bold red",
    "error": "bold red",
    "unknown": "dim",
    "unreachable": "bold red",
}
MAX_CELL_CHARS = 200


def cell(value: object, *, max_len: int = MAX_CELL_CHARS, style: str = "") -> Text:
    return Text(safe_text("" if value is None else str(value), max_len=max_len), style=style)


def badge(result: str | None) -> Text:
    result = result or "unknown"
    return Text(safe_text(result, max_len=20), style=RESULT_STYLES.get(result, "bold"))


def short_digest(digest: str | None, length: int = 19) -> Text:
    return cell((digest or "")[:length], style="dim")


def short_reference(reference: str) -> str:
    """`oci:/long/dir/registry/app:tag` shows as `app:tag`; registry references stay whole."""
    if reference.startswith("oci:"):
        return reference.rsplit("/", 1)[-1]
    return reference
