"""What a bypass target runs as last recorded (core/bypass/running.py): the latest sweep per cluster."""

from __future__ import annotations

from datetime import timedelta

from core.bypass.running import running_digests
from core.bypass.validation import validate_scope
from core.history.records import record_verifications
from tests.support.console import NOW, console_context

OLD, NEW, OTHER = ("sha256:" + c * 64 for c in "abc")


def _sweep(ctx, at, rows):
    with ctx.store.write() as db:
        record_verifications(db, [dict(at=at, actor="a", source="sweep", reference=f"r/app@{digest}", digest=digest,
                                       result="verified", reason="", cluster="prod-ctx", namespace=namespace,
                                       details={"sweep": str(at), "workloads": workloads})
                                  for namespace, digest, workloads in rows])


def test_the_latest_sweep_says_what_a_cluster_target_runs(tmp_path):
    ctx = console_context(tmp_path, extra='\n[[clusters]]\ncontext = "prod-ctx"\nname = "prod"\n')
    _sweep(ctx, NOW - timedelta(hours=2), [("shop", OLD, ["Deployment/web:app"])])
    _sweep(ctx, NOW, [("shop", NEW, ["Deployment/web:app"]), ("shop", OTHER, ["StatefulSet/db:main"])])
    running = running_digests(ctx)
    web = validate_scope(cluster="prod", namespace="shop", workload="web")  # by display name or context
    assert running.of(web) == {NEW}
    assert running.of(validate_scope(cluster="prod-ctx", namespace="shop")) == {NEW, OTHER}
    assert running.warning(web, NEW) == ""
    assert "is not what prod/shop/web runs" in running.warning(web, OLD)  # an older sweep no longer counts
    assert "no record of what" in running.warning(validate_scope(cluster="prod", namespace="other"), NEW)
    ctx.close()
