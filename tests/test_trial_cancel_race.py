"""Cancel and a charge at the same moment: exactly one wins, and the order's state and its
charges agree (issue 31). Each side runs in its own thread with its own connection; the order
row's lock decides (PostgreSQL's SELECT ... FOR UPDATE, SQLite's one writer)."""

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import journey_with_lead
from tests.test_stitching_race import in_thread
from yesladder.offers import emails, services
from yesladder.offers.models import Order
from yesladder.offers.payments import TestProvider
from yesladder.tracking.models import Event

SEED_004 = Path(__file__).resolve().parent.parent / "examples" / "seed004-trial.yaml"
START = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)
TRIAL_ENDS = START + dt.timedelta(days=7)
JUST_BEFORE = TRIAL_ENDS - dt.timedelta(seconds=1)  # the buyer's click, still in the trial

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def order() -> Order:
    journey = journey_with_lead(yaml.safe_load(SEED_004.read_text()))
    step = journey.version.spec.step("trial")
    placed = services.place_order(journey, step, journey.visitor.lead, "test", START)
    services.first_payment(placed, "pay_0", now=START)
    return placed


@pytest.fixture
def charges_made(monkeypatch) -> list:
    made = []
    real = TestProvider.charge

    def charge(self, charge):
        made.append(charge.number)
        return real(self, charge)

    monkeypatch.setattr(TestProvider, "charge", charge)
    return made


def states(order: Order) -> tuple[str, list[str]]:
    order.refresh_from_db()
    return order.state, list(order.charges.values_list("state", flat=True))


def test_cancel_holding_the_lock_first_wins_and_nothing_is_charged(
    order, charges_made, monkeypatch
):
    inside, release = threading.Event(), threading.Event()

    def slow_confirmation(*args):  # called inside the cancel's transaction, lock held
        inside.set()
        release.wait(10)

    monkeypatch.setattr(emails, "send_cancelled", slow_confirmation)
    cancelling = in_thread(lambda: services.cancel(order, now=JUST_BEFORE))
    assert inside.wait(10)
    collected = []
    charging = in_thread(lambda: collected.append(services.collect_due(TRIAL_ENDS)))
    time.sleep(0.3)  # the charge now waits for the order's lock
    release.set()
    cancelling.join()
    charging.join()
    assert collected == [services.Collected(0, 0)] and charges_made == []
    assert states(order) == ("cancelled", ["paid", "cancelled", "cancelled", "cancelled"])


def test_a_charge_in_flight_first_wins_and_the_cancel_changes_nothing(
    order, charges_made, monkeypatch
):
    asked, answer = threading.Event(), threading.Event()
    real = TestProvider.charge

    def slow_provider(self, charge):  # the charge is claimed: the provider is being asked
        asked.set()
        answer.wait(10)
        return real(self, charge)

    monkeypatch.setattr(TestProvider, "charge", slow_provider)
    charging = in_thread(lambda: services.collect_due(TRIAL_ENDS))
    assert asked.wait(10)
    with pytest.raises(services.CancelRefused, match="being taken right now"):
        services.cancel(order, now=JUST_BEFORE)
    answer.set()
    charging.join()
    assert states(order) == ("active", ["paid", "paid", "scheduled", "scheduled"])
    with pytest.raises(services.CancelRefused, match="Your trial ended"):
        services.cancel(order, now=JUST_BEFORE)  # the trial converted meanwhile
    names = list(Event.objects.values_list("name", flat=True))
    assert "trial_converted" in names and "trial_cancelled" not in names


@pytest.mark.parametrize("round_", range(3))
def test_at_the_same_moment_exactly_one_wins(order, charges_made, round_):
    barrier = threading.Barrier(2)
    outcomes = []

    def cancel():
        barrier.wait()
        try:
            services.cancel(order, now=JUST_BEFORE)
            outcomes.append("cancelled")
        except services.CancelRefused:
            outcomes.append("refused")

    def charge():
        barrier.wait()
        outcomes.append("charged" if services.collect_due(TRIAL_ENDS).paid else "skipped")

    for thread in [in_thread(cancel), in_thread(charge)]:
        thread.join()
    state = states(order)
    if "cancelled" in outcomes:
        assert sorted(outcomes) == ["cancelled", "skipped"] and charges_made == []
        assert state == ("cancelled", ["paid", "cancelled", "cancelled", "cancelled"])
    else:
        assert sorted(outcomes) == ["charged", "refused"] and charges_made == [1]
        assert state == ("active", ["paid", "paid", "scheduled", "scheduled"])
    assert order.revenue() == 795 + 4700 * len(charges_made)
