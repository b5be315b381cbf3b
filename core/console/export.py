"""Write the History view's current selection to a file (CSV or JSON), a page at a time."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Callable

from core.errors import InputError
from core.history.records import CSV_COLUMNS, HistoryFilter, csv_row, iter_history

EXPORT_FORMATS = ("csv", "json")
MAX_EXPORT_ROWS = 5_000_000


def export_history(store: Any, filt: HistoryFilter, path: str | os.PathLike[str], fmt: str, *,
                   cancelled: Callable[[], bool] = lambda: False) -> int:
    """Export matching rows newest first; returns how many. Writes to a temp file, then renames.

    `cancelled` is polled between rows so a console worker can stop early (nothing is left behind).
    """
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"export format must be one of {', '.join(EXPORT_FORMATS)}")
    target = Path(path).expanduser()
    if not str(path).strip() or target.is_dir():
        raise InputError(f"'{path}' is not a file path")
    if not target.parent.is_dir():
        raise InputError(f"directory {target.parent} does not exist")
    partial = target.with_name(target.name + ".partial")
    count = 0
    try:
        with open(partial, "w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out) if fmt == "csv" else None
            if writer:
                writer.writerow(CSV_COLUMNS)
            else:
                out.write("[")
            for row in iter_history(store, filt):
                if cancelled() or count >= MAX_EXPORT_ROWS:
                    break
                if writer:
                    writer.writerow(csv_row(row))
                else:
                    out.write(("," if count else "") + "\n" + json.dumps(row.as_dict(), default=str))
                count += 1
            if not writer:
                out.write("\n]\n")
        if cancelled():
            partial.unlink(missing_ok=True)
            return 0
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot write {target}: {exc.strerror}") from None
    return count
