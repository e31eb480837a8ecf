"""Threat 13: the tokens in emailed links are 128-bit random values or signatures, and an address
that keeps trying tokens that lead nowhere on the email links (unsubscribe, click, download)
gets 429 for each further miss until the window is over."""

import pytest
from django.test import Client

from yesladder.automation.models import Link, Message, Suppression

pytestmark = pytest.mark.django_db
GUESSES = ["/e/u/{}/", "/e/c/{}/", "/d/{}/"]


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


def test_beyond_the_limit_every_kind_of_miss_answers_429_and_right_tokens_still_work(
    message, settings
):
    settings.LIMIT_TOKEN_MISSES_PER_HOUR = 8
    client = guesser()
    answers = [client.get(GUESSES[n % 3].format(f"guess{n}")).status_code for n in range(8)]
    assert set(answers) == {404}
    for guess in GUESSES:
        refused = client.get(guess.format("one-more"))
        assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 3600
    # Someone else behind the same address (or the mail provider's one-click POST) is not
    # locked out of unsubscribing by the guesses.
    one_click = client.post(f"/e/u/{message.token}/", "List-Unsubscribe=One-Click",
                            content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert one_click.status_code == 200 and Suppression.objects.count() == 1
    assert client.get(f"/e/c/{message.links.get().token}/").status_code == 302
    assert guesser("198.51.100.7").get("/e/u/one-more/").status_code == 404  # per address


def test_right_tokens_never_count(message, settings):
    settings.LIMIT_TOKEN_MISSES_PER_HOUR = 3
    client = guesser()
    for _ in range(10):  # a mail gateway opening everyone's links from one address
        assert client.get(f"/e/u/{message.token}/").status_code == 200
        assert client.get(f"/e/c/{message.links.get().token}/").status_code == 302
    assert client.get("/e/u/first-miss/").status_code == 404
