"""Walking the example funnels through Django's test client, step kind by step kind."""

from pathlib import Path

import pytest
from django.test import Client

from yesladder.analytics.models import Progress
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.models import Consent, Lead, Visitor
from yesladder.tracking.models import Event, Journey

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
pytestmark = pytest.mark.django_db
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}


@pytest.fixture
def b2b():
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    return Client(**BROWSER)


def names(**filters) -> list[str]:
    return list(Event.objects.filter(**filters).values_list("name", flat=True))


def test_entry_page_shows_value_cta_and_progress_and_captures_utm(b2b):
    response = b2b.get(
        "/f/b2b-ladder/?utm_source=newsletter&utm_campaign=fall",
        HTTP_REFERER="https://news.example.com/",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "The 5 leaks in your sales pipeline" in html
    assert "A 6-minute read that shows where deals stall" in html
    assert "Step 1 of 5" in html and "Show me the leak checklist" in html
    visitor = Visitor.objects.get()
    assert (visitor.utm_source, visitor.utm_campaign) == ("newsletter", "fall")
    assert visitor.referrer == "https://news.example.com/" and not visitor.is_bot
    assert names() == ["step_viewed"]


def test_content_cta_moves_to_the_next_step(b2b):
    b2b.get("/f/b2b-ladder/")
    response = b2b.post("/f/b2b-ladder/guide/")
    assert response.status_code == 302 and response["Location"] == "/f/b2b-ladder/checklist/"
    journey = Journey.objects.get()
    assert journey.done == ["guide"] and journey.current_step == "checklist"
    assert names() == ["step_viewed", "cta_clicked", "step_completed"]


def test_coming_back_resumes_where_the_visitor_left(b2b):
    b2b.get("/f/b2b-ladder/")
    b2b.post("/f/b2b-ladder/guide/")
    response = b2b.get("/f/b2b-ladder/")
    assert response["Location"] == "/f/b2b-ladder/checklist/"


def test_magnet_gate_validates_and_keeps_what_was_typed(b2b):
    b2b.get("/f/b2b-ladder/")
    response = b2b.post(
        "/f/b2b-ladder/checklist/",
        {"action": "unlock", "email": "not-an-email", "first_name": "Ann"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "Please enter a valid email address" in html and 'value="Ann"' in html
    assert not Lead.objects.exists()


def test_magnet_identifies_stitches_and_delivers_a_signed_download(b2b):
    b2b.get("/f/b2b-ladder/")
    b2b.post("/f/b2b-ladder/guide/")
    response = b2b.post(
        "/f/b2b-ladder/checklist/",
        {"action": "unlock", "email": " Ann@Example.COM ", "first_name": "Ann"},
    )
    assert response.status_code == 302
    lead = Lead.objects.get()
    assert lead.email == "ann@example.com" and lead.profile == {"first_name": "Ann"}
    assert Event.objects.filter(lead=lead).count() == Event.objects.count()  # history stitched
    given = Event.objects.get(name="fields_given")
    assert given.properties == {"fields": ["first_name"], "email": True}
    assert Progress.objects.get().opted_in  # an email given at a gate is an opt-in
    page = b2b.get("/f/b2b-ladder/checklist/").content.decode()
    link = "/d/" + page.split('href="/d/')[1].split('"')[0]
    download = b2b.get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert "downloaded" in names()
    assert b2b.get(link[:-3] + "xyz/").status_code == 404


def test_quiz_one_question_per_screen_then_result_and_route(b2b):
    b2b.get("/f/b2b-ladder/")
    first = b2b.get("/f/b2b-ladder/assessment/").content.decode()
    assert "Question 1 of 4" in first
    for question, option in [
        ("follow-up", "days"),
        ("stages", "none"),
        ("stalls", "first-call"),
        ("review", "never"),
    ]:
        b2b.post(
            "/f/b2b-ladder/assessment/",
            {"action": "answer", "question": question, "option": option},
        )
    asked = b2b.get("/f/b2b-ladder/assessment/").content.decode()
    assert 'name="company"' in asked and "Your pipeline leaks early" not in asked
    b2b.post("/f/b2b-ladder/assessment/", {"action": "fields", "company": "Bo's"})
    result = b2b.get("/f/b2b-ladder/assessment/").content.decode()
    assert "Your pipeline leaks early" in result and "Email me my result" in result
    b2b.post("/f/b2b-ladder/assessment/", {"action": "email", "email": "bo@example.com"})
    assert Lead.objects.get().email == "bo@example.com"
    assert Lead.objects.get().profile == {"company": "Bo's"}
    assert "result_emailed" in names()
    response = b2b.post("/f/b2b-ladder/assessment/", {"action": "continue"})
    assert response["Location"] == "/f/b2b-ladder/strategy-session/"
    assert Journey.objects.get().outcome == "leaky"


def test_quiz_rejects_an_unknown_answer(b2b):
    b2b.get("/f/b2b-ladder/")
    response = b2b.post(
        "/f/b2b-ladder/assessment/",
        {"action": "answer", "question": "stages", "option": "<script>"},
    )
    assert response.status_code == 400
    assert "<script>" not in response.content.decode()


def test_optin_with_consent_record():
    load_funnel(read_spec(EXAMPLES / "solo-ad.yaml"))
    client = Client(**BROWSER)
    assert "Get my free checklist" in client.get("/f/solo-ad/").content.decode()
    response = client.post("/f/solo-ad/optin/", {"email": "cy@example.com"})
    assert response["Location"] == "/f/solo-ad/freebie/"
    lead = Lead.objects.get()
    assert lead.status == Lead.Status.PENDING  # the funnel asks for double opt-in
    consent = Consent.objects.get()
    assert consent.text.startswith("Send me the checklist") and consent.double_optin
    assert consent.page_url.endswith("/f/solo-ad/optin/")
    assert "opted_in" in names()


def test_unknown_funnel_and_step_are_404(b2b):
    assert b2b.get("/f/nope/").status_code == 404
    assert b2b.get("/f/b2b-ladder/nope/").status_code == 404


def test_bots_are_flagged(b2b):
    Client(HTTP_USER_AGENT="Mozilla/5.0 (compatible; Googlebot/2.1)").get("/f/b2b-ladder/")
    assert Visitor.objects.get().is_bot and Event.objects.get().is_bot


def test_forms_need_csrf():
    load_funnel(read_spec(EXAMPLES / "solo-ad.yaml"))
    client = Client(enforce_csrf_checks=True, **BROWSER)
    client.get("/f/solo-ad/")
    assert client.post("/f/solo-ad/optin/", {"email": "a@example.com"}).status_code == 403


def test_markdown_is_rendered_and_sanitised(b2b):
    from yesladder.funnels.markdown import render_markdown

    html = b2b.get("/f/b2b-ladder/").content.decode()
    assert "<h3>1. Slow first follow-up</h3>" in html  # one level down: h1 is the step title
    assert html.count("<h1") == 1  # the guide's own "# The 5 leaks..." is not repeated
    cleaned = str(render_markdown("# Hi\n<script>alert(1)</script><img src=x onerror=alert(1)>"))
    assert "<script" not in cleaned and "onerror" not in cleaned and "<h2>Hi</h2>" in cleaned


FORM_FUNNEL = """\
funnel: profile
name: Profile
steps:
  - {key: intro, kind: content, title: Intro, value: V, cta: Go, body: Hello}
  - key: about-you
    kind: form
    title: About you
    value: A plan that fits your team
    cta: Show my plan
    screens:
      - {title: "Where should we send it?", fields: [email]}
      - {fields: [company, role]}
  - {key: plan, kind: offer, title: Plan, value: V, cta: Buy, price: 10, macro: true}
"""


@pytest.fixture
def form_funnel(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(FORM_FUNNEL)
    load_funnel(read_spec(path))
    return Client(**BROWSER)


def test_form_screens_with_progress_then_next_step(form_funnel):
    form_funnel.get("/f/profile/")
    first = form_funnel.get("/f/profile/about-you/").content.decode()
    assert "Step 1 of 2" in first and 'name="email"' in first and 'name="company"' not in first
    form_funnel.post("/f/profile/about-you/", {"email": "dee@example.com"})
    second = form_funnel.get("/f/profile/about-you/").content.decode()
    assert "Step 2 of 2" in second and 'name="company"' in second and 'name="email"' not in second
    bad = form_funnel.post("/f/profile/about-you/", {"company": "Acme"})
    assert bad.status_code == 400 and 'value="Acme"' in bad.content.decode()
    done = form_funnel.post("/f/profile/about-you/", {"company": "Acme", "role": "CEO"})
    assert done["Location"] == "/f/profile/plan/"
    assert Lead.objects.get().profile == {"company": "Acme", "role": "CEO"}


def test_form_never_asks_a_known_field_and_skips_when_all_known(form_funnel):
    lead = Lead.objects.create(email="eve@example.com", profile={"company": "Beta"})
    form_funnel.get("/f/profile/")
    Visitor.objects.update(lead=lead)
    page = form_funnel.get("/f/profile/about-you/").content.decode()
    assert 'name="role"' in page and 'name="company"' not in page and 'name="email"' not in page
    form_funnel.post("/f/profile/about-you/", {"role": "CTO"})
    other = Client(**BROWSER)
    other.get("/f/profile/")
    Visitor.objects.filter(lead__isnull=True).update(lead=lead)
    assert other.get("/f/profile/about-you/")["Location"] == "/f/profile/plan/"


def test_video_milestones_are_recorded_once_and_bounded():
    load_funnel(read_spec(EXAMPLES / "solo-ad.yaml"))
    client = Client(**BROWSER)
    client.get("/f/solo-ad/")
    page = client.get("/f/solo-ad/walkthrough/").content.decode()
    assert 'data-milestones="25,50,75,80,100"' in page and "<video" in page
    for value in ["25", "80", "80", "42", "<b>", "100"]:
        response = client.post("/f/solo-ad/walkthrough/", {"action": "video", "value": value})
        assert response.status_code == 204
    percents = Event.objects.filter(name="video_progress").values_list(
        "properties__percent", flat=True
    )
    assert sorted(percents) == [25, 80, 100]


def test_read_milestones(b2b):
    b2b.get("/f/b2b-ladder/")
    for value in ["scroll:50", "seconds:60", "seconds:61", "scroll:50"]:
        assert (
            b2b.post("/f/b2b-ladder/guide/", {"action": "read", "value": value}).status_code == 204
        )
    read = Event.objects.filter(name="read_progress").values_list("properties", flat=True)
    assert sorted(read, key=str) == [{"scroll": 50}, {"seconds": 60}]
    assert Journey.objects.get().done == []  # measuring is not completing


def test_the_first_steps_form_posts_to_the_address_it_was_served_from(b2b):
    page = b2b.get("/f/b2b-ladder/").content.decode()
    assert '<form method="post" class="cta">' in page  # no action: the browser posts here
    response = b2b.post("/f/b2b-ladder/")
    assert response.status_code == 302 and response["Location"] == "/f/b2b-ladder/checklist/"


def test_every_kind_is_served_including_bookings_and_offers(b2b):
    for step in ("strategy-session", "pilot"):
        response = b2b.get(f"/f/b2b-ladder/{step}/")
        assert response.status_code == 200
    assert "$990.00" in response.content.decode()
