"""Keyless (Sigstore) trust flags shared by the commands that verify: cosign's spelling.

`--certificate-identity[-regexp]` with `--certificate-oidc-issuer[-regexp]` (both required for keyless;
regexps are unanchored like cosign's — write ^…$), `--trusted-root FILE` (else `[trust] trusted_root`),
`--require-tlog` / `--insecure-ignore-tlog` (the log is required by default for keyless).
"""

from __future__ import annotations

from typing import Any, Callable

import click

from core.sigstore.trust import configured_identities, sigstore_trust, uses_sigstore

KEYLESS_FLAGS = ("certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer",
                 "certificate_oidc_issuer_regexp", "trusted_root", "require_tlog", "insecure_ignore_tlog")


def keyless_options(fn: Callable) -> Callable:
    options = [
        click.option("--certificate-identity", default="", metavar="SAN",
                     help="Keyless: the signer's identity (email, URI or username SAN), exactly."),
        click.option("--certificate-identity-regexp", default="", metavar="RE",
                     help="Keyless: the signer's identity as a regexp (not anchored, like cosign: use ^...$)."),
        click.option("--certificate-oidc-issuer", default="", metavar="URL", help="Keyless: the OIDC issuer, exactly."),
        click.option("--certificate-oidc-issuer-regexp", default="", metavar="RE",
                     help="Keyless: the OIDC issuer as a regexp (not anchored)."),
        click.option("--trusted-root", default=None, metavar="FILE",
                     help="Sigstore trusted_root.json (default: [trust] trusted_root)."),
        click.option("--require-tlog", is_flag=True,
                     help="Require a transparency-log entry for key-based signatures too."),
        click.option("--insecure-ignore-tlog", is_flag=True,
                     help="Do not look at transparency-log entries (keyless certificates must then be valid now)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def keyless_policy_args(config: Any, flags: dict[str, Any]) -> dict[str, Any]:
    """resolve_trust_policy() keyword arguments from the flags above."""
    return {"identities": configured_identities(config, identity=flags["certificate_identity"],
                                                identity_regexp=flags["certificate_identity_regexp"],
                                                issuer=flags["certificate_oidc_issuer"],
                                                issuer_regexp=flags["certificate_oidc_issuer_regexp"]),
            "trusted_root": flags["trusted_root"], "require_tlog": True if flags["require_tlog"] else None,
            "ignore_tlog": flags["insecure_ignore_tlog"]}


def check_keyless_policy(policy: Any) -> None:
    """Refuse an unusable keyless policy (no trusted root, keyless --threshold) before any image is
    looked at: a usage error (exit 2), not a per-image failure."""
    if uses_sigstore(policy):
        sigstore_trust(policy)
