"""A follow-up email under test, received by a real SMTP server: each lead sticks to one
version (across resends and devices), people are counted at send, opens, clicks, the next rung
and unsubscribes are counted per version, bots and suppressed addresses never; results in the
CLI and on the experiments page; shipping makes the winner the only version."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.conftest import sourced_from
from tests.staff import member
from tests.test_automation_sequence import BROWSER, deliver, follow_up_funnel, opt_in
from yesladder.automation import outbox
from yesladder.automation.bounces import suppress
from yesladder.automation.email_tests import variant_for
from yesladder.automation.models import Message, Suppression
from yesladder.events import EventName
from yesladder.experiments import emails
from yesladder.funnels.models import Funnel
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.models import Event

pytestmark = pytest.mark.django_db(transaction=True)
PAGE = "/dashboard/funnels/follow/experiments/"
SHORT = "One tip, {{ first_name }}"


def funnel_under_test() -> dict:
    data = follow_up_funnel()
    data.update(
        emails={"tips": {
            "subject": "Three tips for the guide", "body": "Tip one: start small.",
            "metric": "next-rung", "min_conversions": 2,
            "variants": [{"key": "as-written", "weight": 50},
                         {"key": "short", "weight": 50, "subject": SHORT,
                          "body": "Start small, then [book a call](https://example.com/call)."}],
        }},
        automations=[{"key": "after-optin", "when": {"did": {"step": "guide"}},
                      "do": [{"email": "tips"}]}],
    )  # fmt: skip
    return data


def test_the_spec_says_what_is_wrong_with_a_test():
    from yesladder.funnels.spec import SpecError

    data = funnel_under_test()
    data["emails"]["tips"]["variants"][0]["subject"] = "Changed"
    with pytest.raises(SpecError, match="the control: it takes no changes"):
        sourced_from(data)
    data["emails"]["tips"]["variants"][0].pop("subject")
    data["emails"]["tips"]["variants"][1]["weight"] = 40
    with pytest.raises(SpecError, match="weights must add up to 100"):
        sourced_from(data)


def test_an_email_under_test_from_send_to_ship(smtp):
    load_funnel(sourced_from(funnel_under_test()))
    version = Funnel.objects.get(key="follow").current_version()
    suppress("gone@example.com", Suppression.Reason.UNSUBSCRIBED)
    names = [f"p{i}" for i in range(12)]
    for name in [*names, "gone"]:
        opt_in(f"{name}@example.com", name.title())
    deliver()
    spec = version.spec
    sent = {m["To"]: m["Subject"] for m in smtp.messages}
    assert "gone@example.com" not in sent  # suppressed: never sent, never counted
    chosen = {}
    for name in names:
        lead = Lead.objects.get(email=f"{name}@example.com")
        chosen[name] = variant_for(spec, "tips", lead.pk)
        expected = f"One tip, {name.title()}" if chosen[name] == "short" else "Three tips"
        assert sent[lead.email].startswith(expected)
        assert Message.objects.get(lead=lead, template="tips").variant == chosen[name]
    assert set(chosen.values()) == {"as-written", "short"}

    # the same lead on another device, and a resend: the same version, counted once
    opt_in("p0@example.com", "P0")
    message = Message.objects.get(lead__email="p0@example.com", template="tips")
    outbox.retry_dead(message)
    deliver()
    assert Message.objects.filter(template="tips", lead__email="p0@example.com").count() == 1
    assert variant_for(spec, "tips", message.lead_id) == chosen["p0"]

    # p1 opens and clicks, p2 climbs the next rung, p3 unsubscribes, p4 is a bot
    client = Client(**BROWSER)
    p1 = Message.objects.get(lead__email="p1@example.com", template="tips")
    client.get(f"/e/o/{p1.pixel_token}.gif")
    p1.refresh_from_db()
    assert p1.opened_at is not None
    Message.objects.filter(pk=p1.pk).update(clicked_at=timezone.now())
    p2 = Message.objects.get(lead__email="p2@example.com", template="tips")
    Event.objects.create(name=EventName.STEP_COMPLETED, step_key="call", lead=p2.lead,
                         visitor=p2.lead.visitors.first(), funnel_version=version,
                         occurred_at=timezone.now())  # fmt: skip
    p3 = Message.objects.get(lead__email="p3@example.com", template="tips")
    client.post(f"/e/u/{p3.token}/")
    Visitor.objects.filter(lead__email="p4@example.com").update(is_bot=True)

    r = emails.results("follow", "tips")
    counts = {v.key: v.counts for v in r.variants}
    everyone = {k: sum(1 for n in names if chosen[n] == k and n != "p4") for k in counts}
    assert {k: c["sent"] for k, c in counts.items()} == everyone
    assert counts[chosen["p1"]]["opened"] == 1 and counts[chosen["p1"]]["clicked"] == 1
    assert counts[chosen["p2"]]["next_rung"] == 1
    assert counts[chosen["p3"]]["unsubscribed"] == 1
    assert r.metric == "next-rung" and r.secondary == ("clicks", "opens")
    assert "unsubscribes" in r.analysis.guardrails

    out = StringIO()
    call_command("experiment", "results", "follow", "tips", "--format", "json", stdout=out)
    found = json.loads(out.getvalue())
    assert (found["kind"], found["metric"]) == ("email", "next-rung")
    assert [v["sent"] for v in found["variants"]] == [everyone["as-written"], everyone["short"]]
    assert "image" in found["opens_caveat"] and found["decision"]["verdict"] == "keep_running"
    text = StringIO()
    call_command("experiment", "results", "follow", "tips", stdout=text)
    assert "Email tips" in text.getvalue() and "block images" in text.getvalue()
    editor = Client()
    editor.force_login(member("ed", "editor"))
    page = editor.get(PAGE).content.decode()
    assert "Email tips" in page and "judged on next-rung" in page
    assert "One tip, {{ first_name }}" in page  # the subject as written, escaped by Django

    response = editor.post(f"{PAGE}tips/ship/", {"variant": "short"}, follow=True)
    assert "becomes the only version of the email tips" in response.content.decode()
    current = Funnel.objects.get(key="follow").current_version()
    assert current.number == 2 and current.spec.emails["tips"].subject == SHORT
    assert current.spec.emails["tips"].variants is None
    assert variant_for(current.spec, "tips", message.lead_id) == ""
    assert "Email tips" not in editor.get(PAGE).content.decode()
