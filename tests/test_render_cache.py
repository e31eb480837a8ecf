"""Step pages rendered once per process for every visitor they look the same to
(`steps.views._rendered_key`): each visitor still gets their own CSRF token, a page with a
visitor's own part (their personal link) is never shown to another, and a new version of a
funnel is never served the old version's page."""

from types import SimpleNamespace

import pytest
from django.test import Client

from tests.conftest import sourced_from
from tests.test_share_step import funnel as share_funnel
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Visitor
from yesladder.steps import views

BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}


@pytest.fixture
def renders(monkeypatch):
    """An empty cache, and every full render of a step page counted."""
    monkeypatch.setattr(views, "_rendered", {})
    done = []

    def counted(*args, **kwargs):
        done.append(args[0])
        return real(*args, **kwargs)

    real = views.render_to_string
    monkeypatch.setattr(views, "render_to_string", counted)
    return done


def visitor() -> Client:
    return Client(enforce_csrf_checks=True, **BROWSER)


def token_of(html: str) -> str:
    start = html.index('name="csrfmiddlewaretoken" value="') + len(
        'name="csrfmiddlewaretoken" value="'
    )
    return html[start : html.index('"', start)]


def kept_pages() -> list[str]:
    return [html for html in views._rendered.values() if html]


@pytest.mark.django_db
def test_a_page_kept_for_everyone_carries_each_visitors_own_csrf_token(clean, renders):
    load_funnel(sourced_from(clean))
    ada, bo, cy = visitor(), visitor(), visitor()
    pages = {name: who.get("/f/clean/") for name, who in (("ada", ada), ("bo", bo))}
    assert len(renders) == 2 and len(kept_pages()) == 1  # kept the second time it is rendered
    cys = cy.get("/f/clean/").content.decode()
    assert len(renders) == 2  # the third visitor's page came from the cache

    assert views.CSRF_MARK in kept_pages()[0]  # the cached page holds no one's token
    tokens = [token_of(p.content.decode()) for p in pages.values()] + [token_of(cys)]
    assert not any(views.CSRF_MARK in p for p in [cys, *tokens])
    assert cy.post("/f/clean/guide/", {"csrfmiddlewaretoken": tokens[0]}).status_code == 403
    assert cy.post("/f/clean/guide/", {"csrfmiddlewaretoken": tokens[2]}).status_code == 302


@pytest.mark.django_db
def test_a_page_with_a_visitors_own_link_is_never_shown_to_another(tmp_path, renders):
    share_funnel(tmp_path, "shared")
    links = {}
    for name in ("ada", "bo", "cy"):
        browser = visitor()
        intro = browser.get("/f/bonus/").content.decode()
        browser.post("/f/bonus/intro/", {"csrfmiddlewaretoken": token_of(intro)})
        first, again = (browser.get("/f/bonus/share-bonus/").content.decode() for _ in range(2))
        code = Visitor.objects.get(pk=browser.cookies["yl_vid"].value).referral_code
        links[name] = (f"/f/bonus/?r={code}", first, again)
    for link, first, again in links.values():
        assert link in first and link in again  # their own link, the second time too
        others = [other for other, *_ in links.values() if other != link]
        assert not any(other in first or other in again for other in others)


@pytest.mark.django_db
def test_a_new_version_is_not_served_the_old_versions_page(clean, renders):
    load_funnel(sourced_from(clean))
    for _ in range(2):
        visitor().get("/f/clean/")
    assert any("Guide" in page for page in kept_pages())

    clean["steps"][0]["title"] = "The pipeline guide, rewritten"
    load_funnel(sourced_from(clean))
    page = visitor().get("/f/clean/").content.decode()
    assert "The pipeline guide, rewritten" in page and len(renders) == 3


def shown(**changes) -> views.Show:
    page = SimpleNamespace(journey=SimpleNamespace(done=["guide"]), version=SimpleNamespace(pk=7),
                           step=SimpleNamespace(key="checklist"))  # fmt: skip
    return views.Show(page, "yesladder/steps/magnet.html", **changes)


def test_the_key_is_the_version_the_step_the_steps_done_and_a_context_of_plain_values():
    context = {"page": object(), "fields": ["email"], "download_url": None, "expires_days": 7}
    key = views._rendered_key(shown(), context)
    assert key[:5] == ("yesladder/steps/magnet.html", 7, "checklist", ("guide",), 200)
    link = views._rendered_key(shown(), {**context, "download_url": "/d/ada-token/"})
    assert link != key  # a visitor's own link is part of the key: never another's page

    assert views._rendered_key(shown(errors={"email": "Please"}), context) is None
    assert views._rendered_key(shown(values={"email": "ada@example.com"}), context) is None
    assert views._rendered_key(shown(), {**context, "lead": object()}) is None  # unknown: render
