"""A test judged on the metric it changes: a rung of the ladder, revenue or a tracked event as
the primary metric, secondary metrics with their own statistics, the minimum as a spec setting,
a waiting test that says why and a variant very likely worse offered to be stopped; in the
results, `experiment results` (text and JSON) and on the experiments page."""

import json
from io import StringIO

import pytest
import yaml
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.staff import member
from tests.test_experiments import EXPERIMENT, b2b, project, rules, sourced  # noqa: F401
from yesladder.analytics.models import Progress
from yesladder.events import EventName
from yesladder.experiments import stats
from yesladder.experiments.assignment import live
from yesladder.experiments.models import Exposure
from yesladder.experiments.planning import candidates
from yesladder.experiments.results import results
from yesladder.experiments.rollup import rebuild
from yesladder.funnels import lint
from yesladder.funnels.models import Funnel
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.models import Visitor
from yesladder.tracking.models import Event

pytestmark = pytest.mark.experiments
PAGE = "/dashboard/funnels/b2b-ladder/experiments/"
JUDGED = {"metric": {"reached": "strategy-session"},
          "secondary": ["conversion", "revenue", {"event": "video_80"}],
          "min_conversions": 50}  # fmt: skip


# --- the spec and its lint (no database) --------------------------------------------------------


def test_a_metric_names_a_rung_every_variant_keeps(b2b):  # noqa: F811
    b2b["experiments"][0].update(JUDGED)
    assert rules(b2b) == []
    b2b["experiments"][0]["secondary"].append({"reached": "nope"})
    assert rules(b2b) == [("YL033", "")]
    b2b["experiments"][0]["secondary"].pop()
    b2b.pop("automations")  # they name every step: a variant without one could not be built
    variant = b2b["experiments"][0]["variants"][1]
    variant["order"].remove("checklist")
    variant["remove"] = ["checklist"]
    del variant["steps"]["checklist"]
    assert rules(b2b) == []
    b2b["experiments"][0]["metric"] = {"reached": "checklist"}
    assert rules(b2b) == [("YL033", "")]
    (finding,) = lint.lint(sourced(b2b))
    assert "reaching checklist, which these ladders lack: assessment-early" in finding.message


def test_a_metric_the_spec_cannot_read_is_named(b2b):  # noqa: F811
    from yesladder.funnels.spec import SpecError, parse_spec

    for wrong in ("revenu", {"reach": "guide"}, {"reached": "guide", "event": "x"}):
        b2b["experiments"][0]["metric"] = wrong
        with pytest.raises(SpecError) as caught:
            parse_spec(yaml.safe_dump(b2b), "x.yaml")
        (problem,) = caught.value.problems
        assert problem.field == "experiments[0].metric"
        assert "{reached: STEP} or {event: NAME}" in problem.message
    b2b["experiments"][0].update(metric="revenue", secondary=["revenue"])
    with pytest.raises(SpecError, match="the metric 'revenue' is named twice"):
        parse_spec(yaml.safe_dump(b2b), "x.yaml")


# --- results ---------------------------------------------------------------------------------


@pytest.fixture
def judged(project, db):  # noqa: F811
    data = yaml.safe_load(project.read_text())
    data["experiments"][0].update(JUDGED)
    project.write_text(yaml.safe_dump(data, sort_keys=False))
    load_funnel(read_spec(project))
    return Funnel.objects.get().current_version()


def people(version, variant: str, exposed: int, sessions: int, paid: int = 0, watched: int = 0):
    """`exposed` people of `variant`: `sessions` of them reached the strategy session (the
    first `paid` of those paid 990.00 for the pilot), the first `watched` tracked video_80."""
    current = live(version)[0]
    ladder = current.versions[variant]
    keys = [s.key for s in ladder.spec.ladder()]
    visitors = Visitor.objects.bulk_create([Visitor() for _ in range(exposed)])
    now = timezone.now()
    Exposure.objects.bulk_create([
        Exposure(experiment=current.row, variant=variant, version=ladder, visitor=v,
                 person=f"v{v.pk.hex}", exposed_at=now) for v in visitors
    ])  # fmt: skip
    at = keys.index("strategy-session") + 1
    Progress.objects.bulk_create([
        Progress(funnel_id=version.funnel_id, version=ladder, person=f"v{v.pk.hex}", visitor=v,
                 level=(len(keys) if i < paid else at) if i < sessions else 1,
                 revenue=99000 if i < paid else 0, gaps=[3600] * (len(keys) - 1))
        for i, v in enumerate(visitors)
    ])  # fmt: skip
    Event.objects.bulk_create([
        Event(name=EventName.VIDEO_PROGRESS, label="video_80", visitor=v, funnel_version=ladder,
              occurred_at=now) for v in visitors[:watched]
    ])  # fmt: skip
    rebuild([current.row.pk])


def test_the_decision_follows_the_rung_the_test_changes(judged):
    people(judged, "education-first", 1000, 80, paid=5, watched=100)
    people(judged, EXPERIMENT, 1000, 140, paid=6, watched=300)
    r = results("b2b-ladder", EXPERIMENT)
    assert r.metric == "reached strategy-session"
    assert r.secondary == ("conversion", "revenue", "event video_80")
    assert [t.sum for t in r.metrics["reached strategy-session"]] == [80, 140]
    assert [t.sum for t in r.metrics["event video_80"]] == [100, 300]
    d = r.analysis.decision
    assert (d.verdict, d.variant, d.metric) == ("variant_wins", EXPERIMENT, r.metric)
    # five and six pilots: the macro conversion could not have settled a thing
    conversion = r.comparisons("conversion")[EXPERIMENT]
    assert conversion.settled() == 0 and not conversion.enough
    video = r.comparisons("event video_80")[EXPERIMENT]
    assert video.p_value_adjusted >= video.sequential.p_value  # Holm across the secondaries


def test_a_waiting_test_names_what_it_waits_for_and_a_likely_loser(judged):
    people(judged, "education-first", 240, 26)
    people(judged, EXPERIMENT, 250, 3)
    r = results("b2b-ladder", EXPERIMENT, people_per_day=49)
    d = r.analysis.decision
    assert d.verdict == "keep_running" and dict(d.waiting) == {"education-first": 26,
                                                               EXPERIMENT: 3}  # fmt: skip
    assert r.sentence.startswith(
        "keep running: education-first has 26 and assessment-early 3 of the 50 conversions "
        "(reached strategy-session) each arm needs before anything settles; about"
    )
    assert r.analysis.likely_worse == (EXPERIMENT,)
    out = StringIO()
    call_command("experiment", "results", "b2b-ladder", EXPERIMENT, stdout=out)
    text = out.getvalue()
    assert "assessment-early is very likely worse on reached strategy-session" in text
    assert f"yesladder experiment stop b2b-ladder {EXPERIMENT}" in text
    editor = Client()
    editor.force_login(member("ed", "editor"))
    page = editor.get(PAGE).content.decode()
    assert "assessment-early is very likely worse" in page
    assert page.count(f'href="{PAGE}{EXPERIMENT}/stop/"') == 2  # the banner's and the usual
    assert "(on reached strategy-session)" in page and "(secondary)" in page


def test_the_json_keeps_its_names_and_adds_every_metric(judged):
    people(judged, "education-first", 1000, 80, paid=5, watched=100)
    people(judged, EXPERIMENT, 1000, 140, paid=6, watched=300)
    out = StringIO()
    call_command("experiment", "results", "b2b-ladder", EXPERIMENT, "--format", "json",
                 stdout=out)  # fmt: skip
    found = json.loads(out.getvalue())
    assert {"srm_p_value", "decision", "variants"} <= set(found)
    assert found["metric"] == "reached strategy-session" and found["min_conversions"] == 50
    assert found["secondary"] == ["conversion", "revenue", "event video_80"]
    control, variant = found["variants"]
    assert {"key", "exposed", "converted", "rate", "chance_to_beat_control", "expected_loss",
            "uplift_interval"} <= set(variant)  # fmt: skip
    assert (variant["converted"], variant["metric"]["sum"]) == (6, 140)
    assert variant["chance_to_beat_control"] == variant["metric"]["chance_to_beat_control"]
    assert variant["secondary"]["revenue"]["mean"] == 6 * 99000 / 1000
    assert control["metric"]["chance_to_beat_control"] is None
    assert found["decision"]["metric"] == "reached strategy-session"


def test_the_planner_says_how_long_each_metric_would_take(judged):
    people(judged, "education-first", 400, 160, paid=16)  # 40 % reach the session, 4 % buy
    people(judged, EXPERIMENT, 400, 150, paid=15)
    r = results("b2b-ladder", EXPERIMENT, people_per_day=400)
    found = {c.metric: c for c in candidates(r, 0.20)}
    session, conversion = found["reached strategy-session"], found["conversion"]
    assert (session.baseline, conversion.baseline) == (0.4, 0.04)
    assert session.people_per_variant == stats.plan(0.4, 0.2, 400).people_per_variant
    # 4 %: the minimum of 50 pilots each is not what binds; the plan is
    assert conversion.days == stats.plan(0.04, 0.2, 400).days > 5 * session.days
    assert "reached guide" in found and "event video_80" in found
    out = StringIO()
    call_command("experiment", "plan", "b2b-ladder", EXPERIMENT, "--daily", "400",
                 "--uplift", "20", stdout=out)  # fmt: skip
    text = out.getvalue()
    assert "reached strategy-session (judged on)" in text and f"{session.days}" in text
    editor = Client()
    editor.force_login(member("ed", "editor"))
    page = editor.get(PAGE).content.decode()
    assert "How long each metric would take" in page and "40.0%" in page
