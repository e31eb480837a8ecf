"""The emails a visitor asks for, received by a real SMTP server: double opt-in confirmation,
the quiz result and the lead magnet's copy. Plus the limits that stop abuse of them."""

import re
from pathlib import Path

import pytest
from django.test import Client

from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.models import Consent, Lead
from yesladder.tracking.models import Event

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
# Transactional emails leave after the commit, so these tests run with real transactions.
pytestmark = pytest.mark.django_db(transaction=True)


def visitor(example: str) -> Client:
    load_funnel(read_spec(EXAMPLES / f"{example}.yaml"))
    return Client(**BROWSER)


def link_in(message) -> str:
    text = message.get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://testserver(/\S+)", text).group(1)


def test_double_optin_confirms_only_on_the_button_not_on_a_scanner_get(smtp):
    client = visitor("solo-ad")
    client.get("/f/solo-ad/")
    client.post("/f/solo-ad/optin/", {"email": "Cy@Example.com"})
    (message,) = smtp.wait_for(1)
    assert message["To"] == "cy@example.com" and "confirm" in message["Subject"].lower()
    assert message.get_body(preferencelist=("html",)) is not None
    link = link_in(message)

    scanner = Client(HTTP_USER_AGENT="Microsoft Defender SafeLinks")
    page = scanner.get(link)
    assert page.status_code == 200 and "Yes, confirm my email" in page.content.decode()
    lead = Lead.objects.get()
    assert lead.status == Lead.Status.PENDING and lead.confirmed_at is None

    done = Client(**BROWSER).post(link, REMOTE_ADDR="203.0.113.9")
    assert "you are confirmed" in done.content.decode()
    lead.refresh_from_db()
    consent = Consent.objects.get()
    assert lead.status == Lead.Status.CONFIRMED and lead.confirmed_at
    assert consent.confirmed_at and consent.confirmed_ip == "203.0.113.9"
    assert Event.objects.filter(name="optin_confirmed", lead=lead).count() == 1
    Client(**BROWSER).post(link)  # a second click changes nothing
    assert Event.objects.filter(name="optin_confirmed").count() == 1


def test_a_tampered_confirmation_link_is_refused(smtp):
    client = visitor("solo-ad")
    client.post("/f/solo-ad/optin/", {"email": "cy@example.com"})
    link = link_in(smtp.wait_for(1)[0])
    forged = link[:-3] + ("AAA" if not link.endswith("AAA/") else "BBB") + "/"
    response = Client(**BROWSER).post(forged)
    assert response.status_code == 410 and "not valid" in response.content.decode()
    assert Lead.objects.get().status == Lead.Status.PENDING


def unlock_checklist(smtp):
    """Unlock the B2B checklist with an email; returns the one message that arrives."""
    visitor("b2b-ladder").post(
        "/f/b2b-ladder/checklist/",
        {"action": "unlock", "email": "di@example.com", "first_name": "Di"},
    )
    (message,) = smtp.wait_for(1)
    return message


def test_single_optin_funnel_sends_no_confirmation(smtp):
    message = unlock_checklist(smtp)
    assert "checklist" in message["Subject"].lower()  # the magnet's copy, no confirmation
    assert Lead.objects.get().status == Lead.Status.CONFIRMED


def test_magnet_copy_carries_a_working_download_link(smtp):
    message = unlock_checklist(smtp)
    download = Client(**BROWSER).get(link_in(message))
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert Event.objects.filter(name="downloaded").count() == 1


def answer_quiz(client: Client) -> None:
    for question, option in [
        ("follow-up", "days"), ("stages", "none"), ("stalls", "first-call"), ("review", "never")
    ]:  # fmt: skip
        client.post(
            "/f/b2b-ladder/assessment/",
            {"action": "answer", "question": question, "option": option},
        )
    client.post("/f/b2b-ladder/assessment/", {"action": "fields", "company": "Acme"})


def test_email_me_my_result_sends_the_outcome_and_makes_a_lead(smtp):
    client = visitor("b2b-ladder")
    answer_quiz(client)
    page = client.get("/f/b2b-ladder/assessment/").content.decode()
    assert "Your pipeline leaks early" in page and "Email me my result" in page
    bad = client.post("/f/b2b-ladder/assessment/", {"action": "email", "email": "nope"})
    assert bad.status_code == 400 and 'value="nope"' in bad.content.decode()
    client.post("/f/b2b-ladder/assessment/", {"action": "email", "email": "ed@example.com"})
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == "Your result: Your pipeline leaks early"
    assert "written exit criterion" in message.get_body(preferencelist=("plain",)).get_content()
    assert Lead.objects.get().email == "ed@example.com"
    after = client.get("/f/b2b-ladder/assessment/").content.decode()
    assert "on its way to your inbox" in after


def test_opt_ins_are_limited_per_address_without_losing_what_was_typed(smtp, settings):
    settings.LIMIT_OPTINS_PER_HOUR = 3
    load_funnel(read_spec(EXAMPLES / "solo-ad.yaml"))
    for n in range(3):
        response = Client(**BROWSER).post("/f/solo-ad/optin/", {"email": f"p{n}@example.com"})
        assert response.status_code == 302
    blocked = Client(**BROWSER).post("/f/solo-ad/optin/", {"email": "p9@example.com"})
    assert blocked.status_code == 429
    html = blocked.content.decode()
    assert "Too many sign-ups from your network" in html and 'value="p9@example.com"' in html
    assert not Lead.objects.filter(email="p9@example.com").exists()
    elsewhere = Client(**BROWSER).post(
        "/f/solo-ad/optin/", {"email": "p9@example.com"}, REMOTE_ADDR="198.51.100.7"
    )
    assert elsewhere.status_code == 302


def test_one_inbox_gets_at_most_its_hourly_share(smtp):
    client = visitor("b2b-ladder")
    answer_quiz(client)
    for _ in range(8):
        client.post("/f/b2b-ladder/assessment/", {"action": "email"})
    client.post("/f/b2b-ladder/assessment/", {"action": "email", "email": "fy@example.com"})
    for _ in range(8):
        client.post("/f/b2b-ladder/assessment/", {"action": "email"})
    assert len(smtp.wait_for(6, timeout=1.0)) == 5
