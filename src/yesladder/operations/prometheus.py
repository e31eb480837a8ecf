"""The text Prometheus scrapes: every process's counters (the files under
`$YESLADDER_HOME/metrics`, added up) and what the database knows now (the outbox, the worker's
heartbeat, the store's lag), read at scrape time."""

from django.conf import settings
from django.db import DatabaseError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from yesladder import __version__, metrics
from yesladder.operations import backup, health


class _FromTheDatabase:
    def collect(self):
        up = GaugeMetricFamily("yesladder_database_up", "1 when the database answered the scrape")
        info = GaugeMetricFamily("yesladder_info", "The running release", labels=["version"])
        info.add_metric([__version__], 1)
        try:
            found = health.vitals()
        except DatabaseError:
            up.add_metric([], 0)
            return [up, info]
        up.add_metric([], 1)
        tick = GaugeMetricFamily(
            "yesladder_worker_last_tick_timestamp_seconds",
            "When a worker last went round its loop (Unix time); alert when it is old",
        )
        if found.worker_tick is not None:
            tick.add_metric([], found.worker_tick.timestamp())
        due = GaugeMetricFamily("yesladder_outbox_due", "Waiting and due now", labels=["queue"])
        oldest = GaugeMetricFamily(
            "yesladder_outbox_oldest_due_seconds",
            "How long the longest-waiting due item has been due (0 when none)", labels=["queue"],
        )  # fmt: skip
        dead = GaugeMetricFamily("yesladder_outbox_dead", "Dead letters", labels=["queue"])
        for name, queue in (("emails", found.emails), ("webhooks", found.webhooks)):
            due.add_metric([name], queue.due)
            oldest.add_metric([name], queue.oldest_seconds or 0)
            dead.add_metric([name], queue.dead)
        newest = GaugeMetricFamily(
            "yesladder_last_backup_timestamp_seconds",
            "When the newest backup in YESLADDER_BACKUP_DIR was taken (Unix time)",
        )
        taken = backup.backups()
        if taken:
            newest.add_metric([], taken[-1][0].timestamp())
        families = [up, info, tick, due, oldest, dead, newest]
        if settings.CLICKHOUSE is not None:
            lag = GaugeMetricFamily(
                "yesladder_shipping_lag_seconds",
                "Age of the oldest event not yet shipped to ClickHouse (0: caught up)",
            )
            lag.add_metric([], found.store_lag_seconds or 0)
            families.append(lag)
        return families


def scrape() -> bytes:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics.directory()))
    registry.register(_FromTheDatabase())
    return generate_latest(registry)
