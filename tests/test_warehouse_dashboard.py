"""The dashboard's funnel pages say how far behind the event log the ClickHouse store is, read
from the primary database only: a store that is down shows its error, never slows or breaks the
page; no store set up, no line."""

import datetime as dt
import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from tests.conftest import funnel_dict, sourced_from
from yesladder.events import EventName
from yesladder.funnels.services import load_funnel
from yesladder.leads.services import new_visitor
from yesladder.localserver import free_port
from yesladder.tracking.journeys import current_version
from yesladder.tracking.services import record
from yesladder.warehouse.config import parse
from yesladder.warehouse.shipping import ship_round

pytestmark = pytest.mark.django_db(transaction=True)
T0 = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)
PAGES = ("/dashboard/funnels/", "/dashboard/funnels/clean/")


@pytest.fixture
def staff() -> Client:
    load_funnel(sourced_from(funnel_dict()))
    version = current_version("clean")
    visitor = new_visitor("Mozilla/5.0 (X11; Linux x86_64)", "https://e.com/", "", {})
    for i, step in enumerate(["guide", "checklist", "score"]):
        record(EventName.STEP_VIEWED, visitor, version, step,
               occurred_at=T0 + dt.timedelta(minutes=i))  # fmt: skip
    client = Client()
    client.force_login(User.objects.create_user("staff", password="pw-staff-1234", is_staff=True))
    return client


def pages(client: Client) -> list[str]:
    found = [client.get(page) for page in PAGES]
    assert [r.status_code for r in found] == [200, 200]
    return [r.content.decode() for r in found]


def test_no_store_no_line(staff, settings):
    settings.CLICKHOUSE = None
    assert all("ClickHouse store" not in page for page in pages(staff))


def test_a_store_that_is_down_shows_how_far_behind_and_why(staff, settings):
    settings.CLICKHOUSE = parse(f"clickhouse://127.0.0.1:{free_port()}/nowhere")
    assert ship_round() == 0  # the worker's turn fails and keeps the error
    for page in pages(staff):
        assert "behind the event log" in page
        assert "3 events and 0 identity changes not shipped yet" in page
        assert "last error: ClickHouse at 127.0.0.1" in page


def test_a_synced_store_is_caught_up(staff, clickhouse):
    call_command("clickhouse", "sync", "--settle", "0", stdout=io.StringIO())
    for page in pages(staff):
        assert f"ClickHouse store ({clickhouse.where()}): caught up with the event log" in page
