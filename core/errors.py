"""One error hierarchy for every interface.

Each class carries the exit code the command line uses, so the CLI never has to guess:
0 success, 1 a check failed, 2 bad usage / input / configuration, 3 an outside system failed.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_EXTERNAL = 3


class SignetError(Exception):
    """Base of every error Signet raises on purpose. The message is one clear line for people."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- exit 2: the caller gave us something wrong -------------------------------------------------


class UsageError(SignetError):
    """Bad arguments or input from a person or a file."""


class InputError(UsageError):
    """Malformed or unacceptable input (a file, a reference, a form field)."""


class FileTooLarge(InputError):
    """A file we were pointed at is larger than its cap (core/files.py read_limited_file)."""


class ConfigError(UsageError):
    """The configuration file is malformed; names the file, line and field when known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        where = ""
        if path:
            where = path + (f":{line}" if line else "")
        parts = [p for p in (where, f"field '{field}'" if field else "", message) if p]
        super().__init__(": ".join(parts))
        self.path, self.line, self.field = path, line, field


class NotFound(UsageError):
    """A named thing (key, bypass, image, registry) does not exist."""


class PermissionDenied(UsageError):
    """The current identity lacks the role an action needs."""


class ReadOnlyMode(PermissionDenied):
    """Read-only mode refuses every state-changing action."""


class InvalidState(UsageError):
    """A workflow step is not allowed from the current state (e.g. approving a denied bypass)."""


class WrongPassphrase(InputError):
    """A passphrase did not decrypt the key or backup."""


class SchemaTooNew(UsageError):
    """The database was written by a newer Signet; we refuse rather than corrupt it."""


# --- exit 1: a check ran and said no ------------------------------------------------------------


class CheckFailed(SignetError):
    exit_code = EXIT_CHECK_FAILED


class AuditChainBroken(CheckFailed):
    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(f"audit chain broken at sequence {seq}: {reason}")
        self.seq = seq
        self.reason = reason


# --- exit 3: something outside failed -----------------------------------------------------------


class ExternalError(SignetError):
    exit_code = EXIT_EXTERNAL


class RegistryError(ExternalError):
    """The registry failed, refused, or sent something we cannot accept."""


class LimitExceeded(RegistryError):
    """A size, count or time limit tripped while reading from outside. Names the limit."""

    def __init__(self, limit: str, value: object, detail: str = "") -> None:
        msg = f"limit exceeded: {limit} ({value})"
        super().__init__(msg + (f": {detail}" if detail else ""))
        self.limit = limit
        self.value = value


class DigestMismatch(RegistryError):
    """Bytes received do not hash to the digest that named them."""


class ClusterError(ExternalError):
    pass


class ClusterRefused(ClusterError):
    """The cluster's API answered with an error status (403 Forbidden, 404 for a kind it does not serve)."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class AwsError(ExternalError):
    pass


class StoreError(ExternalError):
    """The local database could not be used (locked too long, corrupt, unwritable)."""
