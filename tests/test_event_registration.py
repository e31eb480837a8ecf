"""Event steps: repeating sessions on the wall clock, registration in one click for a known
lead, the waitlist, reminders recorded, the join link (attendance, replay), and calendar
invites (.ics) that icalendar parses with the right UTC times, as a download and by email."""

import datetime as dt

import pytest
from django.utils import timezone
from icalendar import Calendar

from tests.conftest import funnel_dict, journey_with_lead
from yesladder.funnels.spec.schema import Session
from yesladder.leads.models import Lead, Visitor
from yesladder.scheduling import services, sessions
from yesladder.scheduling.models import Registration, Reminder
from yesladder.tracking.models import Event, Journey

UTC = dt.UTC


def webinar(start: dt.datetime, capacity: int | None = 1) -> dict:
    data = funnel_dict()
    data["steps"][3] = {
        "key": "live", "kind": "event", "title": "Live workshop", "value": "45 minutes, live",
        "cta": "Save my seat", "join_url": "https://meet.example.com/room",
        "replay_url": "https://media.example.com/replay",
        "sessions": [{"start": start.strftime("%Y-%m-%dT%H:%M"), "timezone": "UTC",
                      "duration": 45, **({"capacity": capacity} if capacity else {})}],
    }  # fmt: skip
    return data


def test_a_weekly_session_keeps_its_wall_time_across_daylight_saving():
    session = Session.model_validate(
        {"start": "2026-10-13T18:00", "timezone": "Europe/Berlin", "every": "7d"}
    )
    now = dt.datetime(2026, 10, 20, 12, tzinfo=UTC)
    dates = sessions.occurrences(session, now)
    # Berlin leaves summer time on 2026-10-25: 18:00 local is 16:00 UTC, then 17:00 UTC.
    assert [o.start for o in dates] == [
        dt.datetime(2026, 10, 20, 16, tzinfo=UTC),
        dt.datetime(2026, 10, 27, 17, tzinfo=UTC),
        dt.datetime(2026, 11, 3, 17, tzinfo=UTC),
    ]
    single = Session.model_validate({"start": "2026-10-13T18:00", "timezone": "Europe/Berlin"})
    assert sessions.occurrences(single, now) == []  # over: not offered any more


def other_journey(journey: Journey, email: str) -> Journey:
    lead = Lead.objects.create(email=email)
    return Journey.objects.create(
        visitor=Visitor.objects.create(lead=lead), funnel=journey.funnel,
        version=journey.version, current_step="guide",
    )  # fmt: skip


@pytest.mark.django_db
def test_a_full_session_waitlists_and_a_cancellation_promotes_the_first_in_line():
    start = (timezone.now() + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    journey = journey_with_lead(webinar(start))
    step = journey.version.spec.step("live")
    seated = services.register(journey, step, journey.visitor.lead, start).registration
    waiting = [
        services.register(other_journey(journey, f"w{i}@example.com"), step,
                          Lead.objects.get(email=f"w{i}@example.com"), start).registration
        for i in range(2)
    ]  # fmt: skip
    assert seated.status == "registered" and {w.status for w in waiting} == {"waitlisted"}
    assert services.register(journey, step, journey.visitor.lead, start).registration == seated
    befores = sorted(Reminder.objects.filter(registration=seated).values_list("before", flat=True))
    assert befores == [dt.timedelta(hours=1), dt.timedelta(hours=24)]
    assert Reminder.objects.get(registration=seated, before=dt.timedelta(hours=1)).due_at == (
        start - dt.timedelta(hours=1)
    )
    assert not Reminder.objects.filter(registration__status="waitlisted").exists()

    assert services.cancel_registration(seated)
    assert not Reminder.objects.filter(registration=seated).exists()
    statuses = list(Registration.objects.order_by("id").values_list("status", flat=True))
    assert statuses == ["cancelled", "registered", "waitlisted"]  # first in line got the seat
    assert Reminder.objects.filter(registration=waiting[0]).count() == 2
    promoted = Event.objects.filter(name="registered", properties__promoted=True)
    assert promoted.count() == 1


@pytest.mark.django_db
def test_a_known_lead_registers_in_one_click_and_gets_the_invite_by_email(
    client, smtp, django_capture_on_commit_callbacks
):
    start = (timezone.now() + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    journey = journey_with_lead(webinar(start, capacity=None))
    client.cookies["yl_vid"] = str(journey.visitor.pk)
    page = client.get("/f/clean/live/").content.decode()
    assert "Open to all" in page and 'name="email"' not in page  # known: no field at all
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post("/f/clean/live/", {"start": start.isoformat()})
    assert answer.status_code == 302
    page = client.get("/f/clean/live/").content.decode()
    assert "Your seat is saved" in page and "Add to my calendar" in page

    (mail,) = smtp.wait_for(1)
    assert mail["Subject"] == "Your seat: Live workshop"
    attachment = next(p for p in mail.iter_attachments() if p.get_filename() == "invite.ics")
    event = Calendar.from_ical(attachment.get_content()).walk("VEVENT")[0]
    assert event.decoded("dtstart") == start and event.decoded("dtend") == start + dt.timedelta(
        minutes=45
    )
    assert f"DTSTART:{start:%Y%m%dT%H%M%S}Z" in attachment.get_content()  # UTC
    assert "mailto:ada@example.com" in str(event["attendee"])
    journey.refresh_from_db()
    assert "live" in journey.done


@pytest.mark.django_db
def test_a_new_visitor_gives_only_an_email(client):
    start = (timezone.now() + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    journey_with_lead(webinar(start))
    client.get("/f/clean/")
    page = client.get("/f/clean/live/").content.decode()
    assert page.count("<input") == 2  # the CSRF token and the email
    answer = client.post("/f/clean/live/", {"start": start.isoformat(), "email": "nope"})
    assert answer.status_code == 400 and "valid email" in answer.content.decode()
    client.post("/f/clean/live/", {"start": start.isoformat(), "email": "New@Example.com"})
    assert Registration.objects.get().lead.email == "new@example.com"


@pytest.mark.django_db
def test_the_join_link_says_when_then_records_attendance_then_plays_the_replay(client):
    start = (timezone.now() + dt.timedelta(minutes=10)).replace(second=0, microsecond=0)
    journey = journey_with_lead(webinar(start))
    step = journey.version.spec.step("live")
    seat = services.register(journey, step, journey.visitor.lead, start).registration
    assert services.join(seat, start - dt.timedelta(hours=2)) == "early"
    from yesladder.scheduling.invites import registration_token

    token = registration_token(seat)
    for _ in range(2):
        answer = client.get(f"/s/{token}/join/")
        assert answer.status_code == 302 and answer["Location"] == "https://meet.example.com/room"
    assert Event.objects.filter(name="attended").count() == 1
    assert services.join(seat, start + dt.timedelta(hours=1)) == "ended"
    ics = client.get(f"/s/{token}/ics/")
    event = Calendar.from_ical(ics.content).walk("VEVENT")[0]
    assert ics["Content-Type"].startswith("text/calendar") and event.decoded("dtstart") == start
    assert client.get("/s/not-a-token/join/").status_code == 404


@pytest.mark.django_db
def test_a_booked_call_has_an_invite_with_its_utc_times_and_a_cancel_that_needs_a_post(client):
    data = funnel_dict()
    data["steps"][3].update(availability={d: ["09:00-17:00"] for d in ("mon", "tue", "wed",
                            "thu", "fri")}, notice="0m", horizon="7d")  # fmt: skip
    journey = journey_with_lead(data)
    step = journey.version.spec.step("call")
    slot = services.open_slots(step)[0]
    booked = services.book(journey, step, journey.visitor.lead, slot.start, "Asia/Tokyo").booking
    from yesladder.scheduling.invites import booking_token

    token = booking_token(booked)
    event = Calendar.from_ical(client.get(f"/b/{token}/ics/").content).walk("VEVENT")[0]
    assert event.decoded("dtstart") == slot.start and event.decoded("dtend") == slot.end
    assert str(event["organizer"]) == "mailto:ann@example.com"
    assert "No pitch" in str(event["description"])
    page = client.get(f"/b/{token}/").content.decode()
    assert "(Asia/Tokyo)" in page and "Cancel this call" in page
    booked.refresh_from_db()
    assert booked.status == "booked"  # a GET (a mail scanner) changes nothing
    client.post(f"/b/{token}/", {"action": "cancel"})
    booked.refresh_from_db()
    assert booked.status == "cancelled"
    cancelled = Calendar.from_ical(client.get(f"/b/{token}/ics/").content)
    assert cancelled["method"] == "CANCEL" and cancelled.walk("VEVENT")[0]["sequence"] == 1
