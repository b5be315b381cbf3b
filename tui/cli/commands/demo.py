"""`signet demo`: build the offline demo environment and open the console on it."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import click
import platformdirs

from tui.cli.output import diagnostic, emit_line


def default_demo_dir() -> Path:
    return Path(platformdirs.user_data_dir("signet")) / "demo"


@click.command("demo")
@click.option("--dir", "directory", metavar="PATH", default=None,
              help="Demo directory (default: the platform data dir /demo). Rebuilt on every run.")
@click.option("--no-open", is_flag=True, help="Build only; do not open the console.")
@click.option("--keep", is_flag=True, help="Open the existing demo without rebuilding it.")
@click.option("--as", "identity", type=click.Choice(("alice", "bob")), default="alice", show_default=True,
              help="Demo identity: alice (operator, custodian) or bob (operator, approver).")
def command(directory: str | None, no_open: bool, keep: bool, identity: str) -> None:
    """Build a demo (local OCI registry, two signing keys, signed/unsigned/tampered/bypassed images,
    history, a pending and an active bypass) without network, then open the console on it.

    The demo keys' passphrase is generated per build and kept only in DIR/demo-passphrase (0600).
    """
    from core.demo.builder import build_demo, open_demo_context

    root = Path(directory).expanduser() if directory else default_demo_dir()
    if not keep:
        env = build_demo(root, progress=lambda step: diagnostic(f"demo: {step}"))
        emit_line(f"demo built in {env.root}")
        emit_line("  use it from a shell (then `signet history`, `signet cluster sweep`, ...):")
        emit_line(f"    export SIGNET_DB={shlex.quote(str(env.db))} SIGNET_CONFIG={shlex.quote(str(env.config))}")
        emit_line(f"  console as bob:  signet demo --keep --as bob --dir {shlex.quote(str(env.root))}")
        emit_line("  before a trust change (console :whatif):  signet what-if --drop-key release-a  |  "
                  "--enforce signet-verify-images  |  --require-attestation vuln --max-severity HIGH")
        emit_line(f"  key passphrase:  {shlex.quote(str(env.passphrase_file))}")
    if no_open:
        return
    from tui.console import open_console

    # The demo has no AWS account: keep boto3 from probing the instance metadata endpoint.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

    open_console(open_demo_context(root, identity=identity))
