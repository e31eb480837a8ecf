"""Staff preview any variant's pages by a signed, salted, expiring link from the dashboard's
experiments page; nobody is counted (no visitor, journey, exposure or event), and no link,
cookie or query lets a visitor choose a variant."""

import re

import pytest
from django.core import signing
from django.test import Client

from tests.test_dashboard_funnels import staff  # noqa: F401 (fixture)
from tests.test_experiments import BROWSER, EXAMPLES, EXPERIMENT
from yesladder.experiments import preview
from yesladder.experiments.assignment import pick
from yesladder.experiments.models import Exposure
from yesladder.funnels.models import Funnel
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.models import Visitor
from yesladder.tracking.models import Event, Journey

pytestmark = [pytest.mark.django_db, pytest.mark.experiments]


@pytest.fixture
def base(db):
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    return Funnel.objects.get().current_version()


def counted() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Visitor, Journey, Exposure, Event))


def test_the_experiments_page_links_every_rung_of_every_variant(staff, base):  # noqa: F811
    html = staff.get("/dashboard/funnels/b2b-ladder/experiments/").content.decode()
    links = re.findall(r'href="(/p/[^"]+/([a-z0-9-]+)/)"', html)
    variant = base.variants.get()
    assert len(links) == len(base.spec.ladder()) + len(variant.spec.ladder())
    before = counted()
    stranger = Client(**BROWSER)
    for link, step in links:
        response = stranger.get(link)
        assert response.status_code == 200
        assert f'data-step="{step}"' in response.content.decode()
        assert response["Cache-Control"] == "private, no-store"
    assert counted() == before  # nobody was counted
    assert "yl_vid" not in stranger.cookies


def test_a_preview_shows_the_variant_s_own_ladder(base):
    variant = base.variants.get()
    response = Client(**BROWSER).get(f"/p/{preview.token(variant.pk)}/")
    first = variant.spec.steps[0]
    assert first.key != base.spec.steps[0].key  # the variant starts with the assessment
    assert f'data-step="{first.key}"' in response.content.decode()


def test_forged_expired_or_foreign_links_show_nothing(base, monkeypatch):
    variant = base.variants.get()
    good = preview.token(variant.pk)
    client = Client(**BROWSER)
    foreign = signing.dumps({"v": variant.pk}, salt="yesladder.download")
    for token in (good[:-2] + "xx", foreign, preview.token(10**9), "nonsense"):
        assert client.get(f"/p/{token}/").status_code == 404
    assert client.get(f"/p/{good}/no-such-step/").status_code == 404
    assert client.post(f"/p/{good}/", {"action": "continue"}).status_code == 405
    monkeypatch.setattr(preview, "PREVIEW_AGE", -1)
    assert client.get(f"/p/{good}/").status_code == 404


def test_a_version_without_experiments_has_no_preview(db):
    from tests.conftest import CLEAN_FUNNEL, sourced_from

    load_funnel(sourced_from(CLEAN_FUNNEL))
    version = Funnel.objects.get(key="clean").current_version()
    assert Client().get(f"/p/{preview.token(version.pk)}/").status_code == 404


def test_a_preview_link_never_chooses_a_visitor_s_variant(base):
    variant = base.variants.get()
    spec = base.spec.experiments[0]
    for _ in range(6):
        client = Client(**BROWSER)
        token = preview.token(variant.pk)
        client.get(f"/p/{token}/")
        client.cookies["yl_preview"] = token
        client.get(f"/f/b2b-ladder/?preview={token}&variant={EXPERIMENT}")
    for exposure in Exposure.objects.all():
        assert exposure.variant == pick(spec, f"v{exposure.visitor_id.hex}")
    assert Exposure.objects.count() == 6


def test_each_variant_s_ladder_is_drawn_as_the_report_s_funnel_chart(staff, base):  # noqa: F811
    from tests.test_experiments import people

    people(base, "education-first", 40, 4)
    html = staff.get("/dashboard/funnels/b2b-ladder/experiments/").content.decode()
    charts = re.findall(r'<img class="variant-chart" src="([^"]+)"', html)
    assert len(charts) == 2 and "<meter" not in html
    answer = staff.get(charts[0])
    assert answer["Content-Type"] == "image/svg+xml"
    svg = answer.content.decode()
    assert svg.startswith("<svg") and "Exposed" in svg and "40" in svg
    assert staff.get(charts[0].replace("education-first", "nope")).status_code == 404
    assert Client().get(charts[0]).status_code == 302  # strangers go to the sign-in
