"""Editing the configuration file in place (plan a diff, apply it, audit it).

Above `core.config` (which only reads the file) and `core.context` (the audit it writes through):
the context reads the configuration, so the editor that audits cannot live inside `core.config`.
"""
