"""The score where staff look at a lead: the leads list shows each lead's latest score and
tier, the lead's page each quiz's score, tier and category scores with the weakest marked,
in the quiz's words (hostile text stays text)."""

import pytest
import yaml
from django.test import Client

from tests.conftest import journey_with_lead
from tests.quiz_fixtures import CHECKUP
from tests.staff import member
from yesladder.events import EventName
from yesladder.tracking.services import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(member("staff", "viewer"))
    return client


def test_the_list_and_the_lead_page_show_the_latest_result(staff):
    data = yaml.safe_load(CHECKUP)
    data["steps"][1]["tiers"][0]["title"] = "<b>Leaky</b>"
    journey = journey_with_lead(data)
    result = {"score": 19, "tier": "leaky", "categories": {"habits": 13, "speed": 25}}
    record(EventName.QUIZ_COMPLETED, journey.visitor, journey.version, "checkup", result)
    journey_with_lead(data, "bob@example.com")  # no result yet
    listing = staff.get("/dashboard/leads/").content.decode()
    assert "<strong>19 %</strong> &lt;b&gt;Leaky&lt;/b&gt;" in listing
    page = staff.get(f"/dashboard/leads/{journey.visitor.lead_id}/").content.decode()
    assert "<strong>How leaky is your pipeline?</strong> (checkup): 19 % · &lt;b&gt;Leaky" in page
    speed, habits = page.index("Speed of follow-up: 25 %"), page.index("Review habit: 13 %")
    assert speed < habits  # the spec's order
    assert 'Review habit: 13 % <span class="chip">weakest</span>' in page
