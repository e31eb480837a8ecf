"""A quiz's declared fields (`ask.fields`) are asked on one screen between the last question and
the result (with the gate's email when it has one), checked at the edge, and kept on the lead:
at once for a known lead, with the email for a visitor we do not know yet; never twice."""

import pytest
import yaml
from django.test import Client

from tests.conftest import sourced_from
from tests.quiz_fixtures import CHECKUP, STRONG
from tests.test_quiz_pages import BROWSER, URL, walk
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.models import Event

pytestmark = pytest.mark.django_db
HOSTILE = "<script>alert(1)</script>"


def checkup(gate: bool = False) -> Client:
    data = yaml.safe_load(CHECKUP)
    data["steps"][1]["ask"] = {"fields": ["company", {"key": "team_size", "label": "Team size",
                                                      "options": ["1-10", "11-50"]}]}  # fmt: skip
    data["steps"][1]["gate"] = gate
    load_funnel(sourced_from(data, "checkup.yaml"))
    client = Client(**BROWSER)
    client.get("/f/checkup/")
    walk(client, STRONG)
    return client


def test_the_fields_come_after_the_questions_and_wait_for_the_email(db):
    client = checkup()
    html = client.get(URL).content.decode()
    assert "One more thing" in html and 'name="company"' in html and "80 %" not in html
    assert 'name="email"' not in html  # no gate: no email asked for the result
    assert client.post(URL, {"action": "continue"})["Location"] == URL  # no way round it
    bad = client.post(URL, {"action": "fields", "company": "", "team_size": "huge"})
    text = bad.content.decode()
    assert bad.status_code == 400 and "Please fill in company." in text
    assert "Please choose one of the options for team size." in text
    client.post(URL, {"action": "fields", "company": HOSTILE, "team_size": "1-10"})
    html = client.get(URL).content.decode()
    assert "<strong>80 %</strong>" in html and 'name="company"' not in html
    client.post(URL, {"action": "email", "email": "gil@example.com"})  # the open loop
    lead = Lead.objects.get(email="gil@example.com")
    assert lead.profile == {"company": HOSTILE, "team_size": "1-10"}
    assert client.post(URL, {"action": "continue"})["Location"] == "/f/checkup/playbook/"


def test_the_gate_asks_the_email_and_the_fields_on_one_screen(db, smtp):
    client = checkup(gate=True)
    html = client.get(URL).content.decode()
    assert 'name="email"' in html and 'name="company"' in html
    missing = client.post(URL, {"action": "email", "email": "gil@example.com"})
    assert missing.status_code == 400 and not Lead.objects.exists()
    client.post(URL, {"action": "email", "email": "gil@example.com", "company": "Acme",
                      "team_size": "11-50"})  # fmt: skip
    smtp.wait_for(1)
    assert Lead.objects.get().profile == {"company": "Acme", "team_size": "11-50"}
    assert "<strong>80 %</strong>" in client.get(URL).content.decode()


def test_a_known_lead_gives_them_once_and_is_never_asked_again(db):
    Lead.objects.create(email="kim@example.com", profile={"team_size": "1-10"})
    client = checkup()
    client.post(URL, {"action": "email", "email": "kim@example.com"})  # refused: fields first
    assert not Event.objects.filter(name="result_emailed").exists()
    Visitor.objects.update(lead=Lead.objects.get())
    html = client.get(URL).content.decode()
    assert 'name="company"' in html and 'name="team_size"' not in html  # known already
    client.post(URL, {"action": "fields", "company": "Kim & Co"})
    assert Lead.objects.get().profile == {"team_size": "1-10", "company": "Kim & Co"}
    assert "<strong>80 %</strong>" in client.get(URL).content.decode()
