"""Trust flags shared by the commands that verify (verify, verify-attestation, cluster sweep, lambda).

`trust_options`: `--key KEY` (repeatable; PEM file or key-store id/name/fingerprint prefix, default
`[trust] keys`), `--threshold N`, `--allow-http-registry`, and the keyless flags below.
`trust_args_from_flags` maps them to a TrustArgs (the configuration is applied by core's `policy_for`,
as for the console); `verdict_exit_code` is how such commands exit.

Keyless (Sigstore) flags, cosign's spelling:
`--certificate-identity[-regexp]` with `--certificate-oidc-issuer[-regexp]` (both required for keyless;
regexps are unanchored like cosign's — write ^…$), `--trusted-root FILE` (else `[trust] trusted_root`),
`--require-tlog` / `--insecure-ignore-tlog` (the log is required by default for keyless).

Notary Project (notation, AWS Signer): `--notation-config DIR` (notation's trust policy and trust store;
else `[trust] notation_config`, else notation's own config directory), `--notation-scope REGISTRY/REPO`
(the registry scope an `oci:` layout is matched against, as notation's `--scope`).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import click

from core.context import SignetContext
from core.errors import EXIT_CHECK_FAILED, EXIT_EXTERNAL
from core.sigstore.certificate_identity import CertificateIdentity
from core.trustroot.tuf_update import root_age_warning
from core.verify.policy import TrustArgs
from core.verify.verifier import Verifier
from tui.cli.output import diagnostic

IDENTITY_FLAGS = ("certificate_identity", "certificate_identity_regexp", "certificate_oidc_issuer",
                  "certificate_oidc_issuer_regexp")


# One definition for every command that talks to registries (the flag's meaning must not drift).
allow_http_option = click.option("--allow-http-registry", is_flag=True,
                                 help="Allow plain HTTP to registries not on loopback.")


def stacked(*options: Callable) -> Callable[[Callable], Callable]:
    """One decorator applying click options in the order listed, as if written one above the other."""
    def apply(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func

    return apply


# --key, --threshold, --allow-http-registry and the keyless flags: what every verifying command takes.
trust_options = stacked(
    click.option("--key", "keys", multiple=True, metavar="KEY",
                 help="Trusted public key: a PEM file or a key-store id/name/fingerprint prefix (repeatable; "
                      "default: [trust] keys from the config)."),
    click.option("--threshold", default=None, type=click.IntRange(1, 100),
                 help="Distinct trusted signers (keys or keyless identities) that must have signed "
                      "(default: [trust] threshold, else 1)."),
    allow_http_option,
    click.option("--certificate-identity", default="", metavar="SAN",
                 help="Keyless: the signer's identity (email, URI or username SAN), exactly."),
    click.option("--certificate-identity-regexp", default="", metavar="RE",
                 help="Keyless: the signer's identity as a regexp (not anchored, like cosign: use ^...$)."),
    click.option("--certificate-oidc-issuer", default="", metavar="URL", help="Keyless: the OIDC issuer, exactly."),
    click.option("--certificate-oidc-issuer-regexp", default="", metavar="RE",
                 help="Keyless: the OIDC issuer as a regexp (not anchored)."),
    click.option("--trusted-root", default=None, metavar="FILE",
                 help="Sigstore trusted_root.json (default: [trust] trusted_root)."),
    click.option("--require-tlog", is_flag=True, help="Require a transparency-log entry for key-based signatures too."),
    click.option("--insecure-ignore-tlog", is_flag=True,
                 help="Do not look at transparency-log entries (keyless certificates must then be valid now)."),
    click.option("--notation-config", default=None, metavar="DIR",
                 help="notation's config directory: trustpolicy.oci.json/trustpolicy.json and truststore/ "
                      "(default: [trust] notation_config, else notation's own)."),
    click.option("--notation-scope", default=None, metavar="REGISTRY/REPO",
                 help="For an oci: layout, the registry scope notation's trust policy is matched against."),
)


def trust_args_from_flags(flags: dict[str, Any], **args: Any) -> TrustArgs:
    """The TrustArgs of `trust_options` (popped from `flags`; --allow-http-registry is left to the
    caller) plus any other TrustArgs fields a command has (annotations, payload types, ...)."""
    given = {name: flags.pop(name) for name in IDENTITY_FLAGS}
    identities: tuple[CertificateIdentity, ...] = ()
    if any(given.values()):  # half-given (no issuer) is refused by CertificateIdentity itself
        identities = (CertificateIdentity(identity=given["certificate_identity"],
                                          identity_regexp=given["certificate_identity_regexp"],
                                          issuer=given["certificate_oidc_issuer"],
                                          issuer_regexp=given["certificate_oidc_issuer_regexp"]),)
    return TrustArgs(keys=flags.pop("keys"), threshold=flags.pop("threshold"), identities=identities,
                     trusted_root=flags.pop("trusted_root"), require_tlog=flags.pop("require_tlog"),
                     ignore_tlog=flags.pop("insecure_ignore_tlog"), notation_config=flags.pop("notation_config"),
                     notation_scope=flags.pop("notation_scope"), **args)


def diagnose_errors(results: Iterable[Any]) -> None:
    """One stderr line per image that could not be checked at all (`error`): why it exits 3 is then
    on stderr too, not only in the table or JSON on stdout."""
    for r in results:
        if r.result == "error":
            diagnostic(f"{r.reference}: {r.reason}")


def verifier_from_flags(sc: SignetContext, flags: dict[str, Any], **args: Any) -> Verifier:
    """The Verifier for a command's trust flags (`trust_args_from_flags`); warns on stderr when the
    Sigstore trusted root it uses was last refreshed longer ago than `[trust] max_root_age`."""
    verifier = Verifier.for_args(sc, trust_args_from_flags(flags, **args))
    if verifier.policy.trusted_root:
        warning = root_age_warning(verifier.policy.trusted_root, sc.config.trust.max_root_age_seconds, sc.clock())
        if warning:
            diagnostic(f"warning: {warning}")
    return verifier


def verdict_exit_code(verdicts: Iterable[str]) -> int:
    """0 when every image is verified; 1 when any is unsigned or invalid; else 3: some check could not
    be made at all (registry unreachable, refused, limits), an outside failure, not a verdict."""
    verdicts = list(verdicts)
    if all(v == "verified" for v in verdicts):
        return 0
    if any(v in ("unsigned", "invalid") for v in verdicts):
        return EXIT_CHECK_FAILED
    return EXIT_EXTERNAL
