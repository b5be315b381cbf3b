"""A cluster whose content is hostile: pod images and names with terminal escapes, image IDs whose
digest has a trailing newline or names another repository, huge strings. The sweep verifies only
the honest container, never crashes, records everything, and prints nothing as an escape sequence.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.text import has_control_chars
from tests.support.hostile_registry import HostileRegistry, publish_signed_image, write_config
from tests.support.kube_api import KubeApiServer, pod, write_kubeconfig
from tui.cli.main import cli

OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"


@pytest.fixture
def world(signet_home, tmp_path):
    registry = HostileRegistry()
    image = publish_signed_image(registry)
    repo = f"{registry.host}/{image.repo}"
    other = "sha256:" + "0" * 64
    with KubeApiServer() as kube:
        kube.add({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
        kube.add_many([
            pod("honest", "apps", [("main", f"{repo}:v1", f"{repo}@{image.digest}")]),
            pod("escape-image", "apps", [("main", f"{repo}{OSC52}:v1", f"{repo}@{image.digest}")]),
            pod("escape-name" + "\x1b[2J", "apps", [("main\x1b[31m", f"{repo}:v1", f"{repo}@{other}")]),
            pod("newline-digest", "apps", [("main", f"{repo}:v1", f"{repo}@{image.digest}\n")]),
            pod("other-repo-id", "apps", [("main", f"{registry.host}/evil/app:v1", f"{repo}@{image.digest}")]),
            pod("huge-image", "apps", [("main", f"{repo}:" + "v" * 100_000, f"{repo}@{other}")]),
            pod("unsigned-digest", "apps", [("main", f"{repo}:v2", f"{repo}@{other}")]),
        ])
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"hostile": kube.url})
        key = tmp_path / "trusted.pub"
        key.write_bytes(image.public_pem)
        write_config(signet_home)
        with (signet_home / "config.toml").open("a") as config:
            config.write(f'[[clusters]]\ncontext = "hostile"\nkubeconfig = "{kubeconfig}"\n')
        yield key
    registry.stop()


def test_hostile_cluster_content_is_swept_without_crash_or_escapes(world):
    runner = CliRunner()
    result = runner.invoke(cli, ["cluster", "sweep", "--key", str(world), "--json"])
    assert result.exit_code == 1, (result.stdout[-1000:], result.stderr[-1000:])
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    report = json.loads(result.stdout)
    by_workload = {}
    for finding in report["findings"]:
        by_workload.setdefault(finding["workload"].split("\x1b")[0], []).append(finding)
    assert [f["result"] for f in by_workload["honest"]] == ["verified"]
    verified = [f for f in report["findings"] if f["result"] == "verified"]
    # The honest digest run under an escape-laden spec image still names the signed image; every
    # container that runs something else, or reports no usable digest, is not verified.
    for name in ("newline-digest", "unsigned-digest", "huge-image", "escape-name"):
        assert all(f["result"] != "verified" for f in by_workload.get(name, [])), name
    assert all(f["digest"] and "\n" not in f["digest"] for f in verified)
    table = runner.invoke(cli, ["cluster", "sweep", "--key", str(world)])
    assert table.exit_code == 1 and "internal error" not in table.stderr
    assert not has_control_chars(table.stdout + table.stderr), repr(table.stdout[:500])
    history = runner.invoke(cli, ["history", "--source", "sweep"])
    assert history.exit_code == 0 and not has_control_chars(history.stdout)
