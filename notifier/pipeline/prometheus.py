"""``/metrics`` in the Prometheus text format, for the web app and for every worker process.

Two sources make one scrape:

* **per-process counters and histograms** (``notifier.pipeline.metrics``): polls by provider and
  outcome, alerts written, deliveries handled by channel and outcome, detection latency. With
  several processes on one machine, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
  shared by them *before they start* (prometheus-client's multiprocess mode); then any one of
  them serves the sum. On several machines, Prometheus scrapes each and sums.
* **database state** (``DatabaseCollector``), computed when scraped, so every process reports
  the same truth: the age of each provider's last good poll, deliveries by channel and state,
  the due outbox backlog, open alerts, and each channel's configured send-rate limit (to put
  ``rate(notifier_deliveries_handled_total{outcome="sent"}[1m])`` against).

A worker without a web app calls ``start_metrics_server(port, engine=..., config=...)``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from notifier.config import Config
from notifier.db import metrics_queries
from notifier.pipeline import metrics as _registers_the_counters  # noqa: F401

__all__ = [
    "CONTENT_TYPE",
    "DatabaseCollector",
    "MetricsServer",
    "metrics_registry",
    "render_metrics",
    "start_metrics_server",
]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class DatabaseCollector(Collector):
    """Gauges read from the database at each scrape (state, not events)."""

    def __init__(
        self,
        engine: Engine,
        config: Config | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.engine = engine
        self.config = config
        self.clock = clock

    def describe(self) -> list[Metric]:
        return []  # the families depend on the data; nothing to reserve at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "notifier_database_up", "Whether the last scrape could read the database"
        )
        try:
            families = list(self._from_database())
        except SQLAlchemyError:
            log.warning("metrics: the database could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            yield from families
        yield from self._limits()

    def _from_database(self) -> Iterator[Metric]:
        now = self.clock()
        with self.engine.connect() as conn:
            health = metrics_queries.provider_health(conn)
            counts = metrics_queries.delivery_counts(conn)
            backlog = metrics_queries.outbox_backlog(conn, now)
            alerts = metrics_queries.open_alerts(conn, now)
        age = GaugeMetricFamily(
            "notifier_provider_last_success_age_seconds",
            "Seconds since each provider's last good poll (absent before the first one)",
            labels=["provider"],
        )
        down = GaugeMetricFamily(
            "notifier_provider_down",
            "1 while a provider's polls fail (unknown outcomes), else 0",
            labels=["provider"],
        )
        for row in health:
            if row.last_success_at is not None:
                age.add_metric([row.provider_id], (now - row.last_success_at).total_seconds())
            down.add_metric([row.provider_id], 1 if row.down_since is not None else 0)
        yield age
        yield down
        deliveries = GaugeMetricFamily(
            "notifier_deliveries", "Outbox rows by channel and state", labels=["channel", "state"]
        )
        for (channel, state), n in sorted(counts.items()):
            deliveries.add_metric([channel, state], n)
        yield deliveries
        due = GaugeMetricFamily(
            "notifier_outbox_backlog",
            "Deliveries due now and not yet sent, per channel",
            labels=["channel"],
        )
        oldest = GaugeMetricFamily(
            "notifier_outbox_oldest_due_age_seconds",
            "How long the oldest due delivery of each channel has waited",
            labels=["channel"],
        )
        for channel in self._channels(backlog):
            item = backlog.get(channel, metrics_queries.Backlog(0, None))
            due.add_metric([channel], item.due)
            waited = (now - item.oldest_due_at).total_seconds() if item.oldest_due_at else 0.0
            oldest.add_metric([channel], max(0.0, waited))
        yield due
        yield oldest
        open_alerts = GaugeMetricFamily(
            "notifier_alerts_open", "Alerts not yet expired, per provider", labels=["provider"]
        )
        for provider_id, n in sorted(alerts.items()):
            open_alerts.add_metric([provider_id], n)
        yield open_alerts

    def _channels(self, backlog: dict[str, metrics_queries.Backlog]) -> list[str]:
        """Configured channels report a zero backlog too, so an alert rule sees the series."""
        configured = set(self.config.enabled_channels()) if self.config else set()
        return sorted(configured | set(backlog))

    def _limits(self) -> Iterator[Metric]:
        limit = GaugeMetricFamily(
            "notifier_send_rate_limit_per_second",
            "Each channel's configured send-rate limit (absent when it has none configured)",
            labels=["channel"],
        )
        if self.config is not None:
            for name, channel in sorted(self.config.enabled_channels().items()):
                if channel.rate_limit is not None:
                    rate = channel.rate_limit.count / channel.rate_limit.per_seconds
                    limit.add_metric([name], rate)
        yield limit


class _ThisProcess(Collector):
    """The process-wide default registry (counters, histograms, process and GC stats)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def metrics_registry(
    engine: Engine | None = None,
    config: Config | None = None,
    *,
    multiprocess_dir: str | Path | None = None,
) -> CollectorRegistry:
    """A registry that serves this process's metrics (or, in multiprocess mode, the sum of
    every process's) plus the database state. Build it once and scrape it as often as needed.
    """
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir or os.environ.get(MULTIPROC_ENV)
    if directory:
        MultiProcessCollector(registry, path=str(directory))
    else:
        registry.register(_ThisProcess())
    if engine is not None:
        registry.register(DatabaseCollector(engine, config))
    return registry


def render_metrics(registry: CollectorRegistry) -> bytes:
    """One scrape, in the Prometheus text format (blocking: the database is read)."""
    return generate_latest(registry)


@dataclass
class MetricsServer:
    """A running ``/metrics`` listener of a worker process."""

    port: int
    _server: WSGIServer
    _thread: threading.Thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    port: int,
    *,
    engine: Engine | None = None,
    config: Config | None = None,
    addr: str = "127.0.0.1",
) -> MetricsServer:
    """Serve ``/metrics`` from a worker process on a daemon thread (``port=0``: an ephemeral
    port, see ``.port``). Bind ``addr="0.0.0.0"`` only where the network is private.

    Pass the engine (and config) on at most one process per machine, or on every one: the
    database gauges are the same from everywhere, so Prometheus may take either.
    """
    registry = metrics_registry(engine, config)
    server, thread = start_http_server(port, addr=addr, registry=registry)
    return MetricsServer(int(server.server_port), server, thread)
