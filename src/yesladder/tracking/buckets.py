"""Token buckets for the tracking API: a steady rate with room for bursts (pure, in memory).

Each web process keeps its own buckets: a check costs no database write, which the ingestion
path cannot afford, and the allowance is per process (N processes allow N times as much).
"""

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class Bucket:
    rate: float  # tokens added per second
    burst: float  # most tokens it holds
    tokens: float
    updated: float

    def take(self, count: int, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if count > self.tokens:
            return False
        self.tokens -= count
        return True

    def wait_for(self, count: int) -> float:
        """Seconds until `count` tokens are there (what Retry-After says)."""
        return max(0.0, (min(count, self.burst) - self.tokens) / self.rate)


class Buckets:
    """One bucket per key (a write key, a visitor), the least recently used forgotten first."""

    def __init__(self, rate: float, burst: float, keep: int = 100_000, clock=time.monotonic):
        self.rate, self.burst, self.keep, self.clock = rate, burst, keep, clock
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str, count: int = 1) -> float:
        """Take `count` tokens for `key`: 0 when allowed, else the seconds to wait."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.pop(key, None) or Bucket(self.rate, self.burst, self.burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.keep:
                self._buckets.popitem(last=False)
            return 0.0 if bucket.take(count, now) else max(bucket.wait_for(count), 0.001)
