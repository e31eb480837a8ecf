"""Requests per second and latency of the visitor's pages on the embedded default.

    uv run python bench/pages.py [--seconds 8] [--workers 1 2] [--connections 1 16 64]

Starts `yesladder serve` on a fresh data directory (SQLite) with the example funnels loaded, then
from loopback, for each number of concurrent keep-alive connections:
- the entry page of b2b-ladder, each request a new visitor (no cookie: a visitor, a journey and
  a `step_viewed` event are written, the Markdown guide is rendered);
- the opt-in POST of solo-ad, each a new visitor giving a new email from its own address (a
  visitor, a lead, a consent record, three events, the per-address limit's counter, and the
  double opt-in confirmation email written to a file).
Prints a table; docs/benchmarks.md keeps the figures. The client is one asyncio thread sharing the
same two cores as the server, so the figures are a floor for the server alone.
"""

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from yesladder.localserver import local_server

ROOT = Path(__file__).resolve().parent.parent
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"


def load_examples(home: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    files = [str(ROOT / "examples" / f) for f in ("b2b-ladder.yaml", "solo-ad.yaml")]
    subprocess.run(
        [sys.executable, "-m", "yesladder.cli", "load", *files],
        env={**env, "YESLADDER_HOME": home}, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def csrf_pair(port: int) -> tuple[str, str]:
    """One CSRF cookie and a form token for it; Django accepts the pair for every POST."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/f/solo-ad/", headers={"User-Agent": UA}
    )
    with urllib.request.urlopen(request) as response:
        cookies = " ".join(response.headers.get_all("Set-Cookie") or [])
        cookie = re.search(r"csrftoken=([^;]+)", cookies).group(1)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.read().decode())
    return cookie, token.group(1)


class Load:
    """Keep-alive HTTP/1.1 connections sending requests back to back for a fixed time."""

    def __init__(self, port: int, make_request, seconds: float):
        self.port, self.make_request, self.seconds = port, make_request, seconds
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.counter = 0

    async def connection(self, deadline: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        while time.perf_counter() < deadline:
            self.counter += 1
            started = time.perf_counter()
            writer.write(self.make_request(self.counter))
            status = await read_response(reader)
            self.latencies.append(time.perf_counter() - started)
            self.statuses[status] = self.statuses.get(status, 0) + 1
        writer.close()

    async def run(self, connections: int) -> dict:
        deadline = time.perf_counter() + self.seconds
        began = time.perf_counter()
        await asyncio.gather(*(self.connection(deadline) for _ in range(connections)))
        elapsed = time.perf_counter() - began
        ordered = sorted(self.latencies)
        return {
            "rps": len(ordered) / elapsed,
            "p50": statistics.median(ordered) * 1000,
            "p99": ordered[int(len(ordered) * 0.99) - 1] * 1000,
            "requests": len(ordered),
            "statuses": self.statuses,
        }


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if length:
        await reader.readexactly(int(length.group(1)))
    elif re.search(rb"(?i)\r\ntransfer-encoding: *chunked", head):
        while True:
            size = int((await reader.readline()).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


def entry_request(port: int):
    raw = (f"GET /f/b2b-ladder/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {UA}\r\n"
           "Accept: text/html\r\n\r\n").encode()  # fmt: skip
    return lambda n: raw


def optin_request(port: int, cookie: str, token: str):
    def make(n: int) -> bytes:
        body = f"csrfmiddlewaretoken={token}&email=bench{n}.{time.time_ns()}%40example.test"
        address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        return (
            f"POST /f/solo-ad/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: {UA}\r\n"
            f"Cookie: csrftoken={cookie}\r\nX-Forwarded-For: {address}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 16, 64])
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores; {args.seconds:g} s per run; embedded SQLite; client on loopback"
    )
    header = ("workers", "page", "conns", "req/s", "p50 ms", "p99 ms")
    print("{:>7} {:<12} {:>5} {:>8} {:>8} {:>8}  statuses".format(*header))
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as home:
            load_examples(home)
            env = {"YESLADDER_HOME": home, "DATABASE_URL": "", "YESLADDER_TRUSTED_PROXIES": "1",
                   "YESLADDER_LOG_LEVEL": "ERROR"}  # fmt: skip
            with local_server(env, workers) as base:
                port = int(base.rpartition(":")[2])
                cookie, token = csrf_pair(port)
                pages = [("entry GET", entry_request(port)),
                         ("opt-in POST", optin_request(port, cookie, token))]  # fmt: skip
                for name, make in pages:
                    for connections in args.connections:
                        result = asyncio.run(Load(port, make, args.seconds).run(connections))
                        print(
                            f"{workers:>7} {name:<12} {connections:>5} {result['rps']:>8.0f} "
                            f"{result['p50']:>8.1f} {result['p99']:>8.1f}  {result['statuses']}",
                            flush=True,
                        )


if __name__ == "__main__":
    main()
