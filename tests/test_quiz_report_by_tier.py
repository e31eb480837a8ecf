"""`report --by tier`: each person counts in the tier of their latest scored result (a retake
moves them, a result reported late does not), those with none in "no score"; the report of a
ladder with a scored quiz shows its tiers, in the terminal and on the dashboard."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from tests.quiz_fixtures import CHECKUP
from tests.staff import member
from yesladder.analytics.models import Progress
from yesladder.analytics.report import build
from yesladder.events import EventName
from yesladder.funnels.models import current_version
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import parse_spec
from yesladder.leads.models import Visitor
from yesladder.tracking.services import record

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def visitor_through(version, *steps: str) -> Visitor:
    visitor = Visitor.objects.create()
    for n, step in enumerate(steps):
        record(EventName.STEP_VIEWED, visitor, version, step, occurred_at=at(n))
    return visitor


def result(visitor, version, tier: str, minutes: int, score: int = 40) -> None:
    record(EventName.QUIZ_COMPLETED, visitor, version, "checkup",
           {"outcome": tier, "score": score, "tier": tier}, occurred_at=at(minutes))  # fmt: skip


@pytest.fixture
def version():
    load_funnel(parse_spec(CHECKUP, "checkup.yaml"))
    return current_version("checkup")


def tiers(report) -> dict[str, tuple[int, ...]]:
    return {g.name: g.reached for g in report.groups}


def test_a_person_counts_in_the_tier_of_their_latest_result(version):
    leaky = visitor_through(version, "guide", "checkup", "fix-call")
    result(leaky, version, "leaky", 5)
    retaken = visitor_through(version, "guide", "checkup", "playbook")
    result(retaken, version, "leaky", 5)
    result(retaken, version, "strong", 9, score=85)  # a retake moves them
    late = visitor_through(version, "guide", "checkup")
    result(late, version, "steady", 9, score=60)
    result(late, version, "leaky", 3)  # reported late: an older result changes nothing
    visitor_through(version, "guide")  # never took the quiz
    assert dict(Progress.objects.values_list("visitor__id", "tier")) == {
        leaky.pk: "leaky", retaken.pk: "strong", late.pk: "steady",
    } | {v: "" for v in Visitor.objects.exclude(pk__in=[leaky.pk, retaken.pk, late.pk])
         .values_list("pk", flat=True)}  # fmt: skip
    report = build("checkup", by="tier")
    # The ladder's rungs: guide, checkup, fix-call, playbook.
    assert tiers(report) == {"leaky": (1, 1, 1, 0), "strong": (1, 1, 0, 0),
                             "steady": (1, 1, 0, 0), "": (1, 0, 0, 0)}  # fmt: skip
    assert report.groups == build("checkup", by="tier", touch="last").groups  # no touch
    # The tiers as a marketer reads them: the spec's order and titles, then those with none.
    assert [(g.name, g.entered) for g in build("checkup").tiers] == [
        ("Your pipeline leaks", 1),
        ("Your pipeline holds", 1),
        ("Your pipeline is tight", 1),
        ("no score", 1),
    ]


def test_the_terminal_and_the_dashboard_show_the_tiers(version):
    result(visitor_through(version, "guide", "checkup", "fix-call"), version, "leaky", 5)
    visitor_through(version, "guide")
    out = StringIO()
    call_command("report", "checkup", "--by", "tier", stdout=out)
    text = out.getvalue()
    assert "Tiers of the scored quiz" in text and "Your pipeline leaks" in text
    assert "By tier (first touch)" in text and "no score" in text
    out = StringIO()
    call_command("report", "checkup", "--format", "csv", stdout=out)
    assert "tier,people,of all who entered," in out.getvalue()
    assert "Your pipeline leaks,1,50.0 %," in out.getvalue()
    staff = Client()
    staff.force_login(member("staff", "viewer"))
    html = staff.get("/dashboard/funnels/checkup/?by=tier").content.decode()
    assert 'id="tiers">Tiers of the scored quiz' in html
    start = html.index('<svg class="tier-bars"')
    bars = html[start : html.index("</svg>", start)]
    assert "Your pipeline leaks: 1" in bars and "no score: 1" in bars and "<script" not in bars
    assert '<option value="tier" selected>' in html


def test_a_ladder_without_a_scored_quiz_has_no_tiers_but_can_ask(version):
    from tests.conftest import funnel_dict, sourced_from

    load_funnel(sourced_from(funnel_dict()))
    plain = current_version("clean")
    record(EventName.STEP_VIEWED, Visitor.objects.create(), plain, "guide", occurred_at=T0)
    assert build("clean").tiers == ()
    assert tiers(build("clean", by="tier")) == {"": (1, 0, 0, 0, 0, 0)}


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_counts_the_results_taken_before_it(version):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from yesladder.analytics.models import DayTally

    result(visitor_through(version, "guide", "checkup"), version, "leaky", 5)
    retaken = visitor_through(version, "guide", "checkup", "fix-call")
    result(retaken, version, "leaky", 5)
    result(retaken, version, "strong", 9, score=85)
    visitor_through(version, "guide")

    def tallies() -> list:
        counted = DayTally.objects.exclude(people=0)  # a row emptied by a move is kept at 0
        return sorted(counted.values_list("dimension", "value", "level", "people"))

    before, tiers_before = tallies(), sorted(Progress.objects.values_list("tier", flat=True))
    executor = MigrationExecutor(connection)
    executor.migrate([("analytics", "0002_rollups")])
    DayTally.objects.filter(dimension="tier").delete()  # as an installation before tiers
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert tallies() == before
    assert sorted(Progress.objects.values_list("tier", flat=True)) == tiers_before == [
        "", "leaky", "strong"]  # fmt: skip


def test_a_score_a_site_reports_counts_in_its_tier(version, tracker):
    where = {"funnel": "checkup", "step": "checkup"}
    calls = [("step_viewed", {"step": "guide"}, "2026-10-05T09:00:00Z"),
             ("quiz_completed", {"score": 85}, "2026-10-05T09:05:00Z"),
             ("quiz_completed", {"score": 30}, "2026-10-05T09:01:00Z")]  # fmt: skip
    batch = [{"type": "track", "event": name, "anonymousId": "a1", "messageId": f"m{n}",
              "timestamp": at, "properties": {**where, **extra}}
             for n, (name, extra, at) in enumerate(calls)]  # fmt: skip
    assert tracker.post("batch", {"batch": batch}).status_code == 200
    assert Progress.objects.get().tier == "strong"  # the latest result, not the last sent
    assert tiers(build("checkup", by="tier")) == {"strong": (1, 0, 0, 0)}
