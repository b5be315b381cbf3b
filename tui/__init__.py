"""Signet's interfaces: the `signet` command line (tui.cli) and the Textual console (tui.app).

Importing this package imports nothing from Textual; only opening the console does.
"""
