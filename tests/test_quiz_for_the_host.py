"""The host prepares from the assessment: when the lead took a scored quiz on the ladder, the
host's booking email says their score, tier and weakest area (the lead's own email does not)."""

import datetime as dt

import pytest
import time_machine
import yaml
from django.test import Client

from tests.conftest import journey_with_lead
from tests.quiz_fixtures import CHECKUP
from tests.test_call_complete import FIRST, MOMENT, by_recipient, ladder, text_of
from yesladder.events import EventName
from yesladder.tracking.services import record

pytestmark = pytest.mark.django_db(transaction=True)
RESULT = {"outcome": "leaky", "score": 19, "points": 3, "maximum": 16, "tier": "leaky",
          "categories": {"speed": 25, "habits": 13}}  # fmt: skip


def book(settings, smtp, result: dict | None) -> dict:
    settings.BASE_URL = "http://testserver"
    data = ladder()
    quiz = {**yaml.safe_load(CHECKUP)["steps"][1], "key": "score"}
    del quiz["next"]
    data["steps"][2] = quiz
    journey = journey_with_lead(data)
    journey.done, journey.current_step = ["guide", "checklist", "score"], "call"
    journey.save()
    with time_machine.travel(MOMENT, tick=False):
        if result:
            record(EventName.QUIZ_COMPLETED, journey.visitor, journey.version, "score", result)
            later = MOMENT + dt.timedelta(minutes=1)  # a retake: the host reads the latest
            record(EventName.QUIZ_COMPLETED, journey.visitor, journey.version, "score",
                   {**result, "score": 31}, occurred_at=later)  # fmt: skip
        lead = Client()
        lead.cookies["yl_vid"] = str(journey.visitor.pk)
        assert lead.post("/f/clean/call/", {"start": FIRST.isoformat()}).status_code == 302
    return by_recipient(smtp.wait_for(2))


@pytest.fixture
def mails(smtp, settings):
    return lambda result: book(settings, smtp, result)


def test_the_host_reads_the_score_the_tier_and_the_weakest_area(mails):
    sent = mails(RESULT)
    host, lead = text_of(sent["ann@example.com"]), text_of(sent["ada@example.com"])
    assert ("Their How leaky is your pipeline?: 31 %, Your pipeline leaks; weakest: Review "
            "habit (13 %).") in host  # fmt: skip
    assert "weakest" not in lead
    html = sent["ann@example.com"].get_body(preferencelist=("html",)).get_content()
    assert "<strong>Review habit</strong> (13 %)" in html


def test_without_a_result_the_host_email_says_nothing_of_one(mails):
    assert "Their " not in text_of(mails(None)["ann@example.com"])
