"""Where the CLI gets a key's passphrase: `--passphrase-file`, else `$SIGNET_PASSWORD` (may be empty),
else a hidden prompt on the terminal. Passphrases are never printed or logged.

Every hidden prompt goes through `ask_hidden`: a prompt nobody can answer (no terminal, stdin at its
end, e.g. `</dev/null` in CI) is a usage error (exit 2) naming the flag that supplies the secret,
rather than getpass's echo warning and click's "Aborted!" (exit 1).
"""

from __future__ import annotations

import os
import sys
from typing import Callable

import click

from core.errors import UsageError
from core.files import read_limited_file

MAX_PASSPHRASE_FILE = 4096
MAX_PROMPT_ANSWER = 4096


def ask_hidden(prompt: str, *, instead: str, confirm: bool = False, allow_empty: bool = False) -> str:
    """A hidden answer to `prompt` (asked again when empty, unless `allow_empty`); `instead` names the
    flag(s) that give it without a prompt."""
    no_answer = UsageError(f"{prompt}: nobody can answer this prompt here (no terminal, or input ended); "
                           f"give {instead}")
    if not _has_terminal():
        # Piped input: read it as getpass would, without its "may be echoed" warning (nothing is echoed).
        return _read_piped(prompt, no_answer, confirm=confirm, allow_empty=allow_empty)
    empty: dict = {"default": "", "show_default": False} if allow_empty else {}
    try:
        return click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True, **empty)
    except click.Abort:  # end of input (a ^C at the prompt too): nothing was given
        raise no_answer from None


def passphrase_provider(passphrase_file: str | None) -> Callable[[str], bytes]:
    """What key loaders call to get a passphrase for the key they name."""

    def provide(key_name: str) -> bytes:
        if passphrase_file:
            # A capped read, not stat-then-read: st_size is 0 for pipes and devices (/dev/zero).
            text = read_limited_file(passphrase_file, MAX_PASSPHRASE_FILE, what="passphrase file")
            return text[:-1] if text.endswith(b"\n") else text
        if "SIGNET_PASSWORD" in os.environ:
            return os.environ["SIGNET_PASSWORD"].encode()
        return ask_hidden(f"Passphrase for {key_name}", instead="--passphrase-file FILE (or SIGNET_PASSWORD)",
                          allow_empty=True).encode()

    return provide


def _has_terminal() -> bool:
    if sys.stdin.isatty():
        return True
    try:  # getpass asks on the controlling terminal even when stdin is redirected
        with open("/dev/tty", "rb") as tty:
            return tty.isatty()
    except OSError:
        return False


def _read_piped(prompt: str, no_answer: UsageError, *, confirm: bool, allow_empty: bool) -> str:
    """click.prompt's behaviour (ask again when empty or when the confirmation differs) over plain stdin."""
    while True:
        answers = [_read_line(text, no_answer, allow_empty)
                   for text in ((prompt, "Repeat for confirmation") if confirm else (prompt,))]
        if len(set(answers)) == 1:
            return answers[0]
        sys.stderr.write("Error: The two entered values do not match.\n")


def _read_line(prompt: str, no_answer: UsageError, allow_empty: bool) -> str:
    while True:
        sys.stderr.write(f"{prompt}: \n")
        line = sys.stdin.readline(MAX_PROMPT_ANSWER + 1)
        if not line:
            raise no_answer
        answer = line.rstrip("\r\n")
        if answer or allow_empty:
            return answer
