"""Experiments on whole ladders: the spec, its lint, the versions a loaded experiment makes,
and assignment (deterministic, weighted, sticky, counted once per person)."""

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml

from yesladder.events import EventName
from yesladder.experiments.assignment import pick, point
from yesladder.experiments.models import Exposure
from yesladder.funnels import lint
from yesladder.funnels.models import Funnel, FunnelVersion
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import SpecError, parse_spec, read_spec, variant_sources
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.identity import stitch
from yesladder.tracking.models import Event, Journey

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXPERIMENT = "assessment-early"
pytestmark = pytest.mark.experiments
BROWSER = {"HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}


@pytest.fixture
def b2b():
    return yaml.safe_load((EXAMPLES / "b2b-ladder.yaml").read_text())


def sourced(data: dict, file: str = "funnel.yaml"):
    return parse_spec(yaml.safe_dump(data, sort_keys=False), file)


def rules(data: dict) -> list[tuple[str, str]]:
    return [(f.rule, f.variant) for f in lint.lint(sourced(data))]


# --- the spec and its lint ---------------------------------------------------------------------


def test_a_variant_is_a_whole_ladder_with_its_lines(b2b):
    (variant,) = variant_sources(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    assert variant.variant == "assessment-early/assessment-early"
    keys = [s.key for s in variant.spec.steps]
    assert keys == ["assessment", "guide", "checklist", "strategy-session", "pilot"]
    assert (
        variant.spec.step("assessment").ask.fields == ()
        or not variant.spec.step("assessment").ask.fields
    )
    assert not variant.spec.experiments
    text = (EXAMPLES / "b2b-ladder.yaml").read_text().splitlines()
    assert "key: assessment" in text[variant.positions.line(("steps", 0)) - 1]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"remove": ["nope"]}, "remove[0]", "names step 'nope'"),
        ({"order": ["guide", "pilot"]}, "order", "missing: checklist"),
        ({"steps": {"guide": {"price": 10}}}, "steps.guide.price", "only an offer step"),
        ({"weight": "half"}, "weight", "valid number"),
    ],
)
def test_spec_errors_name_file_line_and_field(b2b, change, field, message):
    b2b["experiments"][0]["variants"][1].update(change)
    with pytest.raises(SpecError) as caught:
        sourced(b2b, "x.yaml")
    (problem,) = caught.value.problems
    assert problem.file == "x.yaml" and problem.line > 300
    assert problem.field.endswith(field) and message in problem.message


def test_the_control_takes_no_changes(b2b):
    b2b["experiments"][0]["variants"][0]["order"] = ["pilot"]
    with pytest.raises(SpecError, match="takes no changes"):
        sourced(b2b)


def test_every_variant_is_linted_on_its_own_and_named(b2b):
    assert rules(b2b) == []
    b2b["experiments"][0]["variants"][1]["steps"]["assessment"].pop("ask")
    # The company asked first (YL001), and before the score with nothing of value before it.
    assert rules(b2b) == [("YL001", "assessment-early/assessment-early"),
                          ("YL027", "assessment-early/assessment-early")]  # fmt: skip
    finding = lint.lint(sourced(b2b))[0]
    assert "in variant assessment-early/assessment-early" in finding.message


def test_experiment_rules(b2b):
    variants = b2b["experiments"][0]["variants"]
    variants[1]["weight"] = 40
    assert ("YL021", "") in rules(b2b)
    variants[1]["weight"] = 50
    variants[1]["steps"]["pilot"] = {}
    variants[1]["replace"] = {"pilot": {**b2b["steps"][-1], "macro": False}}
    assert ("YL020", "") in rules(b2b)
    del variants[1]["replace"]
    second = copy.deepcopy(b2b["experiments"][0]) | {"key": "again", "traffic": 60}
    b2b["experiments"].append(second)
    assert ("YL022", "") in rules(b2b)
    b2b["experiments"] = [b2b["experiments"][0]]
    variants[1] = {"key": "assessment-early", "weight": 50}
    assert rules(b2b) == [("YL023", "")]


# --- versions ------------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    shutil.copy(EXAMPLES / "b2b-ladder.yaml", tmp_path / "funnel.yaml")
    shutil.copytree(EXAMPLES / "b2b-ladder", tmp_path / "b2b-ladder")
    return tmp_path / "funnel.yaml"


@pytest.mark.django_db
def test_each_variant_is_a_version_beside_the_one_it_varies(project):
    loaded = load_funnel(read_spec(project))
    assert (loaded.version, loaded.variants) == (1, 1)
    funnel = Funnel.objects.get()
    base = funnel.current_version()
    assert base.variant == "" and base.variants.get().variant == f"{EXPERIMENT}/{EXPERIMENT}"
    variant = base.variants.get()
    assert variant.number == 1 and variant.steps.first().key == "assessment"
    assert variant.spec.step("guide").body == base.spec.step("guide").body  # files read in
    project.write_text(project.read_text().replace("weight: 50", "weight: 50.0", 1))
    assert not load_funnel(read_spec(project)).created  # same values, same version
    project.write_text(project.read_text().replace("Assessment early vs", "Assessment first vs"))
    assert load_funnel(read_spec(project)).version == 2  # a changed experiment: a new version
    assert FunnelVersion.objects.filter(variant="").count() == 2
    assert funnel.current_version().number == 2


# --- assignment ----------------------------------------------------------------------------------


def test_assignment_is_deterministic_and_weighted(b2b):
    spec = sourced(b2b).spec.experiments[0]
    people = [f"v{i}" for i in range(4000)]
    first = [pick(spec, p) for p in people]
    assert first == [pick(spec, p) for p in people]
    share = first.count(EXPERIMENT) / len(people)
    assert 0.46 < share < 0.54
    assert 0 <= point("a", "b") < 1 and point("a", "b") != point("a:salt", "b")


@pytest.fixture
def loaded(project, db):
    load_funnel(read_spec(project))
    return Funnel.objects.get().current_version()


@pytest.fixture
def client(db):
    from django.test import Client

    return Client(**BROWSER)


def first_step(response) -> str:
    """The step the page shows, read from its HTML (a page that looks the same to many visitors
    is served from the render cache, without a template context)."""
    return re.search(r'<main class="ladder" data-step="([^"]+)"', response.content.decode())[1]


def test_the_same_visitor_sees_its_variant_on_every_visit(client, loaded):
    seen = set()
    for _ in range(100):
        response = client.get("/f/b2b-ladder/?variant=education-first&experiment=x")
        seen.add(first_step(response))
    assert len(seen) == 1
    assert Exposure.objects.count() == 1 == Event.objects.filter(name=EventName.EXPOSED).count()


def test_a_forged_cookie_or_query_does_not_choose(client, loaded):
    client.cookies["yl_vid"] = "not-a-visitor"
    client.cookies["yl_variant"] = "assessment-early"
    client.get("/f/b2b-ladder/?variant=assessment-early")
    (exposure,) = Exposure.objects.all()
    visitor = exposure.visitor
    spec = loaded.spec.experiments[0]
    assert exposure.variant == pick(spec, f"v{visitor.pk.hex}")


def test_both_variants_get_people_and_bots_none(client, loaded):
    from django.test import Client

    for _ in range(30):
        Client(**BROWSER).get("/f/b2b-ladder/")
    Client(HTTP_USER_AGENT="Googlebot/2.1").get("/f/b2b-ladder/")
    assert set(Exposure.objects.values_list("variant", flat=True)) == {
        "education-first",
        EXPERIMENT,
    }
    assert Exposure.objects.count() == 30
    assert Journey.objects.count() == 31


def test_a_lead_keeps_its_first_variant_on_a_second_device(client, loaded):
    from django.test import Client

    client.get("/f/b2b-ladder/")
    first = Exposure.objects.get()
    lead = Lead.objects.create(email="ada@example.com")
    stitch(first.visitor, lead)
    for _ in range(5):  # devices whose own hash would pick either variant
        other = Client(**BROWSER)
        visitor = Visitor.objects.create(lead=lead)
        other.cookies["yl_vid"] = str(visitor.pk)
        response = other.get("/f/b2b-ladder/")
        assert Journey.objects.get(visitor=visitor).version_id == first.version_id
        assert first_step(response) == loaded.spec.step("guide").key or response.status_code
    assert Exposure.objects.filter(counted=True).count() == 1


def test_stitching_never_counts_a_person_twice(loaded):
    from django.test import Client

    lead = Lead.objects.create(email="bo@example.com")
    for _ in range(6):
        Client(**BROWSER).get("/f/b2b-ladder/")
    exposures = list(Exposure.objects.all())
    for exposure in exposures:
        stitch(exposure.visitor, lead)
    counted = Exposure.objects.filter(counted=True)
    assert counted.count() == 1 and counted.get().person == f"l{lead.pk}"
    winner = counted.get().version_id
    # devices that had climbed nothing walk the lead's variant now
    assert set(Journey.objects.values_list("version_id", flat=True)) == {winner}


# --- results ---------------------------------------------------------------------------------


def people(loaded, variant: str, exposed: int, converted: int, revenue: int = 0):
    """`exposed` people of `variant`, `converted` of them climbed the whole ladder (bulk rows,
    as the page tests above show they are written one by one)."""
    from django.utils import timezone

    from yesladder.analytics.models import Progress
    from yesladder.experiments.assignment import live
    from yesladder.experiments.rollup import rebuild

    current = live(loaded)[0]
    version = current.versions[variant]
    rungs = len(version.spec.ladder())
    visitors = Visitor.objects.bulk_create([Visitor() for _ in range(exposed)])
    now = timezone.now()
    Exposure.objects.bulk_create([
        Exposure(experiment=current.row, variant=variant, version=version, visitor=v,
                 person=f"v{v.pk.hex}", exposed_at=now)
        for v in visitors
    ])  # fmt: skip
    Progress.objects.bulk_create([
        Progress(funnel_id=loaded.funnel_id, version=version, person=f"v{v.pk.hex}",
                 visitor=v, level=rungs if i < converted else 1, source="ads" if i % 2 else "",
                 revenue=revenue if i < converted else 0, gaps=[86400] * (rungs - 1))
        for i, v in enumerate(visitors)
    ])  # fmt: skip
    rebuild([current.row.pk])  # bulk rows pass no writer, so nothing kept the rollups


def test_results_per_variant_and_the_cli_names(loaded):
    import json

    from django.core.management import call_command

    people(loaded, "education-first", 2000, 200, revenue=99000)
    people(loaded, EXPERIMENT, 2000, 300, revenue=99000)
    from io import StringIO

    out = StringIO()
    call_command("experiment", "results", "b2b-ladder", EXPERIMENT, "--format", "json", stdout=out)
    found = json.loads(out.getvalue())
    assert found["srm_p_value"] == pytest.approx(1.0) and not found["srm_flagged"]
    control, variant = found["variants"]
    assert (control["key"], control["exposed"], control["converted"]) == (
        "education-first",
        2000,
        200,
    )
    assert (variant["exposed"], variant["converted"], variant["rate"]) == (2000, 300, 0.15)
    assert variant["chance_to_beat_control"] > 0.99 and variant["expected_loss"] < 0.001
    low, high = variant["uplift_interval"]
    assert 0.2 < low < 0.5 < high < 0.8
    assert found["decision"]["verdict"] == "variant_wins"
    assert found["decision"]["variant"] == EXPERIMENT
    assert variant["rungs"][0] == {"step": "assessment", "reached": 2000}
    assert variant["revenue_per_person"] == 300 * 99000 / 2000
    assert variant["sources"]["ads"]["exposed"] == 1000
    assert variant["days_to_convert"] == 4.0
    text = StringIO()
    call_command("experiment", "results", "b2b-ladder", EXPERIMENT, stdout=text)
    assert "assessment-early wins" in text.getvalue()


def test_a_broken_split_is_flagged_before_any_result(loaded):
    from yesladder.experiments.results import results

    people(loaded, "education-first", 1000, 100)
    people(loaded, EXPERIMENT, 850, 200)  # some of one variant's exposures dropped
    r = results("b2b-ladder", EXPERIMENT)
    assert r.analysis.srm.flagged and r.analysis.decision.verdict == "check_split"
    assert r.sentence.startswith("check the split")


def test_stop_sends_everyone_to_one_variant_and_ship_makes_a_version(client, loaded):
    from django.core.management import call_command

    call_command("experiment", "stop", "b2b-ladder", EXPERIMENT, EXPERIMENT)
    for _ in range(5):
        from django.test import Client

        Client(**BROWSER).get("/f/b2b-ladder/")
    assert Exposure.objects.count() == 0
    assert {j.version.variant for j in Journey.objects.all()} == {f"{EXPERIMENT}/{EXPERIMENT}"}
    call_command("experiment", "ship", "b2b-ladder", EXPERIMENT, EXPERIMENT)
    current = Funnel.objects.get().current_version()
    assert current.number == 2 and current.spec.steps[0].key == "assessment"
    assert not current.spec.experiments
