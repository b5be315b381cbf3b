"""The only place the command line writes: data to stdout, one-line diagnostics to stderr."""

from __future__ import annotations

import csv
import json
import sys
from typing import Any, Iterable, Sequence

from core.text import safe_text


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


def emit_json_lines(values: Iterable[Any]) -> None:
    for value in values:
        sys.stdout.write(json.dumps(value, separators=(",", ":"), sort_keys=True, default=str) + "\n")


def emit_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])


def emit_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "") -> None:
    """A plain aligned table; outside text is made safe so it cannot carry terminal escapes."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title or None, show_lines=False, header_style="bold", box=None, pad_edge=False)
    for column in header:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(safe_text("" if v is None else str(v))) for v in row))
    Console(file=sys.stdout, soft_wrap=False, width=_width()).print(table)


def emit_line(text: str) -> None:
    sys.stdout.write(safe_text(text) + "\n")


def diagnostic(text: str) -> None:
    sys.stderr.write("signet: " + safe_text(text) + "\n")


def _width() -> int:
    import shutil

    return max(100, shutil.get_terminal_size((160, 40)).columns)
