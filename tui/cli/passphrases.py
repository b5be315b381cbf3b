"""Where the CLI gets a key's passphrase: `--passphrase-file`, else `$SIGNET_PASSWORD` (may be empty),
else a hidden prompt on the terminal. Passphrases are never printed or logged."""

from __future__ import annotations

import os
from typing import Callable

import click

from core.keys.local_store import read_limited_file

MAX_PASSPHRASE_FILE = 4096


def passphrase_provider(passphrase_file: str | None) -> Callable[[str], bytes]:
    """What key loaders call to get a passphrase for the key they name."""

    def provide(key_name: str) -> bytes:
        if passphrase_file:
            # A capped read, not stat-then-read: st_size is 0 for pipes and devices (/dev/zero).
            text = read_limited_file(passphrase_file, MAX_PASSPHRASE_FILE, what="passphrase file")
            return text[:-1] if text.endswith(b"\n") else text
        if "SIGNET_PASSWORD" in os.environ:
            return os.environ["SIGNET_PASSWORD"].encode()
        return click.prompt(f"Passphrase for {key_name}", hide_input=True, default="", show_default=False,
                            err=True).encode()

    return provide
