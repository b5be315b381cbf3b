"""Metrics computed from the store, read back with prometheus_client's own parser."""

from __future__ import annotations

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from core.clock import FixedClock, iso
from core.context import open_context
from core.history.records import record_verifications
from core.metrics import exposition, write_textfile
from tests.support.cluster_world import START
from tui.cli.main import cli

D = "sha256:" + "e" * 64


def _samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _row(**values):
    return {"at": START, "actor": "alice", "source": "sweep", "reference": f"r.example/app@{D}", "digest": D,
            "result": "verified", "reason": "", **values}


def test_empty_store_gives_a_valid_exposition(signet_home):
    ctx = open_context(clock=FixedClock(START))
    samples = _samples(exposition(ctx).decode())
    assert samples == {("signet_active_bypasses", ()): 0.0}
    ctx.close()


def test_counters_cover_every_source_and_gauges_only_the_latest_sweep(signet_home, tmp_path):
    ctx = open_context(clock=FixedClock(START))
    with ctx.store.write() as db:
        record_verifications(db, [
            _row(source="cli", cluster=None, namespace=None, result="invalid"),
            _row(cluster="east", namespace="a", result="unsigned", digest="sha256:" + "1" * 64,
                 details={"sweep": "sweep_old"}),
            _row(at=START.replace(hour=13), cluster="east", namespace="a", result="verified",
                 details={"sweep": "sweep_new"}),
            _row(at=START.replace(hour=13), cluster="east", namespace="b", result="bypassed", bypass_id="bp-1",
                 details={"sweep": "sweep_new"}),
        ])
        db.execute("INSERT INTO bypasses (id, state, requester, scope_kind, cluster, namespace, digest, "
                        "justification, ticket, duration_seconds, requested_at, request_expires_at, starts_at, "
                        "ends_at) VALUES ('bp-1', 'active', 'dev', 'cluster', 'east', 'b', ?, 'j', 'T-1', 3600, ?, ?,"
                        " ?, ?)", (D, iso(START), iso(START), iso(START), iso(START.replace(hour=14))))
    samples = _samples(exposition(ctx).decode())
    assert samples[("signet_image_verifications_total", (("cluster", ""), ("namespace", ""),
                                                         ("result", "invalid")))] == 1
    assert samples[("signet_verification_failures_total", (("cluster", "east"), ("namespace", "a")))] == 1
    # The old sweep's unsigned image is history, not what runs now.
    assert samples[("signet_unsigned_images", (("cluster", "east"), ("namespace", "a")))] == 0
    assert samples[("signet_bypassed_images", (("cluster", "east"), ("namespace", "b")))] == 1
    assert samples[("signet_active_bypasses", ())] == 1
    assert samples[("signet_last_sweep_timestamp_seconds", (("cluster", "east"),))] == START.replace(
        hour=13).timestamp()
    target = tmp_path / "node-exporter" / "signet.prom"
    target.parent.mkdir()
    write_textfile(ctx, str(target))
    assert _samples(target.read_text()) == samples
    printed = CliRunner().invoke(cli, ["metrics"])
    assert printed.exit_code == 0
    # The CLI reads the real clock, so only the bypass gauge (a function of "now") may differ.
    clock_free = {k: v for k, v in samples.items() if k[0] != "signet_active_bypasses"}
    assert {k: v for k, v in _samples(printed.stdout).items() if k[0] != "signet_active_bypasses"} == clock_free
    ctx.close()
