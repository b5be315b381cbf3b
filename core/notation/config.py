"""Where notation's trust policy and trust store live, and loading them once per verification run.

The default is notation's own configuration directory, resolved as the notation CLI does (Go's
os.UserConfigDir + "notation": $XDG_CONFIG_HOME or ~/.config on Linux, ~/Library/Application Support on
macOS, %AppData% on Windows), so `notation policy import` and `notation cert add` are what Signet reads.
`--notation-config DIR` and `[trust] notation_config` override it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from core.errors import ConfigError, InputError
from core.notation.trust_policy import TrustPolicy, find_policy_file, load_trust_policy
from core.notation.trust_store import MAX_CERT_FILE_BYTES, MAX_FILES_PER_STORE, TrustStore

_SCOPE = re.compile(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._/-]+)+")
MAX_STORE_FILES = 10 * MAX_FILES_PER_STORE


@dataclass(frozen=True)
class NotationTrust:
    config_dir: Path
    policy: TrustPolicy
    store: TrustStore
    fingerprint: str          # changes whenever the policy or a trust store file changes (verdict cache key)
    scope: str | None = None  # the registry scope for OCI layouts (notation's --scope with --oci-layout)
    signer_revocation: bool = False  # AWS Signer signatures: ask signer:GetRevocationStatus (else unknown)


def config_directory(config_dir: str | None) -> Path:
    """The directory named (`--notation-config`, `[trust] notation_config`), else notation's default, as
    the notation CLI resolves it."""
    if config_dir:
        return Path(config_dir).expanduser()
    return platformdirs.user_config_path("notation", appauthor=False, roaming=True)


def load_notation_trust(config_dir: str | None, *, scope: str | None = None,
                        signer_revocation: bool = False) -> NotationTrust | None:
    """The trust policy and store in `config_dir` (else notation's default directory). None when no
    directory was named and notation's default holds no trust policy; a named directory without one is an
    error, as is a policy notation would reject."""
    directory = config_directory(config_dir)
    if scope is not None and not _SCOPE.fullmatch(scope):
        raise InputError(f"--notation-scope {scope[:80]!r} is not REGISTRY/REPOSITORY")
    policy_file = find_policy_file(directory)
    if policy_file is None:
        if config_dir:
            raise ConfigError(f"{directory}: no trustpolicy.oci.json or trustpolicy.json (notation's trust policy)")
        return None
    return load_notation_policy_file(policy_file, directory, signer_revocation=signer_revocation, scope=scope)


def load_notation_policy_file(policy_file: Path, config_dir: Path, *, scope: str | None = None,
                              signer_revocation: bool = False) -> NotationTrust:
    """A trust policy file read on its own, with the trust store of `config_dir` (`config_dir/truststore`):
    a candidate policy checked against the certificates already trusted. Rejected as `load_notation_trust`
    rejects it (ConfigError naming the file and field)."""
    policy = load_trust_policy(policy_file)
    store_root = config_dir / "truststore"
    return NotationTrust(config_dir, policy, TrustStore(store_root), _fingerprint(policy_file, store_root), scope,
                         signer_revocation)


def _fingerprint(policy_file: Path, store_root: Path) -> str:
    digest = hashlib.sha256(policy_file.read_bytes())
    files = sorted(p for p in (store_root / "x509").glob("*/*/*") if p.is_file()) if store_root.is_dir() else []
    if len(files) > MAX_STORE_FILES:
        raise ConfigError(f"{store_root}: more than {MAX_STORE_FILES} trust store files")
    for path in files:
        digest.update(str(path.relative_to(store_root)).encode() + b"\0")
        with open(path, "rb") as handle:
            digest.update(hashlib.sha256(handle.read(MAX_CERT_FILE_BYTES + 1)).digest())
    return digest.hexdigest()
