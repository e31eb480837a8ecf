"""The per-variant rollups results read always equal a count over the exposures and progress
rows, whatever way they changed: steps, payments and refunds, stitching (a lead already counted,
or not), erasure, recounts."""

import datetime as dt
import random

import pytest
from django.db import transaction

from tests.test_experiments import BROWSER, loaded, project  # noqa: F401 (fixtures)
from yesladder.analytics import progress
from yesladder.dashboard.privacy import erase
from yesladder.events import EventName
from yesladder.experiments.assignment import live
from yesladder.experiments.models import Exposure, VariantMove, VariantTally
from yesladder.experiments.results import weighted_median
from yesladder.experiments.rollup import rebuild
from yesladder.leads.models import Lead, Visitor
from yesladder.tracking.identity import stitch
from yesladder.tracking.journeys import journey_for
from yesladder.tracking.services import record

pytestmark = [pytest.mark.django_db, pytest.mark.experiments]
T0 = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)


def kept() -> dict:
    found = {}
    for row in VariantTally.objects.exclude(people=0):
        found[("tally", row.experiment_id, row.variant, row.source, row.level)] = (
            row.people, row.revenue, row.revenue_squares,
        )  # fmt: skip
    for row in VariantMove.objects.exclude(people=0):
        found[("move", row.experiment_id, row.variant, row.seconds)] = (row.people,)
    return found


def counted_from_rows(experiment_id: int) -> dict:
    rebuild([experiment_id])
    return kept()


def test_the_median_of_counted_values():
    assert weighted_median([]) is None
    assert weighted_median([(5, 1)]) == 5
    assert weighted_median([(1, 2), (9, 1)]) == 1
    assert weighted_median([(1, 1), (3, 1)]) == 2
    assert weighted_median([(4, 3), (2, 1), (8, 2)]) == 4


def random_moves(rng: random.Random, visitors: list, leads: list, moves: int) -> None:
    """Steps, payments, refunds, stitching and recounts of these (visitor, version)s, hours
    apart."""
    climbed = {}
    for n in range(moves):
        visitor, version = rng.choice(visitors)
        visitor.refresh_from_db()
        ladder = [s.key for s in version.spec.ladder()]
        at = T0 + dt.timedelta(hours=n, seconds=rng.randrange(0, 3600))
        kind = rng.random()
        if kind < 0.7:  # mostly the next rung up, now and then one out of order
            rung = climbed.get(visitor.pk, 0) if kind < 0.6 else rng.randrange(len(ladder))
            climbed[visitor.pk] = min(rung + 1, len(ladder) - 1)
            record(EventName.STEP_VIEWED, visitor, version, ladder[rung], occurred_at=at)
        elif kind < 0.8:
            record(EventName.PAID, visitor, version, ladder[-1],
                   {"amount": rng.choice([4900, 99000])}, occurred_at=at)  # fmt: skip
        elif kind < 0.85:
            record(EventName.REFUNDED, visitor, version, ladder[-1], {"amount": 4900},
                   occurred_at=at)  # fmt: skip
        elif kind < 0.97 and not visitor.lead_id:
            stitch(visitor, rng.choice(leads))
        else:
            with transaction.atomic():  # as `simulate` calls it (its rows are locked)
                progress.recount_visitor(visitor)


def test_the_rollups_equal_a_count_over_the_rows_after_random_activity(loaded):  # noqa: F811
    base = loaded
    experiment = live(base)[0].row
    rng = random.Random(20)
    leads = [Lead.objects.create(email=f"p{i}@example.com") for i in range(4)]
    visitors = []
    for i in range(24):
        lead = rng.choice(leads) if i % 8 == 7 else None  # a known lead's new device
        visitor = Visitor.objects.create(user_agent=BROWSER["HTTP_USER_AGENT"], lead=lead,
                                         utm_source=rng.choice(["", "ads", "news"]))  # fmt: skip
        journey = journey_for(visitor, "b2b-ladder")
        visitors.append((visitor, journey.version))
        if i % 6 == 5:  # a returning lead's device, exposed before it gave its email
            stitch(visitor, rng.choice(leads))
    random_moves(rng, visitors, leads, 200)
    assert Exposure.objects.filter(counted=False).exists()  # stitching stopped some counting
    assert VariantMove.objects.exists()
    found = kept()
    assert found == counted_from_rows(experiment.pk)
    erase(leads[0])
    found = kept()
    assert found == counted_from_rows(experiment.pk)
    progress.recount_all("b2b-ladder")
    assert kept() == counted_from_rows(experiment.pk)
