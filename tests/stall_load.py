"""A small, bounded load on a real `yesladder serve` (its worker shipping to a ClickHouse
cluster): new visitors on an entry page, opt-ins, and tracking API batches, each request
timed. Used by tests/test_warehouse_stall.py and bench/clickhouse_stall.py."""

import base64
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
KINDS = ("entry", "optin", "batch")


def cli(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yesladder.cli", *args],
        env=env, capture_output=True, text=True, timeout=120, check=check,
    )  # fmt: skip


def prepare(home: Path, store: dict[str, str], database_url: str = "") -> tuple[dict, dict, str]:
    """The environment of the commands (the embedded default in `home`, or `database_url`;
    the store's variables), the server's, and a write key; the example funnels loaded."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(YESLADDER_HOME=str(home), YESLADDER_RATE_LIMITS="0", PYTHONUNBUFFERED="1",
               YESLADDER_LOG_LEVEL="ERROR", **store)  # fmt: skip
    if database_url:
        env["DATABASE_URL"] = database_url
    examples = [str(ROOT / "examples" / f) for f in ("b2b-ladder.yaml", "solo-ad.yaml")]
    setup = (
        "import django, os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = "
        "'yesladder.settings'; django.setup(); from django.core.management import "
        "call_command as c; c('migrate', verbosity=0); c('load', *sys.argv[1:]); "
        "c('writekey', 'create', 'stall')"
    )
    out = subprocess.run([sys.executable, "-c", setup, *examples], env=env, text=True,
                         capture_output=True, timeout=120, check=True).stdout  # fmt: skip
    key = out.split("Write key for stall: ")[1].split()[0]
    served = {k: env[k] for k in env if k.startswith(("YESLADDER_", "DATABASE_URL"))}
    return env, served, key


@dataclass
class Load:
    base: str
    key: str
    timings: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    failed: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)  # message ids answered with 200
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: int = 0

    def run(self, seconds: float, threads: int = 3, timeout: float = 15) -> "Load":
        """Every thread sends an entry page, an opt-in and a batch in turn for `seconds`."""
        cookie, token = self._csrf()
        stop = time.monotonic() + seconds
        senders = [threading.Thread(target=self._send, args=(n, stop, cookie, token, timeout))
                   for n in range(threads)]  # fmt: skip
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        return self

    def _send(self, n: int, stop: float, cookie: str, token: str, timeout: float) -> None:
        while time.monotonic() < stop:
            with self._lock:
                self._counter += 1
                i = self._counter
            email = f"stall{n}.{i}.{time.monotonic_ns()}@example.test"
            ids = [f"stall-{n}-{i}-{time.monotonic_ns()}-{j}" for j in range(5)]
            batch = {"batch": [{"type": "track", "event": "Stall load", "messageId": m,
                                "anonymousId": f"stall-{n}-{i}",
                                "context": {"userAgent": UA}} for m in ids]}  # fmt: skip
            auth = "Basic " + base64.b64encode(f"{self.key}:".encode()).decode()
            asks = {
                "entry": urllib.request.Request(self.base + "/f/b2b-ladder/",
                                                headers={"User-Agent": UA}),
                "optin": urllib.request.Request(
                    self.base + "/f/solo-ad/", method="POST",
                    data=f"csrfmiddlewaretoken={token}&email={email}".encode(),
                    headers={"User-Agent": UA, "Cookie": f"csrftoken={cookie}",
                             "Content-Type": "application/x-www-form-urlencoded"}),
                "batch": urllib.request.Request(
                    self.base + "/v1/batch", method="POST", data=json.dumps(batch).encode(),
                    headers={"Authorization": auth, "Content-Type": "application/json",
                             "User-Agent": UA}),
            }  # fmt: skip
            for kind, ask in asks.items():
                t0 = time.perf_counter()
                try:
                    with urllib.request.urlopen(ask, timeout=timeout) as answer:  # noqa: S310
                        answer.read()
                        ok = answer.status in (200, 302)
                except urllib.error.HTTPError as refused:
                    ok = refused.code in (302, 303)
                except OSError as exc:
                    ok = False
                    self.failed.append(f"{kind}: {exc}")
                seconds = time.perf_counter() - t0
                with self._lock:
                    self.timings[kind].append(seconds)
                    if not ok:
                        self.failed.append(f"{kind}: not answered in {seconds:.1f} s")
                    elif kind == "batch":
                        self.acknowledged.extend(ids)

    def _csrf(self) -> tuple[str, str]:
        ask = urllib.request.Request(self.base + "/f/solo-ad/", headers={"User-Agent": UA})
        with urllib.request.urlopen(ask, timeout=30) as answer:  # noqa: S310 (loopback)
            cookies = " ".join(answer.headers.get_all("Set-Cookie") or [])
            page = answer.read().decode()
        cookie = re.search(r"csrftoken=([^;]+)", cookies).group(1)
        return cookie, re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def every(self) -> list[float]:
        return [t for kind in KINDS for t in self.timings[kind]]

    def p99(self, kind: str | None = None) -> float:
        found = sorted(self.timings[kind] if kind else self.every())
        return found[min(len(found) - 1, int(len(found) * 0.99))] if found else float("nan")

    def summary(self) -> str:
        parts = [f"{kind} p50 {statistics.median(self.timings[kind]) * 1000:.0f} ms "
                 f"p99 {self.p99(kind) * 1000:.0f} ms max {max(self.timings[kind]) * 1000:.0f} "
                 f"ms (n={len(self.timings[kind])})"
                 for kind in KINDS if self.timings[kind]]  # fmt: skip
        return "; ".join(parts)
