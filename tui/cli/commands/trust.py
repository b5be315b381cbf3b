"""`signet trust update`: refresh the Sigstore trusted root (trusted_root.json) through TUF, from a
repository URL or a local mirror directory (air-gapped sites).

The first update needs the TUF root.json you trust for that repository (`--tuf-root`, else
`[trust] tuf_root`); later updates follow the repository's root rotations from the cached root. The
trusted root is written to `--output`, else `[trust] trusted_root`, else `trusted_root.json` beside the
database. Verification warns when it was last refreshed longer ago than `[trust] max_root_age` (30d).
Needs the custodian role; audited.

Exit codes: 0 updated (or already current); 1 the repository was refused (expired, bad signatures,
rollback, not a trusted root); 2 bad arguments or configuration; 3 the repository could not be read.

`--json` prints {source, path, changed, sha256, tuf_root_version}.
"""

from __future__ import annotations

import click

from core.trustroot.service import refresh_trusted_root
from tui.cli.context import signet_context
from tui.cli.output import emit_json, emit_line


@click.group("trust")
def command() -> None:
    """The Sigstore trusted root: refresh it through TUF."""


@command.command("update")
@click.option("--repository", default=None, metavar="URL_OR_DIR",
              help="TUF repository URL or mirror directory (else [trust] tuf_repository).")
@click.option("--tuf-root", default=None, metavar="FILE",
              help="The TUF root.json to trust on first use (else [trust] tuf_root).")
@click.option("--output", default=None, metavar="FILE", help="Where to write trusted_root.json.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@click.pass_context
def update(ctx: click.Context, repository: str | None, tuf_root: str | None, output: str | None,
           as_json: bool) -> None:
    """Refresh trusted_root.json from the TUF repository."""
    result = refresh_trusted_root(signet_context(ctx), repository=repository, tuf_root=tuf_root, output=output)
    if as_json:
        emit_json({"source": result.source, "path": str(result.path), "changed": result.changed,
                   "sha256": result.sha256, "tuf_root_version": result.tuf_root_version})
        return
    state = "updated" if result.changed else "already current"
    emit_line(f"{state}: {result.path} (sha256 {result.sha256[:16]}…, TUF root v{result.tuf_root_version}, "
              f"from {result.source})")
