"""`signet registry catalog|tags` against a real docker-registry and an OCI layout."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tests.support.oci import build_image, push_image, write_layout
from tests.support.processes import free_port
from tui.cli.main import cli


def test_catalog_and_tags(signet_home, registry):
    for repo, tag in (("team/app", "v1"), ("team/app", "v2"), ("other", "latest")):
        push_image(registry.url, repo, tag)
    catalog = CliRunner().invoke(cli, ["registry", "catalog", registry.host, "--json"])
    assert catalog.exit_code == 0, catalog.output
    assert json.loads(catalog.output) == ["other", "team/app"]
    tags = CliRunner().invoke(cli, ["registry", "tags", f"{registry.host}/team/app"])
    assert tags.exit_code == 0 and tags.output.split() == ["v1", "v2"]


def test_layout_tags(signet_home, tmp_path):
    image = build_image()
    root = write_layout(tmp_path / "layout", {"v1": (image.manifest, image.media_type)}, list(image.blobs))
    result = CliRunner().invoke(cli, ["registry", "tags", f"oci:{root}", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == ["v1"]


def test_errors_map_to_exit_codes(signet_home, registry):
    down = CliRunner().invoke(cli, ["registry", "catalog", f"127.0.0.1:{free_port()}"])
    assert down.exit_code == 3
    bad = CliRunner().invoke(cli, ["registry", "tags", f"{registry.host}/app:with-tag"])
    assert bad.exit_code == 2 and "without tag" in bad.output
    missing = CliRunner().invoke(cli, ["registry", "tags", f"{registry.host}/nothing-here"])
    assert missing.exit_code == 2 and "not found" in missing.output
