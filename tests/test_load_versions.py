"""`yesladder load`: a changed file is a new version; an unchanged one is not."""

import shutil
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from yesladder.funnels.models import Funnel, FunnelVersion, Step
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import SpecError, read_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
pytestmark = pytest.mark.django_db


@pytest.fixture
def project(tmp_path):
    shutil.copy(EXAMPLES / "b2b-ladder.yaml", tmp_path / "funnel.yaml")
    shutil.copytree(EXAMPLES / "b2b-ladder", tmp_path / "b2b-ladder")
    return tmp_path


def test_first_load_stores_version_one_with_steps(project):
    loaded = load_funnel(read_spec(project / "funnel.yaml"))
    assert (loaded.funnel, loaded.version, loaded.created) == ("b2b-ladder", 1, True)
    version = Funnel.objects.get(key="b2b-ladder").current_version()
    keys = list(version.steps.values_list("key", "kind", "macro"))
    assert keys[0] == ("guide", "content", False) and keys[-1] == ("pilot", "offer", True)
    costs = list(version.steps.values_list("commitment_cost", flat=True))
    assert costs[0] < costs[1] and costs[-1] == max(costs)


def test_unchanged_file_and_comment_edit_make_no_version(project):
    load_funnel(read_spec(project / "funnel.yaml"))
    path = project / "funnel.yaml"
    path.write_text(path.read_text() + "\n# a comment only\n")
    loaded = load_funnel(read_spec(path))
    assert (loaded.version, loaded.created) == (1, False)
    assert FunnelVersion.objects.filter(variant="").count() == 1


def test_changed_spec_makes_a_new_version_and_keeps_the_old(project):
    load_funnel(read_spec(project / "funnel.yaml"))
    path = project / "funnel.yaml"
    path.write_text(path.read_text().replace("price: 990", "price: 1490"))
    loaded = load_funnel(read_spec(path))
    assert (loaded.version, loaded.created) == (2, True)
    v1, v2 = FunnelVersion.objects.filter(variant="").order_by("number")
    assert v1.spec.step("pilot").price == 990 and v2.spec.step("pilot").price == 1490
    assert Step.objects.filter(version=v1).count() == Step.objects.filter(version=v2).count() == 5


def test_referenced_files_belong_to_the_version(project):
    load_funnel(read_spec(project / "funnel.yaml"))
    version = FunnelVersion.objects.get(variant="")
    guide = version.spec.step("guide")
    assert guide.file is None and guide.body.startswith("# The 5 leaks")
    asset = version.spec.step("checklist").asset.file
    stored = Path(settings.ASSETS_ROOT) / asset
    assert stored.read_bytes() == (project / "b2b-ladder" / "checklist.pdf").read_bytes()
    # Editing the article alone is a new version: the article is part of the ladder.
    (project / "b2b-ladder" / "guide.md").write_text("# Rewritten\n")
    assert load_funnel(read_spec(project / "funnel.yaml")).version == 2


def test_missing_file_is_a_located_error(project):
    (project / "b2b-ladder" / "checklist.pdf").unlink()
    with pytest.raises(SpecError) as info:
        load_funnel(read_spec(project / "funnel.yaml"))
    [problem] = info.value.problems
    assert problem.field == "steps[1].asset.file"
    line = (project / "funnel.yaml").read_text().splitlines()[problem.line - 1]
    assert line.strip() == "file: b2b-ladder/checklist.pdf"
    assert not Funnel.objects.exists()


def test_load_command_reports_and_fails_on_a_bad_file(project, capsys):
    bad = project / "bad.yaml"
    bad.write_text("funnel: x\nname: X\nsteps:\n  - key: a\n    kind: nope\n    title: T\n")
    with pytest.raises(CommandError) as info:
        call_command("load", str(project / "funnel.yaml"), str(bad))
    assert info.value.returncode == 2
    out = capsys.readouterr()
    assert "b2b-ladder: stored as version 1, 5 steps" in out.out
    assert "bad.yaml:5: steps[0].kind: unknown step kind 'nope'" in out.err
    assert Funnel.objects.count() == 1


def test_load_strict_refuses_lint_errors(tmp_path):
    path = tmp_path / "hard.yaml"
    path.write_text(
        "funnel: hard\nname: H\nsteps:\n  - key: buy\n    kind: offer\n"
        "    title: T\n    value: V\n    price: 997\n    macro: true\n"
    )
    with pytest.raises(CommandError):
        call_command("load", str(path), "--strict")
    assert not Funnel.objects.exists()
    call_command("load", str(path))
    assert Funnel.objects.get().key == "hard"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_loads_and_round_trips(example):
    load_funnel(read_spec(EXAMPLES / example))
    version = FunnelVersion.objects.get(variant="")
    assert version.spec.model_dump(mode="json", exclude_unset=True) == version.spec_json


def test_an_email_body_file_is_read_into_the_version(project):
    path = project / "funnel.yaml"
    (project / "welcome.md").write_text("Hello {{ first_name }}, here are three tips.")
    data = yaml.safe_load(path.read_text())
    data.setdefault("emails", {})["welcome"] = {"subject": "Welcome", "file": "welcome.md"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    load_funnel(read_spec(path))
    version = Funnel.objects.get(key="b2b-ladder").current_version()
    assert version.spec.emails["welcome"].body.startswith("Hello {{ first_name }}")
    (project / "welcome.md").unlink()
    with pytest.raises(SpecError, match=r"emails\.welcome\.file: file not found"):
        load_funnel(read_spec(path))
