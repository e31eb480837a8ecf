"""A bandit: traffic follows the winner. The worker sets each period's weights from the chance
to be best, every variant keeps its floor, new people get the latest weights, results weigh
each period's people and the split check expects each period's weights; the CLI's JSON and
the page show the weights over time."""

import datetime as dt
import json
from io import StringIO

import pytest
import time_machine
import yaml
from django.core.management import call_command
from django.test import Client

from tests.staff import member
from tests.test_experiment_metrics import PAGE, people
from tests.test_experiments import EXPERIMENT, project  # noqa: F401 (fixtures)
from yesladder.experiments import rebalance, stats
from yesladder.experiments.assignment import live
from yesladder.experiments.models import BanditPeriod
from yesladder.experiments.results import results
from yesladder.funnels.models import Funnel
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec

pytestmark = [pytest.mark.django_db, pytest.mark.experiments]
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def bandit(project):  # noqa: F811
    data = yaml.safe_load(project.read_text())
    data["experiments"][0].update(metric={"reached": "strategy-session"}, min_conversions=50,
                                  bandit={"every": "1d", "floor": 10})  # fmt: skip
    project.write_text(yaml.safe_dump(data, sort_keys=False))
    with time_machine.travel(START, tick=False):
        load_funnel(read_spec(project))
        version = Funnel.objects.get().current_version()
        live(version)  # the experiment's row begins now
    return version


def test_traffic_follows_the_winner_and_results_stay_weighted(bandit):
    with time_machine.travel(START + dt.timedelta(hours=2), tick=False):
        people(bandit, "education-first", 200, 20)
        people(bandit, EXPERIMENT, 200, 60)
    assert rebalance.update(START + dt.timedelta(hours=23)) == 0  # the first day is not over
    assert rebalance.update(START + dt.timedelta(days=1, hours=1)) == 1
    assert rebalance.update(START + dt.timedelta(days=1, hours=2)) == 0
    (period,) = BanditPeriod.objects.all()
    chances = stats.chance_to_be_best([stats.Totals.rate(200, 20), stats.Totals.rate(200, 60)])
    assert period.weights == pytest.approx(
        {"education-first": 10 + 80 * chances[0], EXPERIMENT: 10 + 80 * chances[1]}, abs=1e-4
    )
    assert period.weights["education-first"] == pytest.approx(10, abs=0.01)  # its floor
    split = {s.key: s.weight for s in live(bandit)[0].split}
    assert split == period.weights  # new people get the new weights at once

    with time_machine.travel(START + dt.timedelta(days=1, hours=3), tick=False):
        people(bandit, "education-first", 50, 10)
        people(bandit, EXPERIMENT, 450, 90)
    r = results("b2b-ladder", EXPERIMENT)
    assert [p.weights for p in r.periods][0] == {"education-first": 50, EXPERIMENT: 50}
    control, variant = r.metrics["reached strategy-session"]
    # each period's rate weighted by its share of everyone (400 then 500), not 30/250 and 150/650
    assert control.mean == pytest.approx(400 / 900 * 20 / 200 + 500 / 900 * 10 / 50)
    assert variant.mean == pytest.approx(400 / 900 * 60 / 200 + 500 / 900 * 90 / 450)
    assert (control.n, variant.n) == (250, 650)
    expected = [200 + 500 * period.weights[k] / 100 for k in ("education-first", EXPERIMENT)]
    assert r.analysis.srm.expected == pytest.approx(expected)
    assert not r.analysis.srm.flagged  # 250 against 650 is what the weights asked for

    out = StringIO()
    call_command("experiment", "results", "b2b-ladder", EXPERIMENT, "--format", "json",
                 stdout=out)  # fmt: skip
    weights = json.loads(out.getvalue())["weights"]
    assert [w["weights"] for w in weights] == [{"education-first": 50, EXPERIMENT: 50},
                                               period.weights]  # fmt: skip
    assert weights[1]["from"].startswith("2026-12-02T10:00")
    editor = Client()
    editor.force_login(member("ed", "editor"))
    page = editor.get(PAGE).content.decode()
    assert "Weights over time" in page and "2026-12-02 10:00" in page


def test_a_bandit_needs_a_metric_it_can_weigh(project):  # noqa: F811
    from yesladder.funnels.spec import SpecError, parse_spec

    data = yaml.safe_load(project.read_text())
    data["experiments"][0].update(metric={"event": "video_80"}, bandit={})
    with pytest.raises(SpecError, match="a bandit is judged on conversion, revenue or a rung"):
        parse_spec(yaml.safe_dump(data), "x.yaml")
    data["experiments"][0].update(metric="conversion", bandit={"floor": 60})
    with pytest.raises(SpecError, match="bandit.floor: expected less than or equal to 50"):
        parse_spec(yaml.safe_dump(data), "x.yaml")
