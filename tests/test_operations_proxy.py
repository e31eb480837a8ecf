"""X-Forwarded-For is the visitor's address only when a trusted proxy sent it (issue 34): the
same opt-in page records the proxy's word from 127.0.0.1 and the peer's own address from
anyone else, whatever it put in the header."""

from pathlib import Path

import pytest
from django.test import Client

from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.models import Consent

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "solo-ad.yaml"
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}


def opt_in(peer: str, claimed: str, email: str) -> str:
    client = Client(REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=claimed, **BROWSER)
    client.get("/f/solo-ad/")
    answer = client.post("/f/solo-ad/optin/", {"email": email})
    assert answer["Location"] == "/f/solo-ad/freebie/"
    return Consent.objects.get(lead__email=email).ip


@pytest.mark.django_db
def test_the_address_comes_from_x_forwarded_for_only_through_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = 1  # the default proxy addresses: loopback
    load_funnel(read_spec(EXAMPLE))
    assert opt_in("127.0.0.1", "203.0.113.5", "via-proxy@example.com") == "203.0.113.5"
    assert opt_in("192.0.2.44", "203.0.113.6", "direct@example.com") == "192.0.2.44"
