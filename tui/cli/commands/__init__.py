"""One module per command group; each exposes `command` (a click command or group)."""
