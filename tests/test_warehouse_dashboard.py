"""The dashboard's funnel pages say how far behind the event log the ClickHouse store is, read
from the primary database only: a store that is down shows its error, never slows or breaks the
page; no store set up, no line. The funnel page answers from the store when it keeps up, with
the embedded engine's numbers, and from the embedded engine, saying why, when it does not."""

import datetime as dt
import html
import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.conftest import funnel_dict, sourced_from
from tests.staff import member
from yesladder.events import EventName
from yesladder.funnels.models import current_version
from yesladder.funnels.services import load_funnel
from yesladder.leads.services import new_visitor
from yesladder.localserver import free_port
from yesladder.tracking.models import Event
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
    client.force_login(member("staff", "owner"))
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


# --- the funnel page answered from the store -----------------------------------------------

QUESTIONS = ("", "?by=source", "?by=device&touch=last", "?by=variant&version=1",
             "?since=2026-10-05&until=2026-10-05&by=cohort")  # fmt: skip


def answered(client: Client, question: str) -> tuple[list, str, bytes]:
    """The page's tables of cells, its line about the engine, and the CSV download."""
    page = client.get(f"/dashboard/funnels/clean/{question}")
    assert page.status_code == 200
    csv = client.get(f"/dashboard/funnels/clean/export.csv{question}")
    assert page.context["engine"] in html.unescape(page.content.decode())
    return [s.table for s in page.context["page"].sections], page.context["engine"], csv.content


@pytest.fixture
def crowded(settings):
    """The random crowd of the report's comparison: stitching after shipping, ties, edges."""
    import random

    from tests.test_warehouse_report import funnel, scene, stitch_some
    from yesladder.warehouse.shipping import Shipper

    rng, crowd, leads = random.Random(4), [], []
    version = funnel()
    scene(rng, version, 25, 0, crowd)
    Shipper(settings.CLICKHOUSE, settle=0).sync()
    stitch_some(rng, crowd, leads)
    scene(rng, version, 15, 1, crowd)
    Shipper(settings.CLICKHOUSE, settle=0).sync()
    client = Client()
    client.force_login(member("staff", "owner"))
    return client


def test_the_funnel_page_answers_from_clickhouse_with_the_embedded_numbers(
    clickhouse, crowded, settings
):
    for question in QUESTIONS:
        tables, engine, csv = answered(crowded, question)
        assert engine == "These numbers are from ClickHouse.", question
        settings.CLICKHOUSE = None
        embedded = answered(crowded, question)
        settings.CLICKHOUSE = clickhouse
        assert (tables, csv) == (embedded[0], embedded[2]), question
        assert embedded[1] == ""  # no store, no line


def test_a_store_that_does_not_answer_leaves_the_page_to_the_embedded_engine(staff, settings):
    settings.CLICKHOUSE = None
    embedded, _, _ = answered(staff, "?by=source")
    settings.CLICKHOUSE = parse(f"clickhouse://127.0.0.1:{free_port()}/nowhere")
    tables, engine, _ = answered(staff, "?by=source")  # never shipped: nothing says it is down
    assert engine.startswith("These numbers are from the embedded engine: ClickHouse did not "
                             "answer (ClickHouse at 127.0.0.1")  # fmt: skip
    assert tables == embedded
    ship_round()  # now the worker's turn has failed: the page does not even try
    assert answered(staff, "?by=source")[1] == (
        "These numbers are from the embedded engine: the store's last shipping or query failed."
    )


def test_a_store_too_far_behind_leaves_the_page_to_the_embedded_engine(staff, clickhouse,
                                                                       settings):  # fmt: skip
    settings.CLICKHOUSE_MAX_LAG_SECONDS = 60
    Event.objects.update(received_at=timezone.now() - dt.timedelta(minutes=5))
    assert answered(staff, "")[1] == (
        "These numbers are from the embedded engine: the store is more than 60 s behind the "
        "event log."
    )
    call_command("clickhouse", "sync", "--settle", "0", stdout=io.StringIO())
    assert answered(staff, "")[1] == "These numbers are from ClickHouse."
