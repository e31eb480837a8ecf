"""The counters every process keeps for Prometheus (`/metrics`, docs/deploy.md).

`yesladder serve --workers N` runs N processes and the worker one more: each keeps its counts
in memory-mapped files under `$YESLADDER_HOME/metrics` (prometheus_client's multiprocess
mode), and `/metrics` adds up the files of every process. Writers at any layer count here
(this module imports nothing of ours); what the database already knows (the outbox, the
worker's heartbeat) is read at scrape time by `operations.health` instead.

Every metric has labels, so a process that never counts (`yesladder lint`, a test) writes no
file.
"""

import os
import re
from pathlib import Path

from django.conf import settings
from prometheus_client import Counter, Histogram, values


def directory() -> Path:
    return settings.HOME / "metrics"


# Chosen before the first metric is made: prometheus_client reads the directory from the
# environment, and picks its multiprocess mode at its own import, which may come first. Set,
# not defaulted: a child started with another YESLADDER_HOME must not count into its parent's.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory())
directory().mkdir(parents=True, exist_ok=True)
values.ValueClass = values.MultiProcessValue()

REQUESTS = Counter(
    "yesladder_http_requests", "HTTP requests answered, by route group and status",
    ["route", "status"],
)  # fmt: skip
LATENCY = Histogram(
    "yesladder_http_request_duration_seconds", "Time to answer an HTTP request, by route group",
    ["route"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
TRACKED = Counter(
    "yesladder_tracking_messages", "Tracking API messages, accepted or refused (with the reason)",
    ["outcome", "reason"],
)  # fmt: skip
EMAILS = Counter("yesladder_emails", "Outbox emails handled, by result", ["result"])
WEBHOOKS = Counter("yesladder_webhook_deliveries", "CRM webhook deliveries tried, by result",
                   ["result"])  # fmt: skip
CHARGES = Counter("yesladder_charges", "Charges collected or failed", ["result"])


_FILE = re.compile(r"_(\d+)\.db$")


def forget_dead_processes() -> int:
    """Remove the files of processes that are gone (prometheus_client's advice is to wipe the
    directory at start; removing only the dead keeps a running worker's counts). A counter that
    loses a dead process's share looks to Prometheus like a restart, which `rate()` expects.
    Returns how many files went."""
    removed = 0
    for path in directory().glob("*.db"):
        found = _FILE.search(path.name)
        if found and not _alive(int(found.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
