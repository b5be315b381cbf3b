"""The `signet` command line. With no sub-command it opens the console.

Every command calls `core` services; this module only parses, prints and maps errors to exit codes.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click

from core import __version__
from core.errors import EXIT_EXTERNAL, EXIT_USAGE, SignetError
from tui.cli.output import diagnostic

# Command groups, each in tui/cli/commands/<module>.py exposing `command`.
COMMAND_MODULES = (
    "locate", "config", "audit", "history", "verify", "verify_attestation", "sign", "key", "bypass", "cluster", "lambda_",
    "registry", "metrics", "demo",
)


class SignetGroup(click.Group):
    """Maps Signet errors to one stderr line and the documented exit code."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except SignetError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            diagnostic(f"error: {exc}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            diagnostic("interrupted")
            sys.exit(130)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # last resort: never a bare traceback without --debug
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            diagnostic(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
            sys.exit(EXIT_EXTERNAL if isinstance(exc, OSError) else EXIT_USAGE)


@click.group(cls=SignetGroup, invoke_without_command=True,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, "--version", prog_name="signet")
@click.option("--db", "db", metavar="PATH", help="SQLite database (else $SIGNET_DB, else the platform data dir).")
@click.option("--config", "config", metavar="PATH", help="Config file (else $SIGNET_CONFIG, else the platform config dir).")
@click.option("--read-only", is_flag=True, help="Refuse every state-changing action.")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config: str | None, read_only: bool, debug: bool) -> None:
    """Signet: see, check and act on the trust chain of your container images."""
    ctx.ensure_object(dict)
    ctx.obj.update(db=db, config=config, read_only=read_only, debug=debug)
    if ctx.invoked_subcommand is None:
        from tui.console import run_console

        run_console(db=db, config=config, read_only=read_only)


for _name in COMMAND_MODULES:
    cli.add_command(importlib.import_module(f"tui.cli.commands.{_name}").command)


def main() -> None:
    cli(prog_name="signet")


if __name__ == "__main__":
    main()
