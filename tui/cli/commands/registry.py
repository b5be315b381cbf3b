"""`signet registry catalog|tags`: browse what a registry (or an OCI layout) holds.

Listings follow the registry's `Link` pagination, bounded (core/registry/http_registry.py).
`--json` prints a JSON array of strings (repository names, or tags).
"""

from __future__ import annotations

from typing import Any, Callable

import click

from core.context import SignetContext
from core.registry.client import open_registry
from core.registry.reference import ImageReference, parse_reference, parse_registry_host, parse_repository
from tui.cli.context import signet_context
from tui.cli.output import emit_json, emit_line
from tui.cli.trust_options import allow_http_option

_JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="A JSON array of strings.")


@click.group("registry")
def command() -> None:
    """Browse registries: repositories and tags."""


@command.command("catalog")
@click.argument("registry")
@allow_http_option
@_JSON_OPTION
@click.pass_context
def catalog(ctx: click.Context, registry: str, allow_http_registry: bool, as_json: bool) -> None:
    """Repositories of REGISTRY (host[:port], or oci:PATH for a layout)."""
    sc = signet_context(ctx)
    ref = (parse_reference(registry, default_tag=None) if registry.startswith("oci:")
           else ImageReference(registry=parse_registry_host(registry), repository=""))
    _emit(_list(sc, ref, allow_http_registry, lambda source: source.catalog()), as_json)


@command.command("tags")
@click.argument("repository")
@allow_http_option
@_JSON_OPTION
@click.pass_context
def tags(ctx: click.Context, repository: str, allow_http_registry: bool, as_json: bool) -> None:
    """Tags of REPOSITORY (e.g. ghcr.io/org/app, or oci:PATH)."""
    sc = signet_context(ctx)
    ref = (parse_reference(repository, default_tag=None) if repository.startswith("oci:")
           else parse_repository(repository))
    _emit(_list(sc, ref, allow_http_registry, lambda source: source.list_tags(ref.repository)), as_json)


def _list(sc: SignetContext, ref: ImageReference, allow_http: bool, fetch: Callable[[Any], list[str]]) -> list[str]:
    source = open_registry(sc.config, ref, allow_http=allow_http)
    try:
        return sorted(fetch(source))
    finally:
        source.close()


def _emit(names: list[str], as_json: bool) -> None:
    if as_json:
        emit_json(names)
    else:
        for name in names:
            emit_line(name)
