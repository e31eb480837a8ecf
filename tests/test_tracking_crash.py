"""Threat 4: the server is killed with SIGKILL in the middle of a load of batches. Every batch
it acknowledged with a 200 is in the database afterwards (the embedded default, SQLite)."""

import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from tests.conftest import run_cli
from yesladder.localserver import free_port, wait_until_up


def send_until_refused(base: str, key: str, sender: int, acked: list, stop: threading.Event):
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    for n in range(10**6):
        if stop.is_set():
            return
        ids = [f"s{sender}-b{n}-m{i}" for i in range(50)]
        batch = [{"type": "track", "event": "Load", "anonymousId": f"v{sender}-{i % 5}",
                  "messageId": message_id} for i, message_id in enumerate(ids)]  # fmt: skip
        request = urllib.request.Request(
            f"{base}/v1/batch", data=json.dumps({"batch": batch}).encode(),
            headers={"Authorization": auth, "Content-Type": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (loopback)
                if answer.status == 200:
                    acked.extend(ids)
        except (urllib.error.URLError, ConnectionError, OSError):
            return  # the server is gone: this batch was never acknowledged


def test_sigkill_loses_no_acknowledged_event(tmp_path):
    home = tmp_path / "home"
    key = (
        run_cli("writekey", "create", "load", home=home, check=True)
        .stdout.split("Write key for load: ")[1]
        .split()[0]
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    server = subprocess.Popen(
        [sys.executable, "-m", "yesladder.cli", "serve", "--port", str(port), "--workers", "2"],
        env={**env, "YESLADDER_HOME": str(home), "YESLADDER_API_EVENTS_PER_SECOND": "1000000",
             "YESLADDER_API_BURST": "1000000"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base + "/static/yesladder/yl.js", server, timeout=60)
        acked: list[str] = []
        stop = threading.Event()
        senders = [
            threading.Thread(target=send_until_refused, args=(base, key, s, acked, stop))
            for s in range(8)
        ]
        for sender in senders:
            sender.start()
        deadline = time.monotonic() + 30
        while len(acked) < 5_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(server.pid, signal.SIGKILL)  # the server and its workers, mid-load
        server.wait(timeout=30)
        stop.set()
        for sender in senders:
            sender.join(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)

    assert len(acked) >= 5_000, "the load did not get going"
    with sqlite3.connect(home / "yesladder.sqlite3") as db:
        stored = {
            row[0].split(":", 1)[1] for row in db.execute("SELECT message_id FROM tracking_event")
        }
    lost = set(acked) - stored
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged events were lost"
