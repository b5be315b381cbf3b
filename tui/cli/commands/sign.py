"""`signet sign IMAGE --key KEY`: sign an image's digest the way `cosign sign --key` does.

The passphrase of an encrypted key comes from `--passphrase-file`, else `$SIGNET_PASSWORD` (may be
empty), else a hidden prompt; it is never printed or logged. Needs the operator role.
`--json` prints one object: `reference`, `digest`, `signature_tag`, `signature_repository`,
`signature_manifest_digest`, `payload_digest`, `key_fingerprint`, `layers`, `verification` (the
read-back check, same fields as `signet verify --json`).
"""

from __future__ import annotations

import sys

import click

from core.errors import EXIT_CHECK_FAILED
from core.identity import Role
from core.sign.service import sign_image
from core.verify.policy import parse_annotations
from tui.cli.context import signet_context
from tui.cli.output import diagnostic, emit_json, emit_line
from tui.cli.passphrases import passphrase_provider
from tui.cli.trust_options import allow_http_option


@click.command("sign")
@click.argument("image")
@click.option("--key", required=True, metavar="KEY",
              help="Cosign private key file, key-store id/name/fingerprint prefix, or awskms:///ARN.")
@click.option("-a", "--annotation", "annotations", multiple=True, metavar="KEY=VALUE",
              help="Add to the signed payload's optional map (repeatable).")
@click.option("--passphrase-file", default=None, metavar="FILE", help="Read the key passphrase from FILE.")
@click.option("--signature-repository", default=None, envvar="COSIGN_REPOSITORY", metavar="REPO",
              help="Repository to write the .sig manifest to (default: the image's; env COSIGN_REPOSITORY).")
@allow_http_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object describing the signature written.")
@click.pass_context
def command(ctx: click.Context, image: str, key: str, annotations: tuple[str, ...], passphrase_file: str | None,
            signature_repository: str | None, allow_http_registry: bool, as_json: bool) -> None:
    """Sign IMAGE (resolved to its digest) and append the signature to its .sig manifest."""
    from core.sign.signers import signer_for

    sc = signet_context(ctx)
    sc.require_write(Role.OPERATOR, action="signing an image")  # before any passphrase prompt
    signer = signer_for(sc, key, passphrase_provider=passphrase_provider(passphrase_file))
    result = sign_image(sc, image, signer, annotations=parse_annotations(annotations),
                        signature_repository=signature_repository, allow_http=allow_http_registry)
    if as_json:
        emit_json(result.as_dict())
    else:
        emit_line(f"signed {result.reference}@{result.digest} with key {result.key_fingerprint[:16]}")
        emit_line(f"signature: {result.signature_repository}:{result.signature_tag} "
                  f"({result.layers} signature(s), manifest {result.signature_manifest_digest[:19]})")
        emit_line(f"read back: {result.verification.result} ({result.verification.reason})")
    if not result.verification.verified:
        diagnostic("the signature was written but does not verify when read back")
        sys.exit(EXIT_CHECK_FAILED)
