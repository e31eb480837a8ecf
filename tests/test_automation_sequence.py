"""A follow-up sequence on simulated time, received by a real SMTP server: waits, a branch on
video >= 80 %, an exit goal, consent, and a changed spec that must not send anything twice."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from tests.conftest import funnel_dict, sourced_from
from yesladder.automation import engine
from yesladder.automation.models import Enrollment, Message, Standing, Suppression, email_hash
from yesladder.automation.worker import Loop
from yesladder.events import EventName
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead
from yesladder.tracking.services import record

pytestmark = pytest.mark.django_db(transaction=True)
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
WATCH = {"did": {"event": "video_progress", "step": "watch", "where": {"percent": {"gte": 80}}}}


def follow_up_funnel(subject: str = '{{ first_name | "Hi" }}, a 15-minute call?') -> dict:
    data = funnel_dict()
    call = next(s for s in data["steps"] if s["key"] == "call")
    data.update(
        funnel="follow",
        steps=[
            {"key": "watch", "kind": "video", "title": "Watch", "value": "3 minutes",
             "cta": "Get the guide", "src": "https://example.com/v.mp4", "duration": 180},
            {"key": "guide", "kind": "optin", "title": "The guide", "value": "A guide",
             "cta": "Send it", "ask": {"fields": ["email", "first_name"]}},
            {**call, "macro": True},
        ],
        emails={
            "invite": {"subject": subject, "body": "Pick a time: [book]({{ step_link }})"},
            "tips": {"subject": "Three tips for the guide", "body": "Tip one: start small."},
            "case": {"subject": "How Acme did it", "body": "A case study, {{ first_name }}."},
        },
        automations=[{
            "key": "after-optin",
            "when": {"did": {"step": "guide"}},
            "exit": [{"did": {"event": "booked"}}],
            "do": [
                {"wait": "1d"},
                {"if": WATCH, "then": [{"invite": {"step": "call", "email": "invite"}}],
                 "else": [{"email": "tips"}]},
                {"wait": "2d"},
                {"email": "case"},
            ],
        }],
    )  # fmt: skip
    return data


def opt_in(email: str, name: str, watched: int | None = None) -> Client:
    visitor = Client(**BROWSER)
    visitor.get("/f/follow/")
    if watched:
        visitor.post("/f/follow/watch/", {"action": "video", "value": str(watched)})
    visitor.post("/f/follow/watch/", {"action": "continue"})
    visitor.post("/f/follow/guide/", {"email": email, "first_name": name})
    return visitor


def deliver() -> None:
    Loop().until_idle()


def received(smtp) -> list[tuple[str, str]]:
    return sorted((m["To"], m["Subject"]) for m in smtp.messages)


def test_waits_branch_and_exit_send_exactly_the_expected_mails(smtp):
    load_funnel(sourced_from(follow_up_funnel()))
    start = timezone.now()
    opt_in("ann@example.com", "Ann", watched=80)  # watched enough before opting in
    opt_in("bob@example.com", "Bob", watched=50)
    cy = opt_in("cy@example.com", "Cy")
    cy.post("/f/follow/watch/", {"action": "video", "value": "100"})  # after, before the branch
    opt_in("di@example.com", "Di", watched=100)
    di = Lead.objects.get(email="di@example.com")
    record(EventName.BOOKED, di.visitors.get(), di.visitors.get().journeys.get().version, "call")
    deliver()
    assert smtp.messages == []  # everyone is waiting a day

    engine.tick(now=start + dt.timedelta(days=1, minutes=1))
    deliver()
    assert received(smtp) == [
        ("ann@example.com", "Ann, a 15-minute call?"),
        ("bob@example.com", "Three tips for the guide"),
        ("cy@example.com", "Cy, a 15-minute call?"),
    ]
    invite = next(m for m in smtp.messages if m["To"] == "ann@example.com")
    text = invite.get_body(preferencelist=("plain",)).get_content()
    assert re.search(r"/e/c/[\w-]+/", text)  # the step link goes through click tracking
    assert Enrollment.objects.get(lead=di).state == Enrollment.State.EXITED

    engine.tick(now=start + dt.timedelta(days=3, minutes=2))
    engine.tick(now=start + dt.timedelta(days=9))  # nothing left to wake
    deliver()
    assert len(smtp.messages) == 6
    cases = sorted(m["To"] for m in smtp.messages if m["Subject"] == "How Acme did it")
    assert cases == ["ann@example.com", "bob@example.com", "cy@example.com"]
    assert all(m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for m in smtp.messages)
    assert set(Enrollment.objects.values_list("state", flat=True)) == {"done", "exited"}


def test_a_changed_spec_never_sends_what_was_sent(smtp):
    load_funnel(sourced_from(follow_up_funnel()))
    start = timezone.now()
    opt_in("ann@example.com", "Ann", watched=80)
    engine.tick(now=start + dt.timedelta(days=1, minutes=1))
    deliver()
    assert len(smtp.messages) == 1

    load_funnel(sourced_from(follow_up_funnel(subject="New subject, same invite")))
    visitor = opt_in("ann@example.com", "Ann", watched=100)  # the trigger fires again
    visitor.post("/f/follow/guide/", {"email": "ann@example.com", "first_name": "Ann"})
    engine.tick(now=start + dt.timedelta(days=1, minutes=2))
    deliver()
    assert [m["Subject"] for m in smtp.messages] == ["Ann, a 15-minute call?"]
    assert Message.objects.filter(template="invite").count() == 1


def test_marketing_mail_needs_consent_and_honours_the_suppression_list(smtp, settings):
    data = follow_up_funnel()
    data["double_optin"] = True
    load_funnel(sourced_from(data))
    start = timezone.now()
    opt_in("pending@example.com", "Pat", watched=90)  # never clicks the confirmation
    smtp.messages.clear()  # the confirmation request itself
    engine.tick(now=start + dt.timedelta(days=1, minutes=1))
    deliver()
    assert smtp.messages == []
    assert Message.objects.get().state == Message.State.SKIPPED

    load_funnel(sourced_from(follow_up_funnel()))
    opt_in("gone@example.com", "Gus", watched=90)
    Suppression.objects.create(email_hash=email_hash("gone@example.com"), reason="unsubscribed")
    engine.tick(now=start + dt.timedelta(days=1, minutes=2))
    deliver()
    assert smtp.messages == []


def test_scores_and_segments_follow_what_the_lead_did(smtp):
    load_funnel(sourced_from(follow_up_funnel()))
    opt_in("ann@example.com", "Ann", watched=100)
    ann = Lead.objects.get(email="ann@example.com")
    standing = Standing.objects.get(lead=ann)
    assert standing.score > 0
    assert {"non-buyers", "low-engagement"} <= set(standing.segments)

    # Four weeks later, with a 14-day half-life, the same history weighs a quarter as much.
    version = ann.visitors.get().journeys.get().version
    later = engine.refresh(ann, version, now=timezone.now() + dt.timedelta(days=28))
    # Scores are kept to two decimals: a quarter of 0.9 may be stored as 0.22.
    assert later.score == pytest.approx(standing.score / 4, abs=0.01)


def test_a_quiz_outcome_starts_its_own_follow_up_with_the_result(smtp):
    data = funnel_dict()
    data.update(
        emails={"next": {"subject": "{{ outcome_title }}: what to do next",
                         "body": "You scored {{ outcome_title }}. Here is a case study."}},
        automations=[{"key": "high-scorers", "when": {"did": {"step": "score", "outcome": "high"}},
                      "do": [{"wait": "1h"}, {"email": "next"}]}],
    )  # fmt: skip
    load_funnel(sourced_from(data))
    start = timezone.now()
    for email, option in (("hi@example.com", "a"), ("lo@example.com", "b")):
        quiz = Client(**BROWSER)
        quiz.post("/f/clean/score/", {"action": "answer", "question": "q1", "option": option})
        quiz.post("/f/clean/score/", {"action": "email", "email": email})
        quiz.post("/f/clean/score/", {"action": "continue"})
    results = smtp.wait_for(2)
    assert sorted(m["Subject"] for m in results) == ["Your result: High", "Your result: Low"]

    engine.tick(now=start + dt.timedelta(hours=1, minutes=1))
    deliver()
    follow_up = smtp.messages[2:]
    assert [(m["To"], m["Subject"]) for m in follow_up] == [
        ("hi@example.com", "High: what to do next")
    ]
