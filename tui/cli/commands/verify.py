"""`signet verify IMAGE...`: check classic cosign signatures against trusted keys, or keyless
(Fulcio/Rekor) signatures and Sigstore bundle referrers against `--certificate-identity`/`--certificate-oidc-issuer`
and a `--trusted-root` (flags in tui/cli/trust_options.py).

Exit codes: 0 when every image is `verified`; 1 when any image is `unsigned` or `invalid`;
3 when none is unsigned/invalid but at least one is `error` (registry unreachable, refused, limits:
nothing could be decided, so it is reported as an outside failure); 2 for bad arguments (no keys,
unreadable key file, malformed -a, a malformed image reference).

`--json` prints a JSON array with one object per image, in the order given:
- `reference` (str): the normalised reference that was checked;
- `digest` (str|null): the manifest digest it resolved to (sha256 over the bytes received);
- `result` (str): verified | unsigned | invalid | error;
- `reason` (str): one line saying why;
- `matched_keys` (list[str]): fingerprints (sha256 of DER SPKI) of the trusted keys with a valid signature;
- `signatures` (list): per signature `source` (`cosign-sig`: a `.sig` layer; `sigstore-bundle`: a bundle
  referrer), `index`, `ok`, `reason`, `key_fingerprint` (keyless: the certificate's key), `identity` and
  `issuer` (keyless), `details` (`layer_digest`; for bundles `referrer`, `tlog_indexes`, `signed_at`);
- `duration_ms` (float), `platform_digest` (str|null: the `--platform` child of an index),
  `bypass_id` (always null here), `details` (e.g. `signature_locations`);
- `platforms` (list; empty unless the image is an index): per child `platform` (os/arch[/variant]),
  `digest`, `result` (the child's standing), `covered_by` (`own`: its own trusted signatures;
  `index sha256:...`: the index's verified signature, when `[trust] index_signature_covers_children`
  is true; null: nothing covers it), `reason`. The image's `result` and exit code stay the index's.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from core.registry.reference import parse_reference
from core.verify.policy import parse_annotations
from core.verify.result import VerificationResult
from core.verify.service import verify_images
from tui.cli.context import signet_context
from tui.cli.output import emit_json, emit_table
from tui.cli.trust_options import diagnose_errors, trust_options, verdict_exit_code, verifier_from_flags


@click.command("verify")
@click.argument("images", nargs=-1, required=True)
@trust_options
@click.option("-a", "--annotation", "annotations", multiple=True, metavar="KEY=VALUE",
              help="Require this annotation in the signed payload's optional map (repeatable).")
@click.option("--allow-payload-type", "payload_types", multiple=True, metavar="TYPE",
              help="Accept this critical.type instead of 'cosign container image signature' (repeatable).")
@click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
              help="For an index, report the digest of this platform's image (the index digest is verified).")
@click.option("--signature-repository", default=None, envvar="COSIGN_REPOSITORY", metavar="REPO",
              help="Repository holding the .sig manifests (default: the image's; env COSIGN_REPOSITORY).")
@click.option("--json", "as_json", is_flag=True, help="JSON array, one object per image.")
@click.pass_context
def command(ctx: click.Context, /, images: tuple[str, ...], annotations: tuple[str, ...],
            payload_types: tuple[str, ...], platform: str | None, signature_repository: str | None,
            allow_http_registry: bool, as_json: bool, **flags: Any) -> None:
    """Verify cosign signatures of IMAGE... (tags are resolved to digests first)."""
    sc = signet_context(ctx)
    references = [parse_reference(text) for text in images]  # a typo is a usage error, before any network
    verifier = verifier_from_flags(sc, flags, annotations=parse_annotations(annotations),
                                   allowed_payload_types=payload_types, signature_repository=signature_repository)
    results = verify_images(sc, references, verifier, source=sc.interface, platform=platform,
                            allow_http=allow_http_registry, platforms=True)
    if as_json:
        emit_json([r.as_dict() for r in results])
    else:
        _table(results)
    diagnose_errors(results)
    sys.exit(verdict_exit_code(r.result for r in results))


def _table(results: list[VerificationResult]) -> None:
    rows = []
    for r in results:
        # Keyless signers are named by identity: their certificate keys are single-use.
        signers = dict.fromkeys(c.identity or (c.key_fingerprint or "")[:12] for c in r.signatures if c.ok)
        rows.append((r.result, r.reference, (r.digest or "")[:19], ",".join(signers), r.reason))
        if not r.verified:
            rows.extend(("", f"  signature #{c.index}", "", (c.key_fingerprint or "")[:12], c.reason)
                        for c in r.signatures if not c.ok)
        rows.extend(("", f"  {p.platform}", p.digest[:19], (p.covered_by or "")[:25],  # "index sha256:<12 hex>"
                     f"{p.result}: {p.reason}")
                    for p in r.platforms)
    emit_table(["result", "reference", "digest", "signers", "reason"], rows)
