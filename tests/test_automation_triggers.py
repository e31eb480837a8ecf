"""Each kind of trigger and action on its own: inactivity, entering a segment, crossing a score,
a time before a booked call; tag, set, webhook and notify."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.conftest import funnel_dict, journey_with_lead
from yesladder.automation import engine
from yesladder.automation.models import Enrollment, Hook, HookDelivery, Message
from yesladder.events import EventName
from yesladder.leads.services import fill_profile
from yesladder.tracking.services import record

pytestmark = pytest.mark.django_db


def ladder(*automations, **extra) -> dict:
    data = funnel_dict()
    data.update(
        emails={"nudge": {"subject": "Still there, {{ first_name | \"friend\" }}?",
                          "body": "One useful idea."}},
        automations=list(automations), **extra,
    )  # fmt: skip
    return data


def viewed(journey, step: str = "guide") -> None:
    record(EventName.STEP_VIEWED, journey.visitor, journey.version, step)


def test_inactivity_starts_a_nudge_once():
    journey = journey_with_lead(
        ladder({"key": "quiet", "when": {"inactive": "7d"}, "do": [{"email": "nudge"}]})
    )
    viewed(journey)
    assert engine.tick(now=timezone.now() + dt.timedelta(days=6)).inactive == 0
    assert engine.tick(now=timezone.now() + dt.timedelta(days=8)).inactive == 1
    assert engine.tick(now=timezone.now() + dt.timedelta(days=30)).inactive == 0
    assert Message.objects.get().subject == "Still there, friend?"


def test_entering_a_segment_tags_notifies_the_team_and_tells_the_crm():
    Hook.objects.create(url="https://crm.example.com/hook", topics=["lead.agency", "lead.tagged"])
    data = ladder(
        {"key": "agencies", "when": {"segment": "agencies"},
         "do": [{"tag": "agency"}, {"webhook": "lead.agency"},
                {"notify": {"subject": "Agency lead: {{ email }}",
                            "body": "Have a look: {{ lead_url }}"}}]},
        segments={"agencies": {"profile": {"company": {"contains": "agency"}}}},
        team=["sales@example.com"],
    )  # fmt: skip
    journey = journey_with_lead(data)
    viewed(journey)
    assert not Enrollment.objects.exists()
    lead = journey.visitor.lead
    fill_profile(lead, {"company": "Big Agency Ltd"})
    viewed(journey)
    lead.refresh_from_db()
    assert lead.tags == ["agency"]
    note = Message.objects.get(to="sales@example.com")
    assert note.subject == "Agency lead: ada@example.com" and not note.marketing
    assert f"/dashboard/leads/{lead.pk}/" in note.text
    assert sorted(HookDelivery.objects.values_list("topic", flat=True)) == [
        "lead.agency",
        "lead.tagged",
    ]
    viewed(journey)  # still in the segment: no second run
    assert Enrollment.objects.count() == 1


def test_crossing_a_score_sets_a_profile_field():
    journey = journey_with_lead(
        ladder({"key": "warm", "when": {"score": {"gte": 1}}, "do": [{"set": {"stage": "warm"}}]})
    )
    viewed(journey)  # 0.2 points
    assert journey.visitor.lead.profile.get("stage") is None
    record(EventName.STEP_COMPLETED, journey.visitor, journey.version, "checklist")
    journey.visitor.lead.refresh_from_db()
    assert journey.visitor.lead.profile["stage"] == "warm"


def test_an_hour_before_a_booked_call(settings):
    from yesladder.scheduling.models import Booking, Host

    journey = journey_with_lead(
        ladder(
            {
                "key": "prep",
                "marketing": False,
                "when": {"session": {"step": "call", "before": "1h"}},
                "do": [{"email": "nudge"}],
            }
        )  # fmt: skip
    )
    start = timezone.now() + dt.timedelta(hours=3)
    booking = Booking.objects.create(
        host=Host.objects.create(name="Ann", email="ann@example.com"),
        lead=journey.visitor.lead, journey=journey, version=journey.version, step_key="call",
        start=start, end=start + dt.timedelta(minutes=15), timezone="UTC",
    )  # fmt: skip
    assert engine.tick().sessions == 0
    assert engine.tick(now=start - dt.timedelta(minutes=59)).sessions == 1
    assert engine.tick(now=start - dt.timedelta(minutes=50)).sessions == 0
    run = Enrollment.objects.get()
    assert run.occurrence == f"booking:{booking.pk}" and run.state == Enrollment.State.DONE
    assert Message.objects.get().key.endswith(f":booking:{booking.pk}")
