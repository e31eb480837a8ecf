"""The demo's weeks after the walk, through the real offer services: some trial buyers cancel
inside the trial week, the test provider declines the first full payment of a `+decline` card,
the rest convert; a cancelled trial's refund stays inside its week when the history is spread;
the crowd's chances are the middle of the report's ranges; and the table the demo prints is the
report's ladder, counted after the trials ended."""

import datetime as dt
import random
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from rich.console import Console

from tests.conftest import journey_with_lead, sourced_from
from yesladder.analytics.report import build
from yesladder.demo import crowd, history
from yesladder.demo.management.commands.demo import ladder
from yesladder.demo.simulate import Plan, Stats, Visitor
from yesladder.events import EventName
from yesladder.offers import services
from yesladder.offers.models import Order
from yesladder.tracking.models import Event
from yesladder.tracking.services import record

SEED_004 = Path(__file__).resolve().parent.parent / "examples" / "seed004-trial.yaml"


def paid_trial(email: str) -> Order:
    journey = journey_with_lead(yaml.safe_load(SEED_004.read_text()), email)
    for key in ("diagnosis", "result-by-email", "trial"):  # the climb to the offer
        record(EventName.STEP_VIEWED, journey.visitor, journey.version, key)
    step = journey.version.spec.step("trial")
    order = services.place_order(journey, step, journey.visitor.lead, "test", timezone.now())
    services.first_payment(order, f"pay_{order.pk}")
    record(EventName.STEP_VIEWED, journey.visitor, journey.version, "program")  # sent on
    return order


def converted(order: Order) -> bool:
    return Event.objects.filter(
        name=EventName.TRIAL_CONVERTED, properties__order=str(order.reference)
    ).exists()


@pytest.mark.django_db
def test_some_trials_are_cancelled_in_their_week_and_a_declining_card_fails(monkeypatch):
    monkeypatch.setattr(history, "REFUNDS", 0.0)  # only the trial week's cancellations here
    orders = [paid_trial(f"buyer{n:02}{'+decline' if n % 4 == 0 else ''}@example.com")
              for n in range(20)]  # fmt: skip
    ticks = []
    done = history.after_the_walk(random.Random(22), lambda: ticks.append(1))
    assert len(ticks) == history.STEPS_AFTER_THE_WALK

    for order in orders:
        order.refresh_from_db()
    cancelled = [o for o in orders if o.state == Order.State.CANCELLED]
    # Declined: retrying, or paid with the new card half of them leave (then converted).
    declined = [o for o in orders if "+decline" in o.lead.email and o not in cancelled]
    recovered = [o for o in declined if o.state == Order.State.ACTIVE]
    charged = [o for o in orders if converted(o)]
    assert done.trials == 20 and 0 < done.cancelled == len(cancelled) < 20
    assert done.declined == len(declined) and done.recovered == len(recovered)
    assert done.charged == len(charged) - len(recovered)
    assert len(cancelled) + len(declined) + len(charged) - len(recovered) == 20
    for order in cancelled:  # stopped in the trial week: nothing more is ever charged
        states = list(order.charges.values_list("state", flat=True))
        assert states == ["paid", "cancelled", "cancelled", "cancelled"]
        assert not converted(order) and order.revenue() == 795  # the fee stays paid
    assert all(o.state in (Order.State.RETRYING, Order.State.ACTIVE) for o in declined)
    assert all(o.charges.get(number=1).attempts >= 1 for o in declined)
    assert all("+decline" not in o.lead.email for o in charged if o not in recovered)

    # The table the demo prints is the report's: the checkout counts the converted trials.
    console = Console(width=80, record=True)
    console.print(ladder(build("business-turnaround")))
    text = console.export_text()
    rows = {line.split()[0]: line.split()[1] for line in text.splitlines() if line.strip()
            and line.split()[0] in ("trial", "program", "converted")}  # fmt: skip
    assert rows == {"trial": "20", "program": "20", "converted": str(len(charged))}
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80


def trial_events(refund_after: str) -> list[tuple]:
    """(id, name, step_key, version_id, occurred_at) of one trial buyer, minutes apart."""
    names = [(EventName.STEP_VIEWED, "trial"), (EventName.PAID, "trial"),
             (EventName.STEP_VIEWED, "program")]  # fmt: skip
    if refund_after == "conversion":
        names.append((EventName.TRIAL_CONVERTED, "trial"))
    names.append((EventName.REFUNDED, "trial"))
    start = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    return [(n, name, key, 1, start + dt.timedelta(minutes=n)) for n, (name, key) in
            enumerate(names)]  # fmt: skip


@pytest.mark.parametrize("seed", range(20))
def test_a_cancelled_trial_is_refunded_inside_its_week_a_converted_one_later(seed):
    rng, trials = random.Random(seed), {1: {"trial": 7}}  # version 1's trial lasts 7 days
    start = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    times = history.new_times(trial_events("trial"), start, rng, trials)
    assert times[2] - times[1] <= history.MAX_GAP_ON_A_STEP  # sent on to the program at once
    assert dt.timedelta(hours=12) <= times[-1] - times[1] < dt.timedelta(days=7)
    times = history.new_times(trial_events("conversion"), start, rng, trials)
    assert times[-2] - times[1] >= dt.timedelta(days=7)  # the trial's week passed
    assert times[-1] - times[-2] >= dt.timedelta(days=2)  # then days of use


def test_the_crowd_goes_on_at_the_middle_of_the_reports_ranges(clean):
    spec = sourced_from(clean).spec
    assert crowd.chances(spec) == {"guide": 0.5, "checklist": 0.4, "score": 0.6, "call": 0.7,
                                   "program": crowd.CLOSES}  # fmt: skip
    clean["benchmarks"] = {"checklist": {"low": 20, "high": 40}}  # the spec's own range first
    assert crowd.chances(sourced_from(clean).spec)["guide"] == pytest.approx(0.3)


def test_a_share_of_the_crowd_carries_a_declining_card_and_no_one_else_changes(clean):
    spec = sourced_from(clean).spec

    def emails(declines: float) -> list[str]:
        plan = Plan(origin="http://127.0.0.1:9", spec=spec, chances={}, declines=declines)
        return [Visitor(plan, n, random.Random(n), Stats(), []).email for n in range(400)]

    plain, some = emails(0.0), emails(crowd.DECLINES)
    assert not any("+decline" in e for e in plain)
    assert 0.05 < sum("+decline" in e for e in some) / 400 < 0.15
    assert [e.replace("+decline", "") for e in some] == plain


@pytest.mark.django_db(transaction=True)
def test_the_crowd_cancels_through_the_link_its_emails_carry(live_server, monkeypatch):
    from yesladder.demo.management.commands.demo import cancel_path
    from yesladder.demo.simulate import buyer_cancels

    monkeypatch.setattr(history, "TRIAL_CANCELS", 1.0)
    order = paid_trial("buyer@example.com")

    def follows_the_link(order):
        return buyer_cancels(live_server.url, cancel_path(order))

    assert history.after_the_walk(random.Random(1), lambda: None, follows_the_link).cancelled == 1
    order.refresh_from_db()
    assert order.state == Order.State.CANCELLED
    (event,) = Event.objects.filter(name=EventName.TRIAL_CANCELLED)
    assert event.properties["by"] == "buyer"
    assert not follows_the_link(order)  # a second time: the page says so, nothing to press


@pytest.mark.django_db(transaction=True)  # emails leave after the commit
def test_staff_mark_the_webinar_seats_and_the_no_shows_get_the_replay(mailoutbox):
    from tests.test_event_registration import other_journey, webinar
    from yesladder.leads.models import Lead
    from yesladder.scheduling import services as scheduling

    start = (timezone.now() + dt.timedelta(days=2)).replace(second=0, microsecond=0)
    journey = journey_with_lead(webinar(start, capacity=None))
    step = journey.version.spec.step("live")
    for n in range(12):
        mine = other_journey(journey, f"seat{n}@example.com")
        scheduling.register(mine, step, Lead.objects.get(email=f"seat{n}@example.com"), start)
    attended, replays = history._mark_seats("draw")
    assert 0 < replays < 12 and attended + replays == 12
    assert len(mailoutbox) == replays
    assert {m.subject for m in mailoutbox} == {"The replay: Live workshop"}
    assert Event.objects.filter(name=EventName.WEBINAR_NO_SHOW).count() == replays
