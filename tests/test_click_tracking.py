"""Click and open tracking: a click redirects only to the URL stored when the email was sent
(threat 26), an unknown token goes nowhere, and the open pixel tells nobody which tokens exist."""

import re

import pytest
from django.test import Client

from yesladder.automation import compose
from yesladder.automation.models import Link, Message
from yesladder.automation.views import PIXEL

pytestmark = pytest.mark.django_db
BASE = "https://funnels.example.com"
GUIDE = "https://example.com/guide?a=1&b=2"


@pytest.fixture
def message():
    rendered = compose.render_text("Your guide", f"Here is [the guide]({GUIDE}).", {})
    message = Message.objects.create(
        key="guide:1", to="ada@example.com", template="guide", subject=rendered.subject,
        text=rendered.text, html=rendered.html, header_id="<guide-1@example.com>",
    )  # fmt: skip
    compose.track(message, BASE)
    return message


def test_a_click_redirects_to_the_stored_url_and_is_counted(message):
    link = Link.objects.get(message=message)
    response = Client().get(f"/e/c/{link.token}/")
    assert response.status_code == 302 and response["Location"] == GUIDE
    assert response["Referrer-Policy"] == "no-referrer"
    link.refresh_from_db()
    message.refresh_from_db()
    assert link.clicks == 1 and link.first_clicked_at and message.clicked_at
    first_click, first_message_click = link.first_clicked_at, message.clicked_at

    for _ in range(4):
        Client().get(f"/e/c/{link.token}/")
    link.refresh_from_db()
    message.refresh_from_db()
    assert link.clicks == 5
    assert link.first_clicked_at == first_click and message.clicked_at == first_message_click


def test_the_query_string_never_chooses_where_to_go(message):
    link = Link.objects.get(message=message)
    for query in ("url=https://evil.example", "next=//evil.example", "u=javascript:alert(1)"):
        response = Client().get(f"/e/c/{link.token}/?{query}")
        assert response.status_code == 302 and response["Location"] == GUIDE


def test_a_crafted_or_unknown_token_is_a_404_with_no_redirect(message):
    link = Link.objects.get(message=message)
    crafted = link.token[:-1] + ("A" if link.token[-1] != "A" else "B")
    for token in (crafted, message.token, "1", "x" * 300, "https%3A%2F%2Fevil.example"):
        response = Client().get(f"/e/c/{token}/?url=https://evil.example")
        assert response.status_code == 404 and "Location" not in response
    link.refresh_from_db()
    assert link.clicks == 0


def test_a_scanner_s_head_request_is_not_a_click(message):
    link = Link.objects.get(message=message)
    assert Client().head(f"/e/c/{link.token}/").status_code == 302
    link.refresh_from_db()
    assert link.clicks == 0


def test_the_link_in_a_received_email_leads_to_the_guide(smtp, message):
    compose.build(message, BASE).send()
    (received,) = smtp.wait_for(1)
    html = received.get_body(preferencelist=("html",)).get_content()
    text = received.get_body(preferencelist=("plain",)).get_content()
    tracked = re.search(rf'href="{BASE}(/e/c/[^"]+)"', html)[1]
    assert f"{BASE}{tracked}" in text and GUIDE not in html and GUIDE not in text
    assert Client().get(tracked)["Location"] == GUIDE


def test_the_open_pixel_records_the_first_open(message):
    response = Client().get(f"/e/o/{message.pixel_token}.gif")
    assert response.status_code == 200 and response["Content-Type"] == "image/gif"
    assert response.content == PIXEL and response.content.startswith(b"GIF89a\x01\x00\x01\x00")
    assert "no-store" in response["Cache-Control"]
    message.refresh_from_db()
    first_open = message.opened_at
    assert first_open is not None
    Client().get(f"/e/o/{message.pixel_token}.gif")
    message.refresh_from_db()
    assert message.opened_at == first_open


def test_an_unknown_pixel_token_gets_the_same_gif_and_writes_nothing(message):
    known = Client().get(f"/e/o/{message.pixel_token}.gif")
    Message.objects.update(opened_at=None)
    crafted = message.token[:-1] + ("A" if message.token[-1] != "A" else "B")
    for token in (crafted, "nope", "x" * 300):
        response = Client().get(f"/e/o/{token}.gif")
        assert response.status_code == 200 and response.content == known.content
        assert response["Cache-Control"] == known["Cache-Control"]
    assert not Message.objects.filter(opened_at__isnull=False).exists()
