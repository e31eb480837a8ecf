"""Who came to a webinar session, complete (issue 31): attendance from the join link, and staff's
attended / no-show marks on the dashboard once the session has ended; a no-show gets the replay
by email (once, through real SMTP) and can start a follow-up; attending is a rung of the report.
The same page lists the calls that ended, the ones not marked yet first."""

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import funnel_dict, journey_with_lead
from tests.staff import member
from yesladder.analytics.report import build
from yesladder.automation.models import Enrollment
from yesladder.leads.models import Lead, Visitor
from yesladder.scheduling.models import Registration
from yesladder.tracking.models import Event, Journey

MOMENT = dt.datetime(2026, 12, 6, 10, tzinfo=dt.UTC)
START = dt.datetime(2026, 12, 8, 17, tzinfo=dt.UTC)
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MOMENT, tick=False) as traveller:
        yield traveller


def webinar() -> dict:
    data = funnel_dict()
    data["steps"][3] = {
        "key": "live", "kind": "event", "title": "Live workshop", "value": "45 minutes, live",
        "cta": "Save my seat", "join_url": "https://meet.example.com/room",
        "replay_url": "https://media.example.com/replay", "attended": True,
        "sessions": [{"start": START.strftime("%Y-%m-%dT%H:%M"), "timezone": "UTC",
                      "duration": 45}],
    }  # fmt: skip
    data["automations"] = [{
        "key": "missed", "name": "Missed the workshop", "marketing": False,
        "when": {"did": {"event": "webinar_no_show"}},
        "exit": [{"did": {"event": "attended"}}],
        "do": [{"wait": "1d"}, {"email": "missed"}],
    }]  # fmt: skip
    data["emails"] = {"missed": {"subject": "Did the replay help?", "body": "Hi!"}}
    return data


def registers(email: str) -> Client:
    """A known lead takes a seat on the event's page."""
    if not Lead.objects.exists():
        journey = journey_with_lead(webinar(), email)
    else:
        first = Journey.objects.first()
        lead = Lead.objects.create(email=email)
        journey = Journey.objects.create(visitor=Visitor.objects.create(lead=lead),
                                         funnel=first.funnel, version=first.version,
                                         current_step="live")  # fmt: skip
    journey.done, journey.current_step = ["guide", "checklist", "score"], "live"
    journey.save()
    client = Client()
    client.cookies["yl_vid"] = str(journey.visitor.pk)
    for step in ("guide", "checklist", "score", "live"):  # the climb the report counts
        assert client.get(f"/f/clean/{step}/").status_code == 200
    assert client.post("/f/clean/live/", {"start": START.isoformat()}).status_code == 302
    return client


def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("staff", "staff@example.com", "pw"))
    return client


def seat_of(email: str) -> Registration:
    return Registration.objects.get(lead__email=email)


def mark(client: Client, email: str, outcome: str):
    url = f"/dashboard/funnels/clean/attendance/seats/{seat_of(email).pk}/"
    return client.post(url, {"outcome": outcome}, follow=True).content.decode()


def test_staff_mark_a_no_show_who_gets_the_replay_once(smtp, settings, clock):
    settings.BASE_URL = "http://testserver"
    ada, _ = registers("ada@example.com"), registers("bo@example.com")
    registers("cy@example.com")
    smtp.wait_for(3)
    smtp.messages.clear()
    join = re.search(r"(/s/[^/]+/join/)", ada.get("/f/clean/live/").content.decode()).group(1)
    desk = staff()
    early = mark(desk, "bo@example.com", "no_show")
    assert "mark it once it has ended" in early and not Event.objects.filter(
        name="webinar_no_show").exists()  # fmt: skip

    clock.move_to(START + dt.timedelta(minutes=5))
    assert ada.get(join)["Location"] == "https://meet.example.com/room"  # came, by the link
    clock.move_to(START + dt.timedelta(hours=1))
    page = desk.get("/dashboard/funnels/clean/attendance/").content.decode()
    assert page.count("not marked yet") == 2 and "(join link)" in page

    assert "bo@example.com: marked a no-show and sent the replay" in mark(desk, "bo@example.com",
                                                                          "no_show")  # fmt: skip
    (replay,) = smtp.wait_for(1)
    assert replay["To"] == "bo@example.com" and replay["Subject"] == "The replay: Live workshop"
    text = replay.get_body(preferencelist=("plain",)).get_content()
    assert "Watch the replay: https://media.example.com/replay" in text
    assert "Your registration: http://testserver/s/" in text
    (missed,) = Event.objects.filter(name="webinar_no_show")
    assert missed.properties["by"] == "staff" and missed.step_key == "live"
    assert Enrollment.objects.get(automation="missed").state == Enrollment.State.WAITING

    mark(desk, "bo@example.com", "no_show")  # the same mark twice: once, no second email
    assert Event.objects.filter(name="webinar_no_show").count() == 1
    assert "marked attended" in mark(desk, "bo@example.com", "attended")  # corrected
    assert "marked attended" in mark(desk, "cy@example.com", "attended")
    assert len(smtp.wait_for(2, timeout=0.5)) == 1
    assert seat_of("cy@example.com").replay_sent_at is None
    assert Enrollment.objects.get(automation="missed", lead__email="bo@example.com").state == (
        Enrollment.State.EXITED)  # fmt: skip
    assert {e.properties.get("by") for e in Event.objects.filter(name="attended")} == {
        None, "staff"}  # fmt: skip

    reached = {r.key: r.reached for r in build("clean").rungs}
    assert reached["live"] == 3 and reached["live:attended"] == 3  # the link, staff's marks

    # The admin's action is the same mark: ada, who came by the link, corrected to a no-show.
    desk.post("/admin/scheduling/registration/", {
        "action": "no_show", "_selected_action": [seat_of("ada@example.com").pk]})  # fmt: skip
    assert seat_of("ada@example.com").outcome == "no_show"
    assert smtp.wait_for(2)[1]["To"] == "ada@example.com"  # her replay


def test_the_funnel_page_leads_to_calls_not_marked_yet_and_orders_at_risk(settings, clock):
    from tests.test_call_complete import FIRST, lead_books

    clock.move_to(dt.datetime(2026, 12, 6, 10, tzinfo=dt.UTC))
    lead_books(settings)
    desk = staff()
    funnel = desk.get("/dashboard/funnels/clean/").content.decode()
    assert "/dashboard/funnels/clean/orders-at-risk/" in funnel
    assert "/dashboard/funnels/clean/attendance/" in funnel
    page = desk.get("/dashboard/funnels/clean/attendance/").content.decode()
    assert "No call of this funnel ended" in page  # not over yet

    clock.move_to(FIRST + dt.timedelta(minutes=30))
    page = desk.get("/dashboard/funnels/clean/attendance/").content.decode()
    assert "(1 not marked yet)" in page and "ada@example.com" in page
    booking_id = re.search(r"/attendance/calls/(\d+)/", page).group(1)
    url = f"/dashboard/funnels/clean/attendance/calls/{booking_id}/"
    assert (
        "marked a no-show" in desk.post(url, {"outcome": "no_show"}, follow=True).content.decode()
    )
    assert "Choose attended or no-show" in desk.post(url, {"outcome": "x"}, follow=True
                                                     ).content.decode()  # fmt: skip
    assert Event.objects.get(name="call_no_show").properties["by"] == "staff"
    assert "(1 not marked yet)" not in desk.get("/dashboard/funnels/clean/attendance/"
                                                ).content.decode()  # fmt: skip

    viewer = Client()  # reads the page, marks nothing, cancels nothing
    viewer.force_login(member("reader", "viewer"))
    page = viewer.get("/dashboard/funnels/clean/attendance/").content.decode()
    assert "ada@example.com" in page and "/attendance/calls/" not in page
    assert viewer.post(url, {"outcome": "attended"}).status_code == 403
    assert viewer.post("/dashboard/funnels/clean/orders/1/cancel/").status_code == 403
    assert Event.objects.filter(name="call_attended").count() == 0
