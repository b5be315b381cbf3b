"""Prometheus metrics, computed from the store so a sweep's textfile and `signet metrics` agree.

Everything is read from the verification history and the clusters table at collection time by a
custom collector registered in its own CollectorRegistry (never the process-global one, so library
defaults such as process_* metrics do not leak in):

- `signet_image_verifications_total{result,cluster,namespace}`: history rows (every source;
  cluster/namespace are empty outside sweeps);
- `signet_verification_failures_total{cluster,namespace}`: rows that are unsigned, invalid or error;
- `signet_sweep_images{result,cluster,namespace}`, `signet_unsigned_images{cluster,namespace}`,
  `signet_bypassed_images{cluster,namespace}`: distinct images found by the latest sweep of each cluster;
- `signet_last_sweep_timestamp_seconds{cluster}`, `signet_cluster_up{cluster}` (1 when the last
  read of the cluster was complete), `signet_active_bypasses`.
"""

from __future__ import annotations

from typing import Any, Iterator

from prometheus_client import CollectorRegistry, generate_latest, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from core.clock import iso, parse_iso
from core.context import SignetContext
from core.results import BYPASSED, FAILURE_RESULTS
from core.store.session import json_text

MAX_SERIES = 50_000  # label combinations per family: a bound on output size, not expected in practice


class StoreCollector:
    """Reads the store on every collect(); register it in a CollectorRegistry."""

    def __init__(self, ctx: SignetContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Metric]:
        query = self.ctx.store.query
        verifications = CounterMetricFamily("signet_image_verifications", "Image verifications recorded, by result",
                                            labels=["result", "cluster", "namespace"])
        failures = CounterMetricFamily("signet_verification_failures",
                                       "Verifications that were unsigned, invalid or error",
                                       labels=["cluster", "namespace"])
        failed: dict[tuple[str, str], int] = {}
        for row in query("SELECT result, COALESCE(cluster, '') AS cluster, COALESCE(namespace, '') AS namespace, "
                         "COUNT(*) AS n FROM verifications GROUP BY 1, 2, 3 ORDER BY 2, 3, 1 LIMIT ?", (MAX_SERIES,)):
            verifications.add_metric([row["result"], row["cluster"], row["namespace"]], row["n"])
            if row["result"] in FAILURE_RESULTS:
                key = (row["cluster"], row["namespace"])
                failed[key] = failed.get(key, 0) + row["n"]
        for (cluster, namespace), n in sorted(failed.items()):
            failures.add_metric([cluster, namespace], n)
        yield verifications
        yield failures
        yield from self._latest_sweeps(query)
        yield from self._clusters(query)
        active = GaugeMetricFamily("signet_active_bypasses", "Bypasses granted and in force now")
        stamp = iso(self.ctx.clock())
        active.add_metric([], query("SELECT COUNT(*) AS n FROM bypasses WHERE state IN ('approved', 'active') "
                                    "AND starts_at <= ? AND ends_at > ?", (stamp, stamp))[0]["n"])
        yield active

    def _latest_sweeps(self, query: Any) -> Iterator[Metric]:
        images = GaugeMetricFamily("signet_sweep_images", "Distinct images in the latest sweep of each cluster",
                                   labels=["result", "cluster", "namespace"])
        unsigned = GaugeMetricFamily("signet_unsigned_images", "Unsigned images running, as of the latest sweep",
                                     labels=["cluster", "namespace"])
        bypassed = GaugeMetricFamily("signet_bypassed_images", "Images running under a bypass, latest sweep",
                                     labels=["cluster", "namespace"])
        last = GaugeMetricFamily("signet_last_sweep_timestamp_seconds", "When each cluster was last swept",
                                 labels=["cluster"])
        sweep_of = json_text(self.ctx.store.backend, "details", "sweep")
        latest = query(
            f"SELECT cluster, at, {sweep_of} AS sweep FROM verifications v "
            "WHERE source = 'sweep' AND cluster IS NOT NULL AND id = (SELECT id FROM verifications w "
            "WHERE w.source = 'sweep' AND w.cluster = v.cluster ORDER BY at DESC, id DESC LIMIT 1) "
            "ORDER BY cluster LIMIT ?", (MAX_SERIES,))
        for sweep in latest:
            last.add_metric([sweep["cluster"]], parse_iso(sweep["at"]).timestamp())
            per_namespace: dict[str, dict[str, int]] = {}
            for row in query("SELECT namespace, result, COUNT(DISTINCT COALESCE(digest, reference)) AS n "
                             "FROM verifications WHERE source = 'sweep' AND cluster = ? "
                             f"AND {sweep_of} = ? GROUP BY 1, 2 ORDER BY 1, 2",
                             (sweep["cluster"], sweep["sweep"])):
                per_namespace.setdefault(row["namespace"] or "", {})[row["result"]] = row["n"]
            for namespace, counts in sorted(per_namespace.items()):
                for result, n in sorted(counts.items()):
                    images.add_metric([result, sweep["cluster"], namespace], n)
                unsigned.add_metric([sweep["cluster"], namespace], counts.get("unsigned", 0))
                bypassed.add_metric([sweep["cluster"], namespace], counts.get(BYPASSED, 0))
        yield from (images, unsigned, bypassed, last)

    def _clusters(self, query: Any) -> Iterator[Metric]:
        up = GaugeMetricFamily("signet_cluster_up", "1 when the last read of the cluster was complete",
                               labels=["cluster"])
        for row in query("SELECT context, last_error FROM clusters ORDER BY context LIMIT ?", (MAX_SERIES,)):
            up.add_metric([row["context"]], 0 if row["last_error"] else 1)
        yield up


def metrics_registry(ctx: SignetContext) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(ctx))
    return registry


def exposition(ctx: SignetContext) -> bytes:
    """The text exposition format, as `signet metrics` prints and a Prometheus scrape would read."""
    return generate_latest(metrics_registry(ctx))


def write_textfile(ctx: SignetContext, path: str) -> None:
    """For node_exporter's textfile collector: written to a temp file and renamed (atomic for readers)."""
    write_to_textfile(path, metrics_registry(ctx))

