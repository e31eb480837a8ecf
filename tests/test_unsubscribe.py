"""One-click unsubscribe (RFC 8058): a GET never writes, so link scanners unsubscribe nobody
(threat 10); the provider's POST, without cookies or a form token, does (threat 11)."""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client

from yesladder.automation import compose
from yesladder.automation.models import Message, Suppression, email_hash

pytestmark = pytest.mark.django_db
ONE_CLICK = "List-Unsubscribe=One-Click"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def message():
    rendered = compose.render_text(
        "Tips for you", "A tip: [read this](https://example.com/tip).", {}
    )
    return Message.objects.create(
        key="tips:1", to="ada@example.com", template="tips", subject=rendered.subject,
        text=rendered.text, html=rendered.html, header_id="<tips-1@example.com>",
    )  # fmt: skip


def strict_client() -> Client:
    """No cookies, and CSRF enforced as in production (the test client skips it by default)."""
    return Client(enforce_csrf_checks=True)


def url(message: Message) -> str:
    return f"/e/u/{message.token}/"


def test_a_get_shows_a_button_and_writes_nothing(message):
    for user_agent in ("Microsoft Defender SafeLinks", "Mozilla/5.0 Firefox/130.0", "curl/8"):
        page = Client(HTTP_USER_AGENT=user_agent).get(url(message))
        assert page.status_code == 200
        assert (
            "Unsubscribe me" in page.content.decode() and "ada@example.com" in page.content.decode()
        )
    assert Client().head(url(message)).status_code == 200
    assert Suppression.objects.count() == 0
    assert not Suppression.covers("ada@example.com")


def test_the_one_click_post_suppresses_without_cookies_or_csrf_token(message):
    before = Suppression.objects.count()
    response = strict_client().post(url(message), ONE_CLICK, content_type=FORM)
    assert response.status_code == 200 and "You are unsubscribed" in response.content.decode()
    assert Suppression.objects.count() == before + 1
    row = Suppression.objects.get()
    assert row.email_hash == email_hash("ada@example.com") and "ada@" not in row.email_hash
    assert row.reason == Suppression.Reason.UNSUBSCRIBED and row.detail == "tips"
    assert Suppression.covers("Ada@Example.com")


def test_the_one_click_post_also_works_as_multipart_form_data(message):
    assert strict_client().post(url(message), {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert Suppression.covers(message.to)


def test_the_page_s_own_button_posts_the_same_body(message):
    client = strict_client()
    page = client.get(url(message)).content.decode()
    form = re.search(r'<form method="post"[^>]*>(.*?)</form>', page, re.S)[1]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    assert fields == {"List-Unsubscribe": "One-Click"}
    assert client.post(url(message), fields).status_code == 200
    assert Suppression.covers(message.to)


def test_unsubscribing_twice_keeps_one_row(message):
    for _ in range(3):
        assert strict_client().post(url(message), ONE_CLICK, content_type=FORM).status_code == 200
    assert Suppression.objects.count() == 1
    page = Client().get(url(message)).content.decode()
    assert "You are unsubscribed" in page and "Unsubscribe me" not in page


def test_an_earlier_suppression_keeps_its_reason(message):
    Suppression.objects.create(email_hash=email_hash(message.to), reason="hard_bounce")
    strict_client().post(url(message), ONE_CLICK, content_type=FORM)
    assert Suppression.objects.get().reason == "hard_bounce"


def test_an_unknown_token_is_a_404_and_writes_nothing(message):
    crafted = message.token[:-1] + ("A" if message.token[-1] != "A" else "B")
    for token in (crafted, "x" * 200, "%3Cscript%3E"):
        assert Client().get(f"/e/u/{token}/").status_code == 404
        assert (
            strict_client().post(f"/e/u/{token}/", ONE_CLICK, content_type=FORM).status_code == 404
        )
    assert "This link does not work" in Client().get(f"/e/u/{crafted}/").content.decode()
    assert Suppression.objects.count() == 0


def test_other_methods_are_refused(message):
    assert Client().put(url(message)).status_code == 405
    assert Client().delete(url(message)).status_code == 405
    assert Suppression.objects.count() == 0


def test_the_link_in_a_received_email_unsubscribes_before_the_next_send(smtp, message):
    compose.build(message, "https://funnels.example.com").send()
    (received,) = smtp.wait_for(1)
    header = received["List-Unsubscribe"]
    assert received["List-Unsubscribe-Post"] == ONE_CLICK
    path = urlsplit(re.fullmatch(r"<(https://[^>]+)>", header)[1]).path

    assert Client().get(path).status_code == 200  # the scanner's visit
    assert not Suppression.covers(received["To"])
    assert strict_client().post(path, ONE_CLICK, content_type=FORM).status_code == 200
    assert Suppression.covers(received["To"])  # what the outbox checks before every send
