"""The `signet` command line. With no sub-command it opens the console.

Every command calls `core` services; this module only parses, prints and maps errors to exit codes.
"""

from __future__ import annotations

import importlib
import sys
import traceback

import click
from click.exceptions import NoArgsIsHelpError

from core import __version__
from core.errors import EXIT_EXTERNAL, EXIT_USAGE, SignetError
from tui.cli.output import diagnostic

# Command groups, each in tui/cli/commands/<module>.py exposing `command`.
COMMAND_MODULES = (
    "locate", "config", "audit", "history", "verify", "verify_attestation", "sign", "key", "bypass", "cluster",
    "lambda_", "registry", "metrics", "demo", "trust", "what_if", "store",
)


def _usage_line(exc: click.UsageError) -> None:
    """Click prints usage, a hint and the error on three lines; we promise one. A group run without
    a sub-command still prints its help (that is not a mistake to report)."""
    if isinstance(exc, NoArgsIsHelpError):
        raise exc
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    diagnostic(f"error: {exc.format_message()}{where}")
    sys.exit(exc.exit_code)


class SignetGroup(click.Group):
    """Maps Signet errors and usage errors to one stderr line and the documented exit code."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:  # the root's own flags
            _usage_line(exc)
            raise  # unreachable: _usage_line exits

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # a sub-command's flags or arguments, or an unknown command
            _usage_line(exc)
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
@click.option("--db", "db", metavar="PATH|URL",
              help="SQLite file, or a team store postgresql://user@host/db (no password in it: libpq reads "
                   "PGPASSWORD/.pgpass); else $SIGNET_DB, else [store] url, else the platform data dir.")
@click.option("--config", "config", metavar="PATH",
              help="Config file (else $SIGNET_CONFIG, else the platform config dir).")
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
