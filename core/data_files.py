"""The files Signet ships in its `data` package, read through importlib.resources.

Works the same in a checkout, an editable install and an installed wheel (no repository paths).
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

DATA_PACKAGE = "data"


def shipped(*parts: str) -> Traversable:
    """A shipped file or folder, e.g. shipped("schema")."""
    return files(DATA_PACKAGE).joinpath(*parts)
