"""A `yesladder serve` of our own on loopback, for the demo's synthetic crowd and benchmarks."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

PROBE = "/healthz"  # answers without a visitor or the database, and over plain http


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def local_server(
    env: dict[str, str],
    workers: int = 1,
    timeout: float = 60,
    threads: int = 2,
    follow_ups: bool = True,
) -> Iterator[str]:
    """Serve in a child process with `env` added to ours; yields its base address. Without
    `follow_ups` no worker runs beside it (the caller sends the outbox itself)."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "yesladder.cli", "serve", "--port", str(port),
         "--workers", str(workers), "--threads", str(threads),
         *([] if follow_ups else ["--no-worker"])],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + PROBE, server, timeout)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_until_up(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server stopped at start-up; run `yesladder serve` to see why")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (loopback, http)
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer on {url} within {timeout:.0f} s")
