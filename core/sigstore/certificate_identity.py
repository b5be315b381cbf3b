"""Who may have signed: the `--certificate-identity[-regexp]` / `--certificate-oidc-issuer[-regexp]`
policy, with cosign's semantics (cosign-formats.md §5.2).

Any configured identity may match; within one, the issuer must match AND any SAN must match.
Regular expressions follow cosign (Go `regexp.MatchString`): they are NOT anchored, so `example.com`
also matches `evil-example.com.attacker`; write `^…$`. We use Python `re.search`, which agrees with
RE2 for the anchored, backtracking-free patterns identities need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InputError

MAX_PATTERN = 1024


@dataclass(frozen=True)
class CertificateIdentity:
    identity: str = ""
    issuer: str = ""
    identity_regexp: str = ""
    issuer_regexp: str = ""

    def __post_init__(self) -> None:
        if bool(self.identity) == bool(self.identity_regexp):
            raise InputError("keyless verification needs exactly one of --certificate-identity or "
                             "--certificate-identity-regexp")
        if bool(self.issuer) == bool(self.issuer_regexp):
            raise InputError("keyless verification needs exactly one of --certificate-oidc-issuer or "
                             "--certificate-oidc-issuer-regexp")
        for pattern in (self.identity_regexp, self.issuer_regexp):
            if pattern:
                _compile(pattern)

    def matches(self, sans: tuple[str, ...], issuer: str) -> bool:
        if not _match(issuer, self.issuer, self.issuer_regexp):
            return False
        return any(_match(san, self.identity, self.identity_regexp) for san in sans)

    def describe(self) -> str:
        identity = self.identity or f"~{self.identity_regexp}"
        issuer = self.issuer or f"~{self.issuer_regexp}"
        return f"{identity} from {issuer}"


def _compile(pattern: str) -> re.Pattern[str]:
    if len(pattern) > MAX_PATTERN:
        raise InputError(f"identity regular expression longer than {MAX_PATTERN} characters")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InputError(f"invalid identity regular expression {pattern[:60]!r}: {exc}") from None


def _match(value: str, exact: str, pattern: str) -> bool:
    if exact:
        return value == exact
    return _compile(pattern).search(value) is not None
