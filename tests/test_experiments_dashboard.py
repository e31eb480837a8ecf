"""Experiments stopped and shipped from the dashboard, each behind a confirmation that says
what happens to the people already in it, through the functions the CLI calls; written to the
audit trail; refused to a viewer."""

import pytest
from django.test import Client

from tests.staff import member
from tests.test_experiments import EXPERIMENT, loaded, project  # noqa: F401 (fixtures)
from yesladder.experiments.models import Experiment
from yesladder.funnels.models import Funnel
from yesladder.team.models import AuditEntry

pytestmark = [pytest.mark.django_db, pytest.mark.experiments]

PAGE = "/dashboard/funnels/b2b-ladder/experiments/"
STOP = f"{PAGE}{EXPERIMENT}/stop/"
SHIP = f"{PAGE}{EXPERIMENT}/ship/"


def signed_in(username: str, role: str) -> Client:
    client = Client()
    client.force_login(member(username, role))
    return client


def test_stop_says_what_happens_then_stops(loaded):  # noqa: F811
    editor = signed_in("ed", "editor")
    assert f'href="{STOP}"' in editor.get(PAGE).content.decode()
    confirm = editor.get(STOP).content.decode()
    assert "People already in a variant stay in it" in confirm
    assert Experiment.objects.get().state == "running"  # a GET changes nothing
    response = editor.post(STOP, {"variant": EXPERIMENT}, follow=True)
    assert "every new journey walks assessment-early" in response.content.decode()
    row = Experiment.objects.get()
    assert (row.state, row.sends_to) == ("stopped", EXPERIMENT)
    entry = AuditEntry.objects.get(action="experiment.stop")
    assert (entry.actor, entry.before["state"], entry.after) == (
        "ed",
        "running",
        {"state": "stopped", "sends_to": EXPERIMENT},
    )


def test_ship_makes_the_variant_the_next_version(loaded):  # noqa: F811
    editor = signed_in("ed", "editor")
    confirm = editor.get(SHIP).content.decode()
    assert "becomes the funnel&#x27;s version 2" in confirm
    assert editor.post(SHIP, {"variant": "nope"}).status_code == 400
    response = editor.post(SHIP, {"variant": EXPERIMENT})
    assert response.status_code == 302
    current = Funnel.objects.get().current_version()
    assert (current.number, current.origin, current.author) == (2, "experiment", "ed")
    assert current.spec.steps[0].key == "assessment" and not current.spec.experiments
    entry = AuditEntry.objects.get(action="experiment.ship")
    assert entry.after == {"state": "shipped", "winner": EXPERIMENT, "version": 2}


def test_a_viewer_cannot_stop_or_ship(loaded):  # noqa: F811
    viewer = signed_in("vera", "viewer")
    assert "Stop…" not in viewer.get(PAGE).content.decode()
    assert viewer.post(STOP, {"variant": EXPERIMENT}).status_code == 403
    assert viewer.post(SHIP, {"variant": EXPERIMENT}).status_code == 403
    assert Experiment.objects.get().state == "running"
    assert Funnel.objects.get().current_version().number == 1


def test_an_unknown_experiment_is_a_404(loaded):  # noqa: F811
    assert signed_in("ed", "editor").get(f"{PAGE}nope/stop/").status_code == 404
