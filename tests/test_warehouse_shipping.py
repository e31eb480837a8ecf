"""What the shipper hears and reads from the primary database, without a ClickHouse server:
identity changes come from the event log's seam (reactions.STITCHED), once per change that
moves rows in ClickHouse, and only while a store is set up."""

import pytest

from yesladder.events import EventName
from yesladder.leads.models import Lead
from yesladder.leads.services import new_visitor
from yesladder.tracking.identity import stitch
from yesladder.tracking.models import Event
from yesladder.tracking.services import record
from yesladder.warehouse.config import parse
from yesladder.warehouse.models import IdentityChange

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings):
    # Never reached: recording a change only asks whether a store is set up.
    settings.CLICKHOUSE = parse("clickhouse://127.0.0.1:9/nowhere")


def visitor():
    return new_visitor("Mozilla/5.0 (X11; Linux x86_64)", "https://e.com/", "", {})


def changes() -> list:
    return list(IdentityChange.objects.order_by("id").values_list("visitor_id", flat=True))


def test_a_visitor_joining_a_lead_is_one_identity_change(store):
    ada, bo = visitor(), visitor()
    record(EventName.TRACKED, ada)
    lead = Lead.objects.create(email="ada@example.com")
    stitch(ada, lead)
    stitch(bo, lead)  # no event yet: its first touch may still be the lead's
    assert changes() == [ada.pk, bo.pk]


def test_identified_again_by_the_same_lead_is_no_change(store):
    ada = visitor()
    record(EventName.TRACKED, ada)
    lead = Lead.objects.create(email="ada@example.com")
    stitch(ada, lead)
    record(EventName.TRACKED, ada)  # written with the lead already
    stitch(ada, lead)
    assert changes() == [ada.pk]


def test_anonymous_events_stitched_to_the_lead_it_has_are_a_change(store):
    """An event written while the visitor was still read as anonymous (a tracking batch racing
    the stitch) is stitched by the next identify: its copy in ClickHouse must follow."""
    ada = visitor()
    lead = Lead.objects.create(email="ada@example.com")
    stitch(ada, lead)
    late = record(EventName.TRACKED, ada)
    Event.objects.filter(pk=late.pk).update(lead=None)
    stitch(ada, lead)
    assert changes() == [ada.pk, ada.pk]


def test_no_store_no_changes_kept(settings):
    settings.CLICKHOUSE = None
    ada = visitor()
    record(EventName.TRACKED, ada)
    stitch(ada, Lead.objects.create(email="ada@example.com"))
    assert changes() == []
