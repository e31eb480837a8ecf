"""Health and metrics (issue 34): /healthz answers without the database, /readyz reports the
database, migrations, the worker's heartbeat and the queues without anything secret, /metrics
is Prometheus text behind a bearer token, and counts from every process of `serve --workers 2`
and its worker add up."""

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
import time_machine
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import run_cli
from yesladder.automation import outbox, worker
from yesladder.leads.models import Lead
from yesladder.localserver import local_server
from yesladder.operations import health
from yesladder.operations.models import Heartbeat

EVE = dt.datetime(2026, 12, 31, 23, 59, 30, tzinfo=dt.UTC)  # New Year's Eve, on purpose
TOKEN = "s3cret-metrics-token-of-the-test"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape, by name and sorted labels, parsed by prometheus_client."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_healthz_answers_without_the_database(client):
    answer = client.get("/healthz")  # no django_db mark: a query would fail the test
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert "no-cache" in answer["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_worker_and_queues_and_nothing_secret(client):
    lead = Lead.objects.create(email="secret.person@example.com")
    with time_machine.travel(EVE - dt.timedelta(minutes=5), tick=False):
        health.beat()
        draft = outbox.Draft(key="k1", to=lead.email, subject="Hi", text="t", html="<p>t</p>",
                             template="tip", marketing=False)  # fmt: skip
        outbox.enqueue(draft, lead=lead)
    with time_machine.travel(EVE, tick=False):
        answer = client.get("/readyz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["ready"] is True and body["database"] == "ok"
    assert body["migrations"] == "applied"
    assert body["worker"] == {"last_tick_seconds_ago": 300.0, "late": True}
    assert body["emails"] == {"due": 1, "oldest_due_seconds": 300.0, "dead": 0}
    assert body["webhooks"] == {"due": 0, "oldest_due_seconds": None, "dead": 0}
    text = answer.content.decode()
    for secret in ("secret.person", worker.WORKER.split(":")[0], "example.com"):
        assert secret not in text

    with time_machine.travel(EVE, tick=False):
        health.beat()
        assert Heartbeat.objects.get(name="worker").at == EVE
        assert client.get("/readyz").json()["worker"] == {"last_tick_seconds_ago": 0.0,
                                                          "late": False}  # fmt: skip


def test_readyz_is_503_while_migrations_are_pending(tmp_path):
    """A fresh data directory whose tables were never made: not ready, and it says what to do."""
    code = textwrap.dedent(
        """
        import django, json
        django.setup()
        from django.test import Client
        answer = Client(HTTP_HOST="localhost").get("/readyz")
        print(answer.status_code, json.dumps(answer.json()))
        """
    )
    env = {"YESLADDER_HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "yesladder.settings",
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    status, _, body = result.stdout.strip().partition(" ")
    assert status == "503"
    assert '"migrations": "pending: run `yesladder migrate`"' in body


@pytest.mark.django_db
def test_metrics_needs_the_bearer_token_and_leaks_nothing_without_it(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404  # off until a token is set
    settings.METRICS_TOKEN = TOKEN
    for header in ({}, {"HTTP_AUTHORIZATION": "Bearer wrong"},
                   {"HTTP_AUTHORIZATION": f"Basic {TOKEN}"}):  # fmt: skip
        answer = client.get("/metrics", **header)
        assert answer.status_code == 401
        assert answer.content == b"Unauthorized\n"
        assert answer["WWW-Authenticate"] == 'Bearer realm="metrics"'
    answer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answer.status_code == 200
    found = samples(answer.content.decode())
    assert found[("yesladder_database_up", ())] == 1
    assert found[("yesladder_outbox_due", (("queue", "emails"),))] == 0


@pytest.mark.django_db
def test_metrics_count_requests_by_route_and_tracking_by_outcome(client, settings, tracker):
    settings.METRICS_TOKEN = TOKEN
    before = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())
    client.get("/healthz")
    client.get("/no/such/page")
    good = {"type": "track", "event": "Signed Up", "anonymousId": "a1", "messageId": "m1"}
    bad = {"type": "track", "anonymousId": "a1", "messageId": "m2"}  # no event name
    assert tracker.post("batch", {"batch": [good, bad]}).status_code == 200
    assert tracker.post("track", {}, key="nope").status_code == 401
    after = samples(client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode())

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("yesladder_http_requests_total", route="operations", status="200") == 2
    assert grew("yesladder_http_requests_total", route="unmatched", status="404") == 1
    assert grew("yesladder_http_requests_total", route="tracking", status="200") == 1
    assert grew("yesladder_http_request_duration_seconds_count", route="tracking") == 2
    assert grew("yesladder_tracking_messages_total", outcome="accepted", reason="") == 1
    assert grew("yesladder_tracking_messages_total", outcome="refused",
                reason="invalid_message") == 1  # fmt: skip
    assert grew("yesladder_tracking_messages_total", outcome="refused",
                reason="invalid_write_key") == 1  # fmt: skip


QUEUE_ONE = textwrap.dedent(
    """
    import django
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from yesladder.automation import outbox
    from yesladder.leads.models import Lead
    lead = Lead.objects.create(email="ada@example.com")
    outbox.enqueue(outbox.Draft(key="one", to=lead.email, subject="Hi", text="t", html="t",
                                template="tip", marketing=False), lead=lead)
    """
)


def test_metrics_add_up_every_process_of_serve_and_its_worker(tmp_path):
    """Two web processes answer 40 requests between them; the worker beside them sends one
    email. One scrape of either web process counts all of it."""
    home = tmp_path / "home"
    # The embedded default also under a PostgreSQL run: what is tested is the processes.
    env = {"YESLADDER_HOME": str(home), "YESLADDER_METRICS_TOKEN": TOKEN, "DATABASE_URL": "",
           "YESLADDER_WORKER_INTERVAL_MS": "50"}  # fmt: skip
    run_cli("migrate", home=home, check=True)
    setup_env = {**run_env(home), "DJANGO_SETTINGS_MODULE": "yesladder.settings"}
    subprocess.run([sys.executable, "-c", QUEUE_ONE], check=True, timeout=120, env=setup_env)
    with local_server(env, workers=2) as base:
        for _ in range(40):
            with urllib.request.urlopen(base + "/healthz", timeout=10) as answer:  # noqa: S310
                assert answer.status == 200
        found = {}
        for _ in range(100):  # the worker's first rounds: a beat, then the email
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            scrape = urllib.request.Request(base + "/metrics", headers=bearer)
            with urllib.request.urlopen(scrape, timeout=10) as answer:  # noqa: S310
                found = samples(answer.read().decode())
            if found.get(("yesladder_emails_total", (("result", "sent"),))):
                break
            time.sleep(0.1)
    route = (("route", "operations"), ("status", "200"))
    assert found[("yesladder_http_requests_total", route)] >= 40
    assert found[("yesladder_emails_total", (("result", "sent"),))] == 1
    assert found[("yesladder_worker_last_tick_timestamp_seconds", ())] > 0
    pids = {path.stem.rpartition("_")[2] for path in (home / "metrics").glob("counter_*.db")}
    assert len(pids) >= 2, "the web processes and the worker each keep their own file"


def run_env(home) -> dict:
    return {**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            "YESLADDER_HOME": str(home)}  # fmt: skip
