"""Threat 13: the tokens in emailed links are 128-bit random values or signatures, and an address
that keeps trying tokens that lead nowhere is stopped for the hour, on every kind of link."""

import pytest
from django.test import Client

from yesladder.automation.models import Link, Message, Suppression

pytestmark = pytest.mark.django_db
GUESSES = ["/e/u/{}/", "/e/c/{}/", "/d/{}/", "/c/{}/"]


@pytest.fixture
def message():
    message = Message.objects.create(
        key="tips:1", to="ada@example.com", template="tips", subject="Tips",
        text="A tip.", html="<p>A tip.</p>",
    )  # fmt: skip
    Link.objects.create(message=message, url="https://example.com/tip")
    return message


def guesser(address: str = "203.0.113.9") -> Client:
    return Client(REMOTE_ADDR=address)


def test_tokens_carry_128_random_bits(message):
    tokens = {message.token, message.pixel_token, message.links.get().token}
    assert len(tokens) == 3 and all(len(token) >= 22 for token in tokens)  # 16 bytes, base64


def test_misses_stop_the_address_for_every_link_until_the_hour_is_over(message, settings):
    settings.LIMIT_TOKEN_MISSES_PER_HOUR = 8
    client = guesser()
    answers = [client.get(GUESSES[n % 4].format(f"guess{n}")).status_code for n in range(8)]
    assert set(answers) <= {404, 410}
    assert client.get(f"/e/u/{message.token}/").status_code == 429  # even a right one now
    refused = client.post(f"/e/u/{message.token}/", "List-Unsubscribe=One-Click",
                          content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert refused.status_code == 429 and refused["Retry-After"] == "3600"
    assert Suppression.objects.count() == 0
    assert guesser("198.51.100.7").get(f"/e/u/{message.token}/").status_code == 200


def test_right_tokens_never_count(message, settings):
    settings.LIMIT_TOKEN_MISSES_PER_HOUR = 3
    client = guesser()
    for _ in range(10):  # a mail gateway opening everyone's links from one address
        assert client.get(f"/e/u/{message.token}/").status_code == 200
        assert client.get(f"/e/c/{message.links.get().token}/").status_code == 302
