"""notation's OCI trust policy (`trustpolicy.oci.json`, before notation 1.2 `trustpolicy.json`), version 1.0,
read and validated as notation-go does: a policy it would reject is rejected here, with one error naming the
file and the field, before anything is verified (a rejected policy verifies nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from core.errors import ConfigError
from core.files import read_limited_file
from core.notation.aws_signer import SignerArn, parse_signer_arn
from core.strict_json import loads_strict

POLICY_FILES = ("trustpolicy.oci.json", "trustpolicy.json")
MAX_POLICY_BYTES = 1024 * 1024
CHECKS = ("integrity", "authenticity", "authenticTimestamp", "expiry", "revocation")
ACTIONS = ("enforce", "log", "skip")
LEVELS: dict[str, dict[str, str]] = {
    "strict": dict.fromkeys(CHECKS, "enforce"),
    "permissive": {"integrity": "enforce", "authenticity": "enforce", "authenticTimestamp": "log",
                   "expiry": "log", "revocation": "log"},
    "audit": {"integrity": "enforce", "authenticity": "log", "authenticTimestamp": "log", "expiry": "log",
              "revocation": "log"},
    "skip": dict.fromkeys(CHECKS, "skip"),
}
_STORE_RE = re.compile(r"(ca|signingAuthority|tsa):([a-zA-Z0-9_.-]+)")
_SCOPE_RE = re.compile(r"[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9]+([._-][a-z0-9]+)*)*(:[0-9]+)?"
                       r"(/[a-z0-9]+([._-]|__|-+)?[a-z0-9]*)+")
IDENTITY_PREFIX = "x509.subject"
# notation accepts S as well as ST for the state.
_LABEL_ALIASES = {"S": "ST"}


@dataclass(frozen=True)
class DistinguishedName:
    attributes: tuple[tuple[str, str], ...]  # (label, value), sorted

    def __contains__(self, label: object) -> bool:
        return any(name == label for name, _ in self.attributes)

    def matches(self, subject: x509.Name) -> bool:
        """Every attribute named here has the same value in the certificate subject (a subset match)."""
        have = subject_dn(subject)
        return all(have.get(label) == value for label, value in self.attributes)

    def __str__(self) -> str:
        return ",".join(f"{label}={value}" for label, value in self.attributes)


@dataclass(frozen=True)
class TrustStatement:
    name: str
    scopes: tuple[str, ...]
    level: str
    actions: dict[str, str]               # check -> enforce | log | skip
    verify_timestamp: str                  # always | afterCertExpiry
    trust_stores: tuple[tuple[str, str], ...]   # (type, name)
    trusted_identities: tuple[DistinguishedName, ...]   # empty with wildcard
    wildcard_identity: bool
    signer_identities: tuple[SignerArn, ...] = ()        # AWS Signer signing-profile ARNs


@dataclass(frozen=True)
class TrustPolicy:
    path: str
    statements: tuple[TrustStatement, ...] = field(default_factory=tuple)

    def statement_for(self, scope: str) -> TrustStatement | None:
        """The statement naming `registry/repository` exactly, else the `*` one, else none."""
        exact = next((s for s in self.statements if scope in s.scopes), None)
        return exact or next((s for s in self.statements if "*" in s.scopes), None)


def find_policy_file(config_dir: Path) -> Path | None:
    return next((config_dir / name for name in POLICY_FILES if (config_dir / name).is_file()), None)


def load_trust_policy(path: Path) -> TrustPolicy:
    return parse_trust_policy(read_limited_file(path, MAX_POLICY_BYTES, what="notation trust policy"), str(path))


def parse_trust_policy(raw: bytes, path: str) -> TrustPolicy:
    doc = loads_strict(raw, what=f"{path}", error=ConfigError)
    if not isinstance(doc, dict):
        raise _error(path, "", "the document is not a JSON object")
    if doc.get("version") != "1.0":
        raise _error(path, "version", f"unsupported version {str(doc.get('version'))[:20]!r} (1.0 expected)")
    items = doc.get("trustPolicies")
    if not isinstance(items, list) or not items:
        raise _error(path, "trustPolicies", "at least one trust policy statement is required")
    statements = [_statement(path, i, item) for i, item in enumerate(items)]
    names = [s.name for s in statements]
    if len(set(names)) != len(names):
        raise _error(path, "trustPolicies", "statement names must be unique")
    seen: set[str] = set()
    for statement in statements:
        for scope in statement.scopes:
            if scope in seen:
                raise _error(path, f"trustPolicies[{statement.name}].registryScopes",
                             f"scope {scope!r} appears in more than one statement")
            seen.add(scope)
    return TrustPolicy(path=path, statements=tuple(statements))


def _statement(path: str, index: int, item: Any) -> TrustStatement:
    where = f"trustPolicies[{index}]"
    if not isinstance(item, dict):
        raise _error(path, where, "not an object")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _error(path, f"{where}.name", "a statement needs a name")
    where = f"trustPolicies[{name}]"
    scopes = _strings(path, f"{where}.registryScopes", item.get("registryScopes"))
    if not scopes:
        raise _error(path, f"{where}.registryScopes", "at least one registry scope is required")
    if "*" in scopes and len(scopes) > 1:
        raise _error(path, f"{where}.registryScopes", "'*' cannot be combined with other scopes")
    for scope in scopes:
        if scope != "*" and not _SCOPE_RE.fullmatch(scope):
            raise _error(path, f"{where}.registryScopes", f"{scope[:80]!r} is not a registry/repository scope")
    if len(set(scopes)) != len(scopes):
        raise _error(path, f"{where}.registryScopes", "a scope is listed twice")
    verification = item.get("signatureVerification")
    if not isinstance(verification, dict):
        raise _error(path, f"{where}.signatureVerification", "missing")
    level = verification.get("level")
    if level not in LEVELS:
        raise _error(path, f"{where}.signatureVerification.level", f"{str(level)[:30]!r} is not a valid level")
    actions = dict(LEVELS[level])
    override = verification.get("override", {})
    if not isinstance(override, dict):
        raise _error(path, f"{where}.signatureVerification.override", "not an object")
    if override and level == "skip":
        raise _error(path, f"{where}.signatureVerification.override", "cannot override level skip")
    for check, action in override.items():
        field_name = f"{where}.signatureVerification.override.{check}"
        if check not in CHECKS:
            raise _error(path, field_name, "unknown check")
        if action not in ACTIONS:
            raise _error(path, field_name, f"{str(action)[:20]!r} is not enforce, log or skip")
        if check == "integrity":
            raise _error(path, field_name, "integrity cannot be overridden")
        if action == "skip" and check != "revocation":
            raise _error(path, field_name, "only revocation may be skipped")
        actions[check] = action
    verify_timestamp = verification.get("verifyTimestamp", "always")
    if verify_timestamp not in ("always", "afterCertExpiry"):
        raise _error(path, f"{where}.signatureVerification.verifyTimestamp",
                     f"{str(verify_timestamp)[:30]!r} is not always or afterCertExpiry")
    store_names = _strings(path, f"{where}.trustStores", item.get("trustStores", []))
    identity_texts = _strings(path, f"{where}.trustedIdentities", item.get("trustedIdentities", []))
    if level == "skip":
        if store_names or identity_texts:
            raise _error(path, where, "a skip statement takes no trust stores or trusted identities")
        return TrustStatement(name, tuple(scopes), level, actions, verify_timestamp, (), (), False)
    if not store_names or not identity_texts:
        raise _error(path, where, "trustStores and trustedIdentities are both required")
    stores = []
    for text in store_names:
        match = _STORE_RE.fullmatch(text)
        if not match:
            raise _error(path, f"{where}.trustStores", f"{text[:80]!r} is not <ca|signingAuthority|tsa>:<name>")
        stores.append((match.group(1), match.group(2)))
    wildcard = "*" in identity_texts
    if wildcard and len(identity_texts) > 1:
        raise _error(path, f"{where}.trustedIdentities", "'*' cannot be combined with other identities")
    arns = [t for t in identity_texts if t.startswith("arn:")]
    signer_identities = []
    for text in arns:
        arn = parse_signer_arn(text)
        if arn is None:
            raise _error(path, f"{where}.trustedIdentities", f"{text[:120]!r} is not an AWS Signer signing-profile, "
                                                             "profile-version or alias ARN (wildcards are refused)")
        signer_identities.append(arn)
    subjects = [t for t in identity_texts if not t.startswith("arn:")]
    identities = () if wildcard else tuple(_identity(path, f"{where}.trustedIdentities", t) for t in subjects)
    _refuse_overlapping(path, f"{where}.trustedIdentities", identities)
    return TrustStatement(name, tuple(scopes), level, actions, verify_timestamp, tuple(stores), identities, wildcard,
                          tuple(signer_identities))


def _identity(path: str, where: str, text: str) -> DistinguishedName:
    prefix, sep, value = text.partition(":")
    if not sep:
        raise _error(path, where, f"{text[:80]!r} is missing the separator ':'")
    if prefix.strip() != IDENTITY_PREFIX:
        raise _error(path, where, f"unsupported identity type {prefix.strip()[:40]!r} (x509.subject expected)")
    try:
        name = parse_dn(value.strip())
    except ValueError as exc:
        raise _error(path, where, f"{value.strip()[:80]!r}: {exc}") from None
    missing = [label for label in ("C", "ST", "O") if label not in name]
    if missing:
        raise _error(path, where, f"{value.strip()[:80]!r} lacks {', '.join(missing)} (C, ST and O are required)")
    return name


def parse_dn(text: str) -> DistinguishedName:
    """An RFC 4514 DN as notation accepts it: single-valued RDNs, no attribute twice. Values are compared
    as strings (a policy may name a subject no CA would issue, such as C=USB: it simply never matches)."""
    attributes: dict[str, str] = {}
    for rdn in _split_unescaped(text, ","):
        if len(_split_unescaped(rdn, "+")) > 1:
            raise ValueError("multi-valued RDNs are not supported")
        label, sep, raw_value = rdn.partition("=")
        label = _LABEL_ALIASES.get(label.strip().upper(), label.strip().upper())
        if not sep or not label or not raw_value.strip():
            raise ValueError("not an RFC 4514 distinguished name")
        if label in attributes:
            raise ValueError(f"attribute {label} is repeated")
        attributes[label] = _unescape(raw_value.strip())
    if not attributes:
        raise ValueError("empty distinguished name")
    return DistinguishedName(tuple(sorted(attributes.items())))


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append("\\" + char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    if escaped:
        raise ValueError("dangling escape")
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    out, i = bytearray(), 0
    while i < len(value):
        if value[i] == "\\":
            pair = value[i + 1:i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out.extend(value[i + 1].encode())
            i += 2
            continue
        out.extend(value[i].encode())
        i += 1
    return out.decode("utf-8", errors="strict")


def _refuse_overlapping(path: str, where: str, identities: tuple[DistinguishedName, ...]) -> None:
    for i, one in enumerate(identities):
        for j, other in enumerate(identities):
            if i != j and set(one.attributes) <= set(other.attributes):
                raise _error(path, where, "one identity is a subset of another")


def subject_dn(subject: x509.Name) -> dict[str, str]:
    """A certificate subject by RFC 4514 labels (S folded into ST), for matching against policy DNs."""
    return {_LABEL_ALIASES.get(attr.rfc4514_attribute_name.upper(), attr.rfc4514_attribute_name.upper()):
            str(attr.value) for attr in subject}


def _strings(path: str, where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(path, where, "must be a list of strings")
    return list(value)


def _error(path: str, where: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {where + ': ' if where else ''}{message}")
