"""Files Signet ships with its code (schema migrations), installed as package data.

Read them with `core.data_files.shipped(...)` (importlib.resources), never by a path relative to the
repository: an installed wheel has no repository around it.
"""
