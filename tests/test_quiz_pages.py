"""A scored, conditional quiz walked through Django's test client: two paths to two tiers,
the result page and email keeping the promise, and every kind of bad input."""

import pytest
from django.test import Client

from tests.quiz_fixtures import CHECKUP, LEAKY, STRONG
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import parse_spec
from yesladder.tracking.models import Event, Journey

BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
URL = "/f/checkup/checkup/"


@pytest.fixture
def client(db):
    load_funnel(parse_spec(CHECKUP, "checkup.yaml"))
    client = Client(**BROWSER)
    client.get("/f/checkup/")
    return client


def answer(client: Client, question: str, value):
    if isinstance(value, list):
        data = {"action": "answer", "question": question, "option": value}
    elif isinstance(value, int):
        data = {"action": "answer", "question": question, "value": str(value)}
    else:
        data = {"action": "answer", "question": question, "option": value}
    return client.post(URL, data)


def walk(client: Client, answers: dict) -> None:
    for question, value in answers.items():
        assert answer(client, question, value).status_code == 302


def names(name: str) -> list[Event]:
    return list(Event.objects.filter(name=name).order_by("id"))


def test_the_strong_path_shows_score_tier_bars_weakest_fix_and_one_next_step(client):
    assert "Question 1 of 4" in client.get(URL).content.decode()
    walk(client, STRONG)
    html = client.get(URL).content.decode()
    assert "<strong>80 %</strong>" in html and "Your pipeline is tight" in html
    svg = html[html.index('<svg class="bars"') : html.index("</svg>")]
    assert "<script" not in svg and svg.count("<rect") == 4  # a track and a bar per category
    assert "Speed of follow-up: 71 %" in html and "Review habit: 88 %" in html
    assert "Your weakest area: Speed of follow-up (71 %)" in html
    assert "Answer every inbound lead within the hour." in html
    assert html.count('name="action" value="continue"') == 1 and "Read the playbook" in html
    response = client.post(URL, {"action": "continue"})
    assert response["Location"] == "/f/checkup/playbook/"
    (done,) = names("quiz_completed")
    assert done.properties == {
        "outcome": "strong", "score": 80, "points": 12, "maximum": 15, "tier": "strong",
        "categories": {"speed": 71, "habits": 88},
    }  # fmt: skip
    assert Journey.objects.get().outcome == "strong"


def test_the_leaky_path_sees_five_questions_and_is_invited_to_the_call(client):
    answer(client, "follow-up", "days")
    assert "Question 2 of 5" in client.get(URL).content.decode()  # slow-why now counts
    walk(client, {k: v for k, v in LEAKY.items() if k != "follow-up"})
    html = client.get(URL).content.decode()
    assert "<strong>19 %</strong>" in html and "Your pipeline leaks" in html
    assert "Your weakest area: Review habit (13 %)" in html
    assert "every Friday" in html and "Book the 15-minute fix call" in html
    assert client.post(URL, {"action": "continue"})["Location"] == "/f/checkup/fix-call/"


def test_going_back_and_changing_an_answer_drops_the_hidden_questions_points(client):
    walk(client, {"follow-up": "days", "slow-why": "too-busy"})
    client.post(URL, {"action": "back"})  # takes back slow-why
    client.post(URL, {"action": "back"})  # takes back follow-up
    walk(client, {"follow-up": "minutes"})
    assert Journey.objects.get().answers["checkup"] == {"follow-up": "minutes"}
    assert "Question 2 of 4" in client.get(URL).content.decode()


@pytest.mark.parametrize(
    ("question", "data", "message"),
    [
        ("follow-up", {"option": "<script>x</script>"}, "Please choose one of the answers."),
        ("channels", {"option": ["email", "phone", "chat"]}, "Please choose at most 2 answers."),
        ("channels", {"option": ["email", "fax"]}, "Please choose one or more of the answers."),
        ("channels", {}, "Please choose one or more of the answers."),
        ("review", {"value": "6"}, "Please pick a value from 1 to 5."),
        ("review", {"value": "-1"}, "Please pick a value from 1 to 5."),
        ("days", {"value": "366"}, "Please enter a whole number from 0 to 365."),
        ("days", {"value": "1e3"}, "Please enter a whole number from 0 to 365."),
        ("days", {"value": "٣"}, "Please enter a whole number from 0 to 365."),
        ("nope", {"option": "a"}, "Please choose one of the answers."),
    ],
)
def test_bad_answers_are_refused_on_the_page_and_nothing_is_kept(client, question, data, message):
    response = client.post(URL, {"action": "answer", "question": question, **data})
    html = response.content.decode()
    assert response.status_code == 400 and message in html
    assert "<script>x" not in html
    assert Journey.objects.get().answers.get("checkup", {}) == {}
    assert not names("answered")


def test_a_hidden_question_answered_anyway_is_ignored(client):
    response = answer(client, "slow-why", "too-busy")
    assert response.status_code == 302
    assert Journey.objects.get().answers.get("checkup", {}) == {} and not names("answered")


def test_replayed_posts_count_nothing_twice(client):
    walk(client, STRONG)
    answer(client, "days", 3)  # the same answer again
    assert len(names("answered")) == 4
    first = client.post(URL, {"action": "continue"})
    again = client.post(URL, {"action": "continue"})
    assert first["Location"] == again["Location"] == "/f/checkup/playbook/"
    assert len(names("quiz_completed")) == 1 and len(names("step_completed")) == 1
    late = answer(client, "days", 40)
    assert late.status_code == 409 and "counted once" in late.content.decode()
    assert Journey.objects.get().answers["checkup"]["days"] == 3


@pytest.mark.django_db(transaction=True)
def test_the_result_email_carries_the_same_score(smtp):
    load_funnel(parse_spec(CHECKUP, "checkup.yaml"))
    client = Client(**BROWSER)
    client.get("/f/checkup/")
    walk(client, LEAKY)
    client.post(URL, {"action": "email", "email": "ed@example.com"})
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == "Your result: Your pipeline leaks"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "Your score: 19 % (3 of 16 points)" in text
    assert "- Speed of follow-up: 25 %" in text and "- Review habit: 13 %" in text
    assert "Your weakest area: Review habit (13 %)" in text and "every Friday" in text
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "19 %" in html and "width:13%" in html


@pytest.mark.django_db(transaction=True)
def test_a_gated_result_waits_for_one_field_then_shows_and_sends_it(smtp):
    gated = CHECKUP.replace("    cta: Continue\n", "    cta: Continue\n    gate: true\n")
    load_funnel(parse_spec(gated, "checkup.yaml"))
    client = Client(**BROWSER)
    client.get("/f/checkup/")
    walk(client, STRONG)
    html = client.get(URL).content.decode()
    assert "Your result is ready" in html and "80 %" not in html
    assert client.post(URL, {"action": "continue"})["Location"] == URL  # no way round it
    assert not names("quiz_completed")
    bad = client.post(URL, {"action": "email", "email": "nope"})
    assert bad.status_code == 400 and "80 %" not in bad.content.decode()
    client.post(URL, {"action": "email", "email": "gil@example.com"})
    (message,) = smtp.wait_for(1)
    assert (
        "Your score: 80 % (12 of 15 points)"
        in message.get_body(preferencelist=("plain",)).get_content()
    )
    html = client.get(URL).content.decode()
    assert "<strong>80 %</strong>" in html and "on its way to your inbox" in html
    assert client.post(URL, {"action": "continue"})["Location"] == "/f/checkup/playbook/"


B2B = "/f/b2b-ladder/assessment/"
# 3 + 1 + 0 + 2 = 6 of 12 points: 50 %, where the middle tier starts; stalls (0 of 3) is weakest.
MIDDLING = {"follow-up": "minutes", "stages": "some", "stalls": "first-call", "review": "quarterly"}


def b2b_visitor(answers: dict) -> Client:
    from yesladder.funnels.spec import read_spec

    load_funnel(read_spec("examples/b2b-ladder.yaml"))
    client = Client(**BROWSER)
    client.get("/f/b2b-ladder/")
    for question, option in answers.items():
        client.post(B2B, {"action": "answer", "question": question, "option": option})
    client.post(B2B, {"action": "fields", "company": "Acme"})  # the quiz's one field
    return client


def test_the_b2b_example_keeps_its_word_a_leak_score_by_category_and_tier(db):
    client = b2b_visitor(MIDDLING)
    html = client.get(B2B).content.decode()
    assert "<strong>50 %</strong>" in html and "Your pipeline holds" in html
    assert "Your weakest area: Where deals stall (0 %)" in html
    assert "one-page summary with the next step" in html
    assert "Stage coverage: 33 %" in html and "Review habit: 67 %" in html
    client.post(B2B, {"action": "continue"})
    assert Event.objects.get(name="quiz_completed").properties["tier"] == "holding"


def test_the_calls_agenda_starts_from_the_assessment(db):
    client = b2b_visitor(MIDDLING)
    assert client.post(B2B, {"action": "continue"})["Location"] == "/f/b2b-ladder/strategy-session/"
    html = client.get("/f/b2b-ladder/strategy-session/").content.decode()
    assert "From your assessment: <strong>50 %</strong>, Your pipeline holds" in html
    assert "We start with your weakest area, Where deals stall (0 %)." in html
