"""`yesladder demo` on a clean data directory: examples loaded, visitors simulated over real HTTP
and spread over past days, a staff user printed, and the printed pages answer when served."""

import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import run_cli
from yesladder.localserver import free_port


def get(url: str) -> int:
    request = urllib.request.Request(url, headers={"User-Agent": "Mozilla/5.0 Firefox/131.0"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


@pytest.fixture
def served(tmp_path):
    """Serve a data directory on a free port; yields the base address."""
    processes = []

    def serve(home):
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        process = subprocess.Popen(
            [sys.executable, "-m", "yesladder.cli", "serve", "--port", str(port)],
            env={**env, "YESLADDER_HOME": str(home)},
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        processes.append(process)
        line = process.stdout.readline()  # the one line that says where to open it
        assert f"http://127.0.0.1:{port}/f/" in line
        for _ in range(100):
            try:
                get(f"http://127.0.0.1:{port}/static/yesladder/ladder.css")
                break
            except OSError:
                time.sleep(0.1)
        return f"http://127.0.0.1:{port}"

    yield serve
    for process in processes:
        process.terminate()
        process.wait(timeout=20)


def test_demo_prepares_data_and_prints_pages_that_answer(tmp_path, served):
    done = run_cli("demo", "--visitors", "45", "--days", "20", "--no-serve", home=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "The demo is ready." in out
    # each funnel's ladder as its report counts it once trials ended, not the walkers' tallies
    assert "went on" not in out and out.count("benchmark") == 4
    assert re.search(r"^ +converted +\d+ ", out, re.M) and "After the walk: " in out
    assert out.count("By the assessment's tier") == 1 and "no score" in out  # the b2b ladder
    password = re.search(r"user demo, password (\S+)", out).group(1)
    assert len(password) >= 12
    pages = re.findall(r"http://127\.0\.0\.1:8000(/f/[\w-]+/)", out)
    assert sorted(pages) == [
        "/f/b2b-ladder/",
        "/f/business-turnaround/",
        "/f/follow-up-workshop/",
        "/f/solo-ad/",
    ]

    with sqlite3.connect(tmp_path / "yesladder.sqlite3") as db:
        journeys = db.execute("select count(*) from tracking_journey").fetchone()[0]
        oldest = db.execute("select min(occurred_at) from tracking_event").fetchone()[0]
        staff = db.execute("select is_staff from auth_user where username='demo'").fetchone()
        roles = dict(
            db.execute(
                "select u.username, g.name from auth_user u join auth_user_groups ug"
                " on ug.user_id = u.id join auth_group g on g.id = ug.group_id"
            ).fetchall()
        )
    assert journeys >= 45 and staff == (1,)
    assert roles == {"demo": "owner", "viewer": "viewer"}
    assert re.search(r"user viewer, password \S{12,}", out)
    oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
    assert oldest < datetime.now(UTC) - timedelta(days=1)  # spread over past days

    base = served(tmp_path)
    for page in pages:
        assert get(base + page) == 200
    assert get(base + "/admin/login/") == 200

    again = run_cli("demo", "--visitors", "45", "--no-serve", home=tmp_path)
    assert again.returncode == 0 and "Visitors through" not in again.stdout  # data kept
