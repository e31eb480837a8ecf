"""`yesladder check --deploy` (issue 34): Django's deployment checks and yesladder's own, each
with what to do; a fresh laptop gets a list and exit 1, never a traceback; `--format json`;
a production setup passes."""

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
import time_machine

from tests.conftest import funnel_dict, run_cli
from yesladder.localserver import free_port
from yesladder.operations import checks, health
from yesladder.warehouse import config as warehouse_config

PRODUCTION = {
    "YESLADDER_ALLOWED_HOSTS": "go.example.com,127.0.0.1",
    "YESLADDER_BASE_URL": "https://go.example.com",
    "YESLADDER_CSRF_TRUSTED_ORIGINS": "https://go.example.com",
    "YESLADDER_HTTPS": "true",
    "YESLADDER_TRUSTED_PROXIES": "1",
    "EMAIL_HOST": "smtp.example.com",
    "YESLADDER_METRICS_TOKEN": "a-long-random-token-for-prometheus-0123456789",
    "YESLADDER_BACKUP_EVERY": "1d",
}


def test_a_fresh_laptop_gets_the_list_of_what_is_missing_and_exit_1(tmp_path):
    done = run_cli("check", "--deploy", home=tmp_path / "fresh")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    expected = ["yesladder.E002", "yesladder.E004", "yesladder.E006", "yesladder.E007",
                "yesladder.E013", "HINT: Run `yesladder migrate`.", "security.W004"]  # fmt: skip
    for said in expected:
        assert said in done.stderr, said


def test_json_lists_each_finding_with_its_hint_and_a_production_setup_passes(tmp_path):
    home = tmp_path / "home"
    run_cli("migrate", "-v0", home=home, check=True)
    laptop = run_cli("check", "--deploy", "--format", "json", home=home)
    assert laptop.returncode == 1
    found = {row["id"]: row for row in json.loads(laptop.stdout)}
    assert found["yesladder.E004"]["level"] == "error"
    assert found["yesladder.E004"]["hint"].startswith("Set the public address")
    assert found["yesladder.W003"]["level"] == "warning"  # no worker ran yet

    run_cli("worker", "--once", home=home, check=True)  # its first round beats
    production = _run_with(home, PRODUCTION)
    assert production.returncode == 0, production.stdout + production.stderr
    # Left to the operator: HSTS for every subdomain, and the browsers' preload list.
    left = {row["id"] for row in json.loads(production.stdout)}
    assert left <= {"security.W005", "security.W021"}


def _run_with(home, env: dict):
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environ.update(env, YESLADDER_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "yesladder.cli", "check", "--deploy",
                           "--format", "json"], env=environ, capture_output=True, text=True,
                          timeout=120)  # fmt: skip


def ids(found) -> set[str]:
    return {message.id for message in found}


@pytest.fixture
def production(settings):
    settings.ALLOWED_HOSTS = ["go.example.com", "127.0.0.1"]
    settings.BASE_URL = "https://go.example.com"
    settings.HTTPS = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.METRICS_TOKEN = "token"
    settings.BACKUP_EVERY = 86400
    return settings


EVE = dt.datetime(2026, 12, 31, 23, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_the_worker_s_heartbeat_must_be_recent(production):
    assert "yesladder.W003" in ids(checks.deployment())  # never ran
    with time_machine.travel(EVE, tick=False):
        health.beat()
    with time_machine.travel(EVE + dt.timedelta(seconds=30), tick=False):
        assert ids(checks.deployment()) == set()
    with time_machine.travel(EVE + dt.timedelta(minutes=10), tick=False):
        late = [m for m in checks.deployment() if m.id == "yesladder.E014"]
    assert late and "10.0 minutes ago" in late[0].msg


@pytest.mark.django_db
def test_a_funnel_that_sells_needs_stripe_and_its_secrets(production):
    from tests.conftest import sourced_from
    from yesladder.funnels.services import load_funnel

    with time_machine.travel(EVE, tick=False):
        health.beat()
        load_funnel(sourced_from(funnel_dict()))  # its last step is a $290 offer
        production.PAYMENTS = ""
        assert "yesladder.W004" in ids(checks.deployment())
        production.PAYMENTS, production.STRIPE_SECRET_KEY = "stripe", "sk_test_x"
        production.STRIPE_WEBHOOK_SECRET = ""
        (error,) = [m for m in checks.deployment() if m.id == "yesladder.E015"]
        assert "YESLADDER_STRIPE_WEBHOOK_SECRET" in error.msg
        production.STRIPE_WEBHOOK_SECRET = "whsec_x"
        assert ids(checks.deployment()) == set()
        production.PAYMENTS = "test"
        assert "yesladder.E008" in ids(checks.deployment())


@pytest.mark.django_db
def test_settings_that_break_production_are_errors(production):
    production.ALLOWED_HOSTS = ["*"]
    production.BASE_URL = "http://go.example.com"
    production.CSRF_TRUSTED_ORIGINS = ["http://go.example.com"]
    production.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    found = ids(checks.deployment())
    assert {"yesladder.E002", "yesladder.E003", "yesladder.E004", "yesladder.E007"} <= found
    production.ALLOWED_HOSTS = ["other.example.com"]
    production.BASE_URL = "https://go.example.com"
    assert "yesladder.E005" in ids(checks.deployment())


@pytest.mark.django_db
def test_clickhouse_configured_but_down_is_an_error(production):
    production.CLICKHOUSE = warehouse_config.parse(f"clickhouse://127.0.0.1:{free_port()}/x", "")
    with time_machine.travel(EVE, tick=False):
        health.beat()
        (error,) = [m for m in checks.deployment() if m.id == "yesladder.E016"]
    assert "not answering" in error.msg
