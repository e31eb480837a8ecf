"""One line for every bad setting (issue 29, item 4): each environment variable and each
command-line option is checked where it is read; a bad value exits non-zero with one line on
stderr that names it, says what is wrong and gives an example of a good value, never a
traceback (clickhouse-driver's own logged tracebacks included)."""

import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from yesladder.localserver import free_port

URL = "YESLADDER_CLICKHOUSE_URL"
# (variable, value, what the line must name): each run as `yesladder funnels`.
SETTINGS = [
    ("YESLADDER_DEBUG", "sometimes", "YESLADDER_DEBUG='sometimes'"),
    ("YESLADDER_HTTPS", "maybe", "YESLADDER_HTTPS="),
    ("YESLADDER_SQLITE_TIMEOUT", "abc", "YESLADDER_SQLITE_TIMEOUT='abc'"),
    ("YESLADDER_CLICKHOUSE_SHIP_SECONDS", "-1", "YESLADDER_CLICKHOUSE_SHIP_SECONDS='-1'"),
    ("YESLADDER_CLICKHOUSE_MAX_LAG_SECONDS", "abc", "YESLADDER_CLICKHOUSE_MAX_LAG_SECONDS="),
    ("YESLADDER_CLICKHOUSE_CONNECT_TIMEOUT", "0", "YESLADDER_CLICKHOUSE_CONNECT_TIMEOUT="),
    ("YESLADDER_CLICKHOUSE_TIMEOUT", "nan", "YESLADDER_CLICKHOUSE_TIMEOUT="),
    (URL, "notaurl", f"{URL}='notaurl'"),
    (URL, "clickhouse://", f"{URL}='clickhouse://' names no host"),
    (URL, "clickhouse://h:notaport/db", "port"),
    (URL, "ftp://h/db", "must start with clickhouse://"),
    (URL, "clickhouse://h:99999/db", "port"),
    (URL, "clickhouse://h/it's", "database"),
    (URL, "[::1", URL),
    (URL, "clickhouse://[::1/db", "is not a URL"),
    (URL, "clickhouse://u:hunter2@h:0x/db", "clickhouse://u:…@h:0x/db"),  # no password shown
    ("YESLADDER_CLICKHOUSE_CLUSTER", "events", "YESLADDER_CLICKHOUSE_CLUSTER is set without"),
    ("DATABASE_URL", "bogus://x", "DATABASE_URL='bogus://x' is not a PostgreSQL URL"),
    ("DATABASE_URL", "postgres://u:hunter2@db:5432", "DATABASE_URL='postgres://u:…@db:5432'"),
    ("YESLADDER_HOME", "/proc/no/such", "YESLADDER_HOME='/proc/no/such' cannot be used"),
    ("YESLADDER_LOG_LEVEL", "loud", "YESLADDER_LOG_LEVEL='LOUD'"),
    ("YESLADDER_BASE_URL", "go.example.com", "YESLADDER_BASE_URL='go.example.com'"),
    ("YESLADDER_CSRF_TRUSTED_ORIGINS", "go.example.com", "YESLADDER_CSRF_TRUSTED_ORIGINS="),
    ("YESLADDER_TEAM_EMAILS", "sales,ops@example.com", "YESLADDER_TEAM_EMAILS='sales'"),
    ("YESLADDER_FROM_EMAIL", "nobody", "YESLADDER_FROM_EMAIL='nobody'"),
    ("YESLADDER_PAYMENTS", "paypal", "YESLADDER_PAYMENTS='paypal'"),
    ("YESLADDER_EMAIL_BACKEND", "smtp please", "YESLADDER_EMAIL_BACKEND="),
    ("YESLADDER_BOUNCE_WEBHOOK_SECRET", "nocolon", "YESLADDER_BOUNCE_WEBHOOK_SECRET="),
    ("YESLADDER_TRUSTED_PROXIES", "-1", "YESLADDER_TRUSTED_PROXIES="),
    ("YESLADDER_WORKER_INTERVAL_MS", "5", "YESLADDER_WORKER_INTERVAL_MS="),
    ("YESLADDER_API_BURST", "lots", "YESLADDER_API_BURST='lots'"),
    ("YESLADDER_OUTBOX_MAX_ATTEMPTS", "0", "YESLADDER_OUTBOX_MAX_ATTEMPTS="),
    ("YESLADDER_STRIPE_API_BASE", "stripe", "YESLADDER_STRIPE_API_BASE="),
    ("EMAIL_PORT", "smtp", "EMAIL_PORT='smtp'"),
]
# (arguments, what the line must name)
OPTIONS = [
    (["report", "x", "--since", "2026-13-01"], "argument --since: '2026-13-01'"),
    (["report", "x", "--until", "yesterday"], "argument --until: 'yesterday'"),
    (["report", "x", "--only-version", "0"], "argument --only-version"),
    (["report", "x", "--by", "mood"], "argument --by"),
    (["clickhouse", "sync", "--settle", "-5"], "argument --settle: '-5'"),
    (["clickhouse", "sync", "--settle", "inf"], "argument --settle"),
    (["serve", "--port", "99999"], "argument --port: '99999'"),
    (["serve", "--workers", "0"], "argument --workers"),
    (["demo", "--days", "-1"], "argument --days"),
    (["simulate", "x", "--concurrency", "0"], "argument --concurrency"),
    (["experiment", "plan", "f", "e", "--daily", "0"], "argument --daily"),
    (["hooks", "deliveries", "--limit", "0"], "argument --limit"),
    (["lint", "--format", "yaml", "examples"], "argument --format"),
]


def run(home, args, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    environ.update({"YESLADDER_HOME": str(home), **env})
    return subprocess.run([sys.executable, "-m", "yesladder.cli", *args], env=environ,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def one_line_problem(done: subprocess.CompletedProcess, named: str) -> str:
    """ "" when the run failed as it should, else what is wrong with how it failed."""
    lines = done.stderr.strip().splitlines()
    if done.returncode == 0:
        return "exit code 0"
    if "Traceback" in done.stderr or len(lines) != 1:
        return f"{len(lines)} lines on stderr: {done.stderr[-600:]}"
    if named not in lines[0]:
        return f"does not name {named!r}: {lines[0]}"
    if "e.g." not in lines[0] and "choose from" not in lines[0]:
        return f"no example of a good value: {lines[0]}"
    return ""


def test_every_bad_setting_is_one_line(tmp_path):
    """Each in a process of its own: settings are read once, at start-up."""
    runs = [(f"{name}={value}", {name: value}, named) for name, value, named in SETTINGS]
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda r: run(tmp_path / "home", ["funnels"], **r[1]), runs))
    problems = [f"{what}: {problem}" for (what, _, named), d in zip(runs, done, strict=True)
                if (problem := one_line_problem(d, named))]  # fmt: skip
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
@pytest.mark.parametrize("args, named", OPTIONS, ids=[" ".join(a) for a, _ in OPTIONS])
def test_every_bad_option_is_one_line(capsys, args, named):
    """The `yesladder` entry point, in this process (options are read per command)."""
    from yesladder.cli import main

    try:
        code = main(args)
    except SystemExit as exit:
        code = exit.code
    found = capsys.readouterr()
    problem = one_line_problem(subprocess.CompletedProcess(args, code, found.out, found.err), named)
    assert not problem, problem


def test_a_locked_database_is_one_line(tmp_path):
    home = tmp_path / "home"
    assert run(home, ["migrate"]).returncode == 0
    holder = sqlite3.connect(home / "yesladder.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        done = run(home, ["writekey", "create", "blog"], YESLADDER_SQLITE_TIMEOUT="1")
    finally:
        holder.execute("ROLLBACK")
    assert one_line_problem(done, "database is locked") == ""
    assert "YESLADDER_SQLITE_TIMEOUT" in done.stderr


@pytest.mark.parametrize("action", ["status", "sync"])
def test_the_drivers_tracebacks_are_silenced(tmp_path, action):
    done = run(tmp_path / "home", ["clickhouse", action],
               YESLADDER_CLICKHOUSE_URL=f"clickhouse://127.0.0.1:{free_port()}/db")  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and "connection refused" in lines[0], done.stderr


def test_an_event_name_over_200_characters_is_refused_as_the_docs_say(tracker):
    from pathlib import Path

    long = "x" * 201
    answer = tracker.post("track", {"type": "track", "event": long, "anonymousId": "a"})
    assert answer.status_code == 400 and "event" in answer.content.decode()
    docs = (Path(__file__).resolve().parent.parent / "docs" / "tracking.md").read_text()
    assert "longer than 200 characters are refused" in docs
    assert tracker.post("track", {"type": "track", "event": "x" * 200,
                                  "anonymousId": "a"}).status_code == 200  # fmt: skip
