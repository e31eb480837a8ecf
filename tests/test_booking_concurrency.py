"""Never a double booking: 20 visitors ask for the same slot at the same moment, each in its
own thread with its own database connection; exactly one gets it (SQLite and PostgreSQL)."""

import threading

import pytest
from django.db import connection

from tests.conftest import funnel_dict, journey_with_lead
from yesladder.leads.models import Lead, Visitor
from yesladder.scheduling import services
from yesladder.scheduling.models import Booking, Reminder
from yesladder.tracking.models import Event, Journey

pytestmark = pytest.mark.django_db(transaction=True)


def ladder() -> dict:
    data = funnel_dict()
    call = data["steps"][3]
    call.update(availability={d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
                notice="0m", horizon="7d")  # fmt: skip
    return data


def test_twenty_concurrent_attempts_at_one_slot_give_exactly_one_booking():
    first = journey_with_lead(ladder(), "visitor0@example.com")
    step = first.version.spec.step("call")
    journeys = [first] + [
        Journey.objects.create(
            visitor=Visitor.objects.create(
                lead=Lead.objects.create(email=f"visitor{i}@example.com")
            ),
            funnel=first.funnel,
            version=first.version,
            current_step="guide",
        )  # fmt: skip
        for i in range(1, 20)
    ]
    slot = services.open_slots(step)[0]
    barrier = threading.Barrier(len(journeys))
    outcomes: list[str] = []

    def attempt(journey):
        try:
            barrier.wait()
            services.book(journey, step, journey.visitor.lead, slot.start, "Europe/Berlin")
            outcomes.append("booked")
        except services.SlotTaken:
            outcomes.append("taken")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(j,)) for j in journeys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["booked"] + ["taken"] * 19
    assert Booking.objects.filter(start=slot.start).count() == 1
    assert Event.objects.filter(name="booked").count() == 1
    booked = Booking.objects.get()
    assert slot not in services.open_slots(step)  # the only host is taken at that time
    assert Reminder.objects.filter(booking=booked).count() <= 2


def test_a_cancelled_slot_opens_again_and_a_reschedule_moves_the_call():
    journey = journey_with_lead(ladder())
    step = journey.version.spec.step("call")
    offered = services.open_slots(step)
    first, second = offered[0], offered[8]  # two hours apart: no buffer between them
    booked = services.book(journey, step, journey.visitor.lead, first.start, "UTC").booking
    assert first not in services.open_slots(step)
    moved = services.reschedule(booked, second.start).booking
    booked.refresh_from_db()
    assert booked.status == "cancelled" and booked.rescheduled_to == moved
    assert booked.sequence == 1 and moved.start == second.start
    assert first in services.open_slots(step) and second not in services.open_slots(step)
    assert services.cancel(moved) and not services.cancel(moved)
    assert second in services.open_slots(step)
    names = list(Event.objects.filter(step_key="call").values_list("name", flat=True))
    assert names.count("booked") == 2 and names.count("cancelled") == 1
    assert names.count("step_completed") == 1


def test_a_slot_that_is_not_offered_cannot_be_booked():
    journey = journey_with_lead(ladder())
    step = journey.version.spec.step("call")
    slot = services.open_slots(step)[0]
    with pytest.raises(services.SlotTaken):
        services.book(journey, step, journey.visitor.lead, slot.start.replace(minute=7), "UTC")
    assert not Booking.objects.exists()


def test_hostile_zones_and_times_are_answered_on_the_page_not_with_an_error(client):
    journey = journey_with_lead(ladder())
    client.cookies["yl_vid"] = str(journey.visitor.pk)
    client.cookies["yl_tz"] = "Europe"  # a directory of zones, not a zone
    for zone in ("America", "../../etc/passwd", "Mars/Olympus", "x" * 300):
        assert client.get("/f/clean/call/", {"tz": zone}).status_code == 200
    for start in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "tomorrow", ""):
        answer = client.post("/f/clean/call/", {"start": start})
        assert answer.status_code in (400, 409)
    assert not Booking.objects.exists()


def test_hosts_written_in_capitals_are_one_calendar_and_a_call_moves_only_once():
    data = ladder()
    data["steps"][3]["hosts"] = [{"name": "Ann", "email": "Ann@Example.com"}]
    journey = journey_with_lead(data)
    step = journey.version.spec.step("call")
    offered = services.open_slots(step)
    booked = services.book(journey, step, journey.visitor.lead, offered[0].start, "UTC").booking
    assert booked.host.email == "ann@example.com"
    assert offered[1] not in services.open_slots(step)  # the buffer after the call holds
    with pytest.raises(services.SlotTaken, match="already have a call"):
        services.book(journey, step, journey.visitor.lead, offered[8].start, "UTC")
    stale = Booking.objects.get(pk=booked.pk)
    services.reschedule(booked, offered[8].start)
    with pytest.raises(services.SlotTaken, match="already moved"):
        services.reschedule(stale, offered[16].start)  # a second click on the old page
    assert Booking.objects.filter(status="booked").count() == 1
