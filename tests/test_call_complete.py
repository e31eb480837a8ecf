"""The call, complete (issue 31): the host gets an email with the .ics (METHOD:REQUEST, the lead
as attendee) on booking, and the update or cancel on a move or cancel, with one UID across the
lead's and the host's calendars; a place made per booking from a template; times in the lead's
zone and in the host's, each named; the host marks a no-show from the link in their email (a
confirmation page, then a POST), staff can correct it; `call_no_show` starts a follow-up."""

import datetime as dt
import re

import icalendar
import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import funnel_dict, journey_with_lead
from yesladder.automation.models import Enrollment
from yesladder.scheduling.models import Booking
from yesladder.tracking.models import Event

MOMENT = dt.datetime(2026, 12, 6, 10, tzinfo=dt.UTC)  # a Sunday; the host takes calls Mondays
FIRST = dt.datetime(2026, 12, 7, 8, tzinfo=dt.UTC)  # Monday 09:00 in Berlin, 03:00 in New York
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(MOMENT, tick=False) as traveller:
        yield traveller


def ladder() -> dict:
    data = funnel_dict()
    call = data["steps"][3]
    call["location"] = "https://meet.example.com/{booking}"
    data["automations"] = [{
        "key": "rebook", "name": "Missed the call: book again", "marketing": False,
        "when": {"did": {"event": "call_no_show"}},
        "exit": [{"did": {"event": "call_attended"}}],
        "do": [{"wait": "1h"}, {"email": "rebook"}],
    }]  # fmt: skip
    data["emails"] = {"rebook": {"subject": "Shall we find another time?", "body": "Hi!"}}
    return data


def lead_books(settings) -> Client:
    settings.BASE_URL = "http://testserver"
    journey = journey_with_lead(ladder())
    journey.done = [s["key"] for s in ladder()["steps"][:3]]
    journey.current_step = "call"
    journey.save()
    lead = Client()
    lead.cookies["yl_vid"] = str(journey.visitor.pk)
    lead.cookies["yl_tz"] = "America/New_York"
    assert lead.post("/f/clean/call/", {"start": FIRST.isoformat()}).status_code == 302
    return lead


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def invite_of(message) -> icalendar.Event:
    (part,) = [p for p in message.iter_attachments() if p.get_filename() == "invite.ics"]
    calendar = icalendar.Calendar.from_ical(part.get_content())
    (event,) = calendar.walk("VEVENT")
    return calendar["METHOD"], event


def by_recipient(messages) -> dict:
    return {m["To"]: m for m in messages}


def test_the_host_and_the_lead_get_one_calendar_entry_in_their_own_zones(smtp, settings):
    lead = lead_books(settings)
    mails = by_recipient(smtp.wait_for(2))
    to_lead, to_host = mails["ada@example.com"], mails["ann@example.com"]
    booking = Booking.objects.get()
    code = booking.uid.split("@")[0].removeprefix("booking-")[:16]
    assert f"Where: https://meet.example.com/{code}" in text_of(to_lead)
    assert "Monday 7 December 2026, 03:00 (America/New_York)" in text_of(to_lead)
    assert to_host["Subject"] == "Booked: Call with ada@example.com"
    assert ("Monday 7 December 2026, 09:00 (Europe/Berlin), 15\xa0minutes; for them Monday 7 "
            "December 2026, 03:00 (America/New_York)") in text_of(to_host)  # fmt: skip
    (method, mine), (host_method, theirs) = invite_of(to_lead), invite_of(to_host)
    assert method == host_method == "REQUEST"
    assert mine["UID"] == theirs["UID"] == booking.uid and theirs["SEQUENCE"] == 0
    assert str(theirs["ATTENDEE"]) == "mailto:ada@example.com"
    assert str(theirs["ORGANIZER"]) == "mailto:ann@example.com"
    assert str(theirs["LOCATION"]) == f"https://meet.example.com/{code}"
    assert "/b/" not in str(theirs["DESCRIPTION"])  # the lead's own link stays the lead's
    page = lead.get("/f/clean/call/").content.decode()
    assert f"https://meet.example.com/{code}" in page

    # The lead moves the call: both calendars update the same entry.
    manage = re.search(r"http://testserver(/b/[^/\s]+/)", text_of(to_lead)).group(1)
    moved = FIRST + dt.timedelta(minutes=45)
    answer = lead.post(manage, {"action": "reschedule", "start": moved.isoformat()})
    assert answer.status_code == 302
    mails = by_recipient(smtp.wait_for(4)[2:])
    for message in mails.values():
        method, event = invite_of(message)
        assert method == "REQUEST" and event["UID"] == booking.uid and event["SEQUENCE"] == 1
        assert event.decoded("DTSTART") == moved
        assert str(event["LOCATION"]) == f"https://meet.example.com/{code}"  # the same room

    # ... and cancels it: both get METHOD:CANCEL for that entry.
    new = Booking.objects.get(status="booked")
    new_manage = re.search(r"http://testserver(/b/[^/\s]+/)", text_of(mails["ada@example.com"]))
    lead.post(new_manage.group(1), {"action": "cancel"})
    for message in smtp.wait_for(6)[4:]:
        method, event = invite_of(message)
        assert method == "CANCEL" and event["UID"] == booking.uid == new.uid


def test_the_host_marks_a_no_show_from_the_link_in_their_email(smtp, settings, clock):
    lead_books(settings)
    to_host = by_recipient(smtp.wait_for(2))["ann@example.com"]
    no_show = re.search(r"did not come: http://testserver(/b/\S+/outcome/)", text_of(to_host))
    link = no_show.group(1)
    host = Client()
    assert "Mark this call as no-show?" in host.get(link).content.decode()
    early = host.post(link)
    assert early.status_code == 409 and "mark it once it has started" in early.content.decode()

    clock.move_to(FIRST + dt.timedelta(minutes=20))
    assert "Mark this call as no-show?" in host.get(link).content.decode()  # a scanner: nothing
    assert not Event.objects.filter(name="call_no_show").exists()
    assert "the call is marked no-show" in host.post(link).content.decode()
    assert "already marked no-show" in host.post(link).content.decode()
    (marked,) = Event.objects.filter(name="call_no_show")
    assert marked.properties["by"] == "host" and marked.step_key == "call"
    assert Booking.objects.get().outcome == "no_show"
    assert Enrollment.objects.get(automation="rebook").state == Enrollment.State.WAITING

    token = link.split("/")[2]
    assert host.post(f"/b/{token[:-2]}xy/outcome/").status_code == 404

    staff = Client()
    staff.force_login(User.objects.create_superuser("staff", "staff@example.com", "pw"))
    booking = Booking.objects.get()
    staff.post("/admin/scheduling/booking/", {
        "action": "attended", "_selected_action": [booking.pk]})  # fmt: skip
    booking.refresh_from_db()
    assert booking.outcome == "attended"
    assert Event.objects.get(name="call_attended").properties["by"] == "staff"
    assert Enrollment.objects.get(automation="rebook").state == Enrollment.State.EXITED
