"""Share-to-unlock: a personal link with a referral code, unlock rules, referral attribution."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.models import Visitor
from yesladder.tracking.models import Event, Journey

pytestmark = pytest.mark.django_db
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}

SHARE_FUNNEL = """
funnel: bonus
name: Bonus chapter
steps:
  - key: intro
    kind: content
    title: The checklist
    value: A short read
    cta: Go on
    body: Useful words.
  - key: share-bonus
    kind: share
    title: Unlock the bonus chapter
    value: Our 20 best subject lines
    cta: Read on
    message: This checklist is worth a look & a share.
    unlock: {when: %(when)s, count: 2}
    unlocks: |
      ## The 20 subject lines
      First: *the one that worked*.
  - key: join
    kind: optin
    title: Join
    value: Weekly tips
    cta: Join
"""


def funnel(tmp_path, when: str) -> None:
    path = tmp_path / "bonus.yaml"
    path.write_text(SHARE_FUNNEL % {"when": when})
    load_funnel(read_spec(path))


def sharer_link(client: Client) -> str:
    client.get("/f/bonus/")
    client.post("/f/bonus/intro/")
    page = client.get("/f/bonus/share-bonus/").content.decode()
    assert "Your personal link" in page and "The 20 subject lines" not in page
    code = Visitor.objects.exclude(referral_code=None).get().referral_code
    assert f"http://testserver/f/bonus/?r={code}" in page
    return f"/f/bonus/?r={code}"


def test_unlocks_on_share_and_redirects_only_to_the_fixed_intent(tmp_path):
    funnel(tmp_path, "shared")
    client = Client(**BROWSER)
    link = sharer_link(client)
    locked = client.post("/f/bonus/share-bonus/", {"action": "continue"})
    assert locked.status_code == 400 and "Share your link first" in locked.content.decode()
    out = client.post("/f/bonus/share-bonus/", {"action": "share", "channel": "x"})
    target = urlsplit(out["Location"])
    assert (target.scheme, target.netloc) == ("https", "x.com")
    assert parse_qs(target.query) == {
        "text": ["This checklist is worth a look & a share."],
        "url": [f"http://testserver{link}"],
    }
    mail = client.post("/f/bonus/share-bonus/", {"action": "share", "channel": "email"})
    assert mail["Location"].startswith("mailto:?subject=")
    evil = client.post("/f/bonus/share-bonus/", {"action": "share", "channel": "//evil.com"})
    assert evil.status_code == 400
    page = client.get("/f/bonus/share-bonus/").content.decode()
    assert "<h3>The 20 subject lines</h3>" in page and "<em>the one that worked</em>" in page
    done = client.post("/f/bonus/share-bonus/", {"action": "continue"})
    assert done["Location"] == "/f/bonus/join/"
    assert Event.objects.filter(name="shared").count() == 2


def test_copy_link_counts_as_a_share_and_works_without_javascript(tmp_path):
    funnel(tmp_path, "shared")
    client = Client(**BROWSER)
    sharer_link(client)
    copied = client.post("/f/bonus/share-bonus/", {"action": "share", "channel": "copy"})
    assert copied["Location"] == "/f/bonus/share-bonus/?copied=1"
    assert "Link copied" in client.get(copied["Location"]).content.decode()


def test_unlocks_when_enough_people_arrived_and_attributes_them(tmp_path):
    funnel(tmp_path, "referrals")
    sharer = Client(**BROWSER)
    link = sharer_link(sharer)
    assert "0 of 2 people arrived" in sharer.get("/f/bonus/share-bonus/").content.decode()
    Client(HTTP_USER_AGENT="facebookexternalhit/1.1").get(link)  # a link preview is no person
    sharer.get(link)  # nor is the sharer clicking their own link
    Client(**BROWSER).get(link, REMOTE_ADDR="198.51.100.1")  # a fetch without a step: no one
    friend = Client(**BROWSER)
    friend.get(link, REMOTE_ADDR="198.51.100.2")
    friend.post("/f/bonus/intro/")  # came back with its cookie and took a step: a person
    assert "1 of 2 people" in sharer.get("/f/bonus/share-bonus/").content.decode()
    locked = sharer.post("/f/bonus/share-bonus/", {"action": "continue"})
    assert "when 2 people arrived through your link" in locked.content.decode()
    other = Client(**BROWSER)
    other.get(link.replace("/?", "/intro/?"), REMOTE_ADDR="198.51.100.3")  # any page counts
    other.post("/f/bonus/intro/")
    assert "The 20 subject lines" in sharer.get("/f/bonus/share-bonus/").content.decode()
    sharer_visitor = Visitor.objects.exclude(referral_code=None).get()
    referred = Journey.objects.filter(referred_by=sharer_visitor, visitor__is_bot=False)
    assert referred.count() == 3 and referred.exclude(done=[]).count() == 2
    arrivals = Event.objects.filter(name="referral_arrived", is_bot=False)
    assert arrivals.count() == 3 and {e.step_key for e in arrivals} == {"share-bonus"}
    assert {e.properties["sharer"] for e in arrivals} == {str(sharer_visitor.pk)}


def test_an_unknown_referral_code_is_ignored(tmp_path):
    funnel(tmp_path, "referrals")
    response = Client(**BROWSER).get("/f/bonus/?r=<script>")
    assert response.status_code == 200 and Journey.objects.get().referred_by is None


def test_one_address_brings_at_most_its_hourly_share_of_referrals(tmp_path, settings):
    settings.LIMIT_REFERRALS_PER_HOUR = 2
    funnel(tmp_path, "referrals")
    link = sharer_link(Client(**BROWSER))
    for _ in range(4):
        Client(**BROWSER).get(link, REMOTE_ADDR="203.0.113.50")
    assert Journey.objects.exclude(referred_by=None).count() == 2
