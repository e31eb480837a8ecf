"""What the operator does with an experiment: list, stop, ship. Commands and the dashboard
call these."""

import copy

import yaml
from django.db import transaction
from django.utils import timezone

from yesladder.experiments import emails
from yesladder.experiments.assignment import Live, forget, live
from yesladder.experiments.models import Experiment
from yesladder.experiments.results import ResultsError, find
from yesladder.funnels.models import Funnel, FunnelVersion
from yesladder.funnels.services import store_next
from yesladder.team import audit
from yesladder.team.audit import SYSTEM, Actor


def listed() -> list[Experiment]:
    """Every experiment of every funnel's current version, and those stopped or shipped."""
    for funnel in Funnel.objects.all():
        current = funnel.current_version()
        if current is not None:
            live(current)  # makes the rows of a version nobody has visited yet
    return list(Experiment.objects.select_related("funnel", "version"))


def _variant(current: Live, key: str | None) -> str:
    key = key or current.spec.control
    if current.spec.variant(key) is None:
        keys = ", ".join(v.key for v in current.spec.variants)
        raise ResultsError(f"experiment {current.spec.key!r} has no variant {key!r} ({keys})")
    return key


def what_stopping_does(variant: str) -> str:
    return (f"Nobody more is exposed to the experiment, and every new journey walks {variant}'s "
            "ladder. People already in a variant stay in it: their journeys live in its "
            "version, and the results keep counting them.")  # fmt: skip


def what_shipping_does(variant: str, number: int) -> str:
    return (f"{variant}'s ladder becomes the funnel's version {number}, without the experiment, "
            "and every new journey walks it. People already on the ladder keep the version "
            "they started in (their variant's); the experiment is over.")  # fmt: skip


def stop(funnel_key: str, key: str, to: str | None = None, *, by: Actor = SYSTEM) -> Experiment:
    """Nobody more is exposed; every new journey walks `to`'s ladder (default: the control).
    People already in a variant stay there: their journeys live in its version."""
    _, current = find(funnel_key, key)
    row = current.row
    before = {"state": row.state, "sends_to": row.sends_to}
    with transaction.atomic():
        row.state, row.sends_to = Experiment.State.STOPPED, _variant(current, to)
        row.stopped_at = row.stopped_at or timezone.now()
        row.save(update_fields=["state", "sends_to", "stopped_at"])
        audit.record(by, "experiment.stop", f"experiment {funnel_key}/{key}", before=before,
                     after={"state": row.state, "sends_to": row.sends_to})  # fmt: skip
    forget()
    return row


def ship(funnel_key: str, key: str, winner: str, *, by: Actor = SYSTEM) -> FunnelVersion:
    """The winner's ladder becomes the funnel's next version (without experiments): new
    journeys walk it; the experiment is over."""
    funnel, current = find(funnel_key, key)
    winner = _variant(current, winner)
    ladder = current.versions[winner]
    data = {k: v for k, v in ladder.spec_json.items() if k != "experiments"}
    with transaction.atomic():
        version = store_next(
            funnel,
            data,
            f"# shipped: variant {winner} of experiment {key} (v{current.row.version.number})\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
            by=by,
        )
        row = current.row
        before = {"state": row.state, "version": row.version.number}
        row.state, row.winner, row.sends_to = Experiment.State.SHIPPED, winner, winner
        row.stopped_at = row.stopped_at or timezone.now()
        row.save(update_fields=["state", "winner", "sends_to", "stopped_at"])
        audit.record(by, "experiment.ship", f"experiment {funnel_key}/{key}", before=before,
                     after={"state": row.state, "winner": winner,
                            "version": version.number})  # fmt: skip
    forget()
    return version


# The fields that make an email a test; shipping one drops them.
TEST_FIELDS = ("variants", "metric", "min_conversions", "salt")


def what_shipping_an_email_does(email: str, variant: str, number: int) -> str:
    return (f"{variant} becomes the only version of the email {email}, in the funnel's version "
            f"{number}: every lead who gets it from now on gets that one.")  # fmt: skip


def ship_email(funnel_key: str, email_key: str, winner: str, *, by: Actor = SYSTEM
               ) -> FunnelVersion:  # fmt: skip
    """The winning version of an email under test becomes the only one: the funnel's next
    version has the email as that version wrote it, without variants."""
    funnel, email = emails.find(funnel_key, email_key)
    keys = [v.key for v in email.variants]
    if winner not in keys:
        raise ResultsError(f"email {email_key!r} has no variant {winner!r} ({', '.join(keys)})")
    data = copy.deepcopy(funnel.current_version().spec_json)
    chosen = email.variant(winner)
    shipped = {k: v for k, v in data["emails"][email_key].items() if k not in TEST_FIELDS}
    shipped.update({k: getattr(chosen, k) for k in ("subject", "body", "preheader")
                    if getattr(chosen, k) is not None})  # fmt: skip
    shipped.pop("file", None)  # the body was read from it when the version was loaded
    data["emails"][email_key] = shipped
    with transaction.atomic():
        version = store_next(
            funnel, data,
            f"# shipped: variant {winner} of email {email_key}\n"
            + yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
            by=by,
        )  # fmt: skip
        audit.record(by, "experiment.ship", f"email {funnel_key}/{email_key}",
                     before={"variants": keys},
                     after={"winner": winner, "version": version.number})  # fmt: skip
    return version
