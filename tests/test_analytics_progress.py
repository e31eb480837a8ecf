"""Progress rows kept current by the event log's write path, and the report built on them."""

import datetime as dt
import io
import json

import pytest
from django.core.management import call_command

from tests.conftest import funnel_dict, sourced_from
from yesladder.analytics.models import Progress, TrafficCost
from yesladder.analytics.report import ReportError, build
from yesladder.events import EventName
from yesladder.funnels.services import load_funnel
from yesladder.leads.models import Lead
from yesladder.leads.services import new_visitor
from yesladder.tracking.identity import stitch
from yesladder.tracking.services import record

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)  # a Monday
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148 Safari/604.1"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _version(data):
    from yesladder.funnels.models import current_version

    return current_version(data["funnel"])


@pytest.fixture
def version():
    data = funnel_dict()
    load_funnel(sourced_from(data))
    return _version(data)


def person(source="google", agent=DESKTOP, medium="cpc"):
    return new_visitor(agent, "https://example.com/", "", {"utm_source": source,
                                                           "utm_medium": medium})  # fmt: skip


def did(visitor, version, step, minutes=0, name=EventName.STEP_VIEWED, **properties):
    return record(name, visitor, version, step, properties,
                  occurred_at=T0 + dt.timedelta(minutes=minutes))  # fmt: skip


def walk(visitor, version, steps, every=10):
    for i, step in enumerate(steps):
        did(visitor, version, step, i * every)


def test_each_step_moves_the_person_up_one_rung_with_the_times_between(version):
    ada = person()
    walk(ada, version, ["guide", "checklist", "score"], every=7)
    row = Progress.objects.get()
    assert (row.level, row.gaps, row.entered_at) == (3, [420, 420], T0)
    today = dt.date.today()  # the visitor was first seen now: its cohort is this week
    monday = today - dt.timedelta(days=today.weekday())
    assert (row.source, row.medium, row.device, row.cohort) == ("google", "cpc", "desktop", monday)


def test_bots_never_count(version):
    walk(person(agent=BOT), version, ["guide", "checklist"])
    assert not Progress.objects.exists()


def test_a_visitor_who_becomes_a_lead_is_one_person_across_devices(version):
    phone, laptop = person("facebook", PHONE), person("newsletter")
    walk(phone, version, ["guide", "checklist"])
    lead = Lead.objects.create(email="ada@example.com")
    stitch(phone, lead)
    stitch(laptop, lead)
    did(laptop, version, "score", 30)
    row = Progress.objects.get()
    assert (row.person, row.level) == (f"l{lead.pk}", 3)
    # First touch: the phone that came first; last touch: the laptop that took the last rung.
    assert (row.source, row.last_source) == ("facebook", "newsletter")


def test_an_event_that_arrives_late_is_counted_where_it_happened(version):
    ada = person()
    did(ada, version, "checklist", 10)
    did(ada, version, "guide", 0)  # a tracked site's batch, sent late
    assert Progress.objects.get().level == 2


def test_steps_out_of_order_or_outside_the_window_do_not_count(version):
    ada, bob = person(), person()
    did(ada, version, "checklist", 0)
    did(ada, version, "guide", 10)
    did(bob, version, "guide", 0)
    did(bob, version, "checklist", 15 * 24 * 60)  # the default window is 14 days
    assert sorted(Progress.objects.values_list("level", flat=True)) == [1, 1]


def test_optional_steps_are_reported_aside_and_exclusions_leave_the_report():
    data = funnel_dict()
    data["steps"].insert(1, {"key": "extra", "kind": "content", "title": "Extra reading",
                             "value": "More", "body": "Text", "optional": True,
                             "next": "checklist"})  # fmt: skip
    data["steps"][0]["next"] = "checklist"
    data["exclude"] = [{"event": "refunded"}]
    load_funnel(sourced_from(data))
    version = _version(data)
    ada, bob = person(), person()
    walk(ada, version, ["guide", "extra", "checklist"])
    walk(bob, version, ["guide", "checklist"])
    did(bob, version, "checklist", 25, EventName.REFUNDED, amount=0)
    assert Progress.objects.filter(excluded=True).count() == 1
    report = build("clean")
    assert [r.reached for r in report.rungs[:2]] == [1, 1]
    assert [(s.key, s.people) for s in report.sides] == [("extra", 1)]


def test_money_is_paid_minus_refunded(version):
    ada = person()
    walk(ada, version, ["guide", "checklist", "score", "call", "program"])
    did(ada, version, "program", 60, EventName.PAID, amount=29000)
    did(ada, version, "program", 61, EventName.CONVERTED)
    assert Progress.objects.get().revenue == 29000
    did(ada, version, "program", 90, EventName.REFUNDED, amount=10000)
    row = Progress.objects.get()
    assert (row.revenue, row.level) == (19000, 6)


# --- the report ------------------------------------------------------------------------------


@pytest.fixture
def crowd(version):
    """100 people enter from two sources; 20 take the checklist; 10 of those score."""
    for i in range(100):
        visitor = person("partner" if i < 40 else "google", medium="solo_ad" if i < 40 else "cpc")
        steps = ["guide", "checklist", "score"][: 1 + (i < 20) + (i < 10)]
        walk(visitor, version, steps, every=5 + i)
        if i < 20:  # a click and an opt-in are not new arrivals on their steps
            did(visitor, version, "guide", 1, EventName.CTA_CLICKED)
            did(visitor, version, "checklist", 6 + i, EventName.OPTED_IN)
    TrafficCost.objects.create(source="partner", day=T0.date(), clicks=40, cost=20000)
    return version


def test_the_report_counts_rates_and_times(crowd):
    report = build("clean", by="source")
    guide, checklist, score = report.rungs[:3]
    assert (guide.reached, checklist.reached, score.reached) == (100, 20, 10)
    assert checklist.from_previous == 0.2 and score.from_previous == 0.5
    assert checklist.dropped == 10 and guide.dropped == 80
    # Those who took the checklist waited 5 + i minutes, i = 0..19: nearest-rank median 14.
    assert guide.median_seconds == 14 * 60 and guide.p90_seconds == 22 * 60
    assert guide.ctr == 0.2 and checklist.benchmark == (0.4, 0.6)
    assert checklist.verdict == "below" and score.verdict == "small"  # 20 people: too few
    assert round(checklist.interval[0], 3) == 0.133 and round(checklist.interval[1], 3) == 0.289


def test_the_report_says_why_and_what_to_do(crowd):
    report = build("clean")
    (diagnosis,) = report.diagnoses
    assert diagnosis.step == "checklist" and "Fewer people" in diagnosis.why
    assert report.bottleneck.step == "call"  # nobody booked a call: the climb stops there
    metrics = {m.name: m for m in report.metrics}
    assert metrics["opt-in rate"].value == 0.2


def test_breakdown_by_source_with_costs(crowd):
    groups = {g.name: g for g in build("clean", by="source").groups}
    partner = groups["partner"]
    assert (partner.entered, partner.leads, partner.cost, partner.clicks) == (40, 20, 20000, 40)
    assert partner.cost_per_lead == 1000 and partner.cost_per_acquisition is None
    assert groups["google"].cost is None
    assert [g.name for g in build("clean", by="vendor").groups] == ["partner"]


def test_a_date_range_counts_people_by_the_day_they_entered(crowd):
    assert build("clean", since=T0.date()).entered == 100
    assert build("clean", since=T0.date() + dt.timedelta(days=1)).entered == 0


def test_bad_requests_say_what_to_ask(crowd):
    with pytest.raises(ReportError, match="no funnel called 'nope'"):
        build("nope")
    with pytest.raises(ReportError, match="--by"):
        build("clean", by="colour")
    with pytest.raises(ReportError, match="--only-version"):
        build("clean", version=9)


def test_the_report_command_prints_the_table_the_diagnosis_and_writes_a_chart(crowd, tmp_path):
    out = io.StringIO()
    call_command("report", "clean", "--by", "source", "--chart", str(tmp_path / "c.svg"),
                 stdout=out)  # fmt: skip
    text = out.getvalue()
    assert "The ladder, rung by rung" in text and "Diagnosis" in text and "partner" in text
    assert (tmp_path / "c.svg").read_text().startswith("<svg")
    out = io.StringIO()
    call_command("report", "clean", "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["entered"] == 100


def test_csv_cells_cannot_run_as_formulas(version):
    walk(person('=HYPERLINK("http://evil.example")'), version, ["guide"])
    out = io.StringIO()
    call_command("report", "clean", "--by", "source", "--format", "csv", stdout=out)
    assert "'=HYPERLINK" in out.getvalue() and "\n=HYPERLINK" not in out.getvalue()
