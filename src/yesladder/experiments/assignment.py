"""Who sees which variant: deterministic, weighted and sticky, counted once per person.

A person (a lead, or until it gives an email, a visitor) is hashed with the experiment's key
and salt to a point in [0, 1): the same person always lands on the same variant, whatever
cookie or query string it sends, and no table is read to decide. Experiments on one funnel take
slices of people in the order written (a second hash), so they never share a person. A lead
keeps the variant of its first exposure on every device: its later devices follow that exposure
and are not counted again. Bots are never exposed. The journey a person starts lives in their
variant's ladder (a FunnelVersion of its own), which keeps them there on every later visit.
"""

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from yesladder.analytics.rules import person
from yesladder.events import EventName
from yesladder.experiments import rollup
from yesladder.experiments.models import BanditPeriod, Experiment, Exposure
from yesladder.funnels.models import FunnelVersion
from yesladder.funnels.spec.experiments import Experiment as ExperimentSpec
from yesladder.leads.models import Visitor
from yesladder.tracking.models import Journey
from yesladder.tracking.services import record

LIVE_TTL = 2.0  # seconds a process trusts its copy of a version's experiments (as journeys do)


@dataclass(frozen=True)
class Share:
    key: str
    weight: float  # percent


@dataclass(frozen=True)
class Live:
    """One experiment of a version as assignment needs it, read once per process."""

    row: Experiment
    spec: ExperimentSpec
    start: float  # its slice of people: [start, end) of [0, 100)
    end: float
    versions: dict[str, FunnelVersion]  # variant key -> the ladder it walks
    # the split new people get: the spec's weights, or a bandit's latest period's
    split: tuple[Share, ...] = ()


_live: dict[int, tuple[float, list[Live]]] = {}


def point(seed: str, person: str) -> float:
    """A point in [0, 1) for this person under this seed: the same every time, everywhere."""
    digest = hashlib.blake2b(f"{seed}\x00{person}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick(spec: ExperimentSpec, person: str) -> str:
    """The variant `person` gets, by weight."""
    return by_weight(spec.seed, spec.variants, person)


def by_weight(seed: str, variants: Sequence, person: str) -> str:
    """The key of the variant (anything with `key` and `weight`) `person` gets under `seed`:
    the same every time, everywhere, so a person sticks to it without anything stored."""
    at = point(seed, person) * sum(v.weight for v in variants)
    for variant in variants:
        at -= variant.weight
        if at < 0 and variant.weight > 0:
            return variant.key
    return next(v.key for v in reversed(variants) if v.weight > 0)


def person_of(visitor: Visitor) -> str:
    """As analytics names people (Progress.person), so results join progress by person."""
    return person(visitor.lead_id, visitor.pk.hex)


def live(version: FunnelVersion) -> list[Live]:
    """The experiments of `version` (rows made on first use), cached for a moment."""
    cached = _live.get(version.pk)
    if cached and time.monotonic() - cached[0] < LIVE_TTL:
        return cached[1]
    found = _load(version)
    _live[version.pk] = (time.monotonic(), found)
    return found


def latest_weights(row: Experiment, spec: ExperimentSpec) -> dict[str, float]:
    """Variant -> percent of new people: a bandit's latest period's, else the spec's."""
    if spec.bandit:
        latest = BanditPeriod.objects.filter(experiment=row).order_by("-started_at").first()
        if latest is not None:
            return latest.weights
    return {v.key: v.weight for v in spec.variants}


@receiver(post_save, sender=FunnelVersion)
@receiver(post_save, sender=Experiment)
@receiver(post_save, sender=BanditPeriod)
def forget(**kwargs) -> None:
    """A new version, or a stopped or shipped experiment, reaches new journeys at once in this
    process (and within LIVE_TTL in the others)."""
    _live.clear()
    _named.cache_clear()  # ids come back after a rollback


def _load(version: FunnelVersion) -> list[Live]:
    specs = version.spec.experiments
    if not specs:
        return []
    rows = {e.key: e for e in sync(version)}
    ladders = {v.variant: v for v in version.variants.select_related("funnel")}
    found, start = [], 0.0
    for spec in specs:
        versions = {
            v.key: version if v.key == spec.control else ladders[f"{spec.key}/{v.key}"]
            for v in spec.variants
        }
        row = rows[spec.key]
        split = tuple(Share(k, w) for k, w in latest_weights(row, spec).items())
        found.append(Live(row, spec, start, start + spec.traffic, versions, split))
        start += spec.traffic
    return found


def sync(version: FunnelVersion) -> list[Experiment]:
    """The rows of the experiments `version` declares, made if missing."""
    for spec in version.spec.experiments:
        Experiment.objects.get_or_create(
            version=version,
            key=spec.key,
            defaults={"funnel_id": version.funnel_id, "name": spec.name},
        )
    return list(Experiment.objects.filter(version=version))


def assign(visitor: Visitor, version: FunnelVersion) -> FunnelVersion:
    """The version a new journey of `visitor` starts in (tracking.journeys asks, once per
    journey); writes the exposure of a person seen for the first time."""
    experiments = live(version)
    if not experiments or visitor.is_bot:
        return version
    person = person_of(visitor)
    slot = point(f"{version.funnel_id}:slices", person) * 100
    current = next((x for x in experiments if x.start <= slot < x.end), None)
    if current is None:
        return version
    if current.row.state != Experiment.State.RUNNING:
        return current.versions.get(current.row.sends_to, version)
    variant = _lead_variant(current, visitor) or by_weight(current.spec.seed, current.split,
                                                           person)  # fmt: skip
    _expose(current, visitor, variant, person)
    return current.versions[variant]


def _lead_variant(current: Live, visitor: Visitor) -> str | None:
    if not visitor.lead_id:
        return None
    first = Exposure.objects.filter(
        experiment=current.row, lead_id=visitor.lead_id, counted=True
    ).first()
    return first.variant if first else None


def _expose(current: Live, visitor: Visitor, variant: str, person: str) -> None:
    version = current.versions[variant]
    known = (
        visitor.lead_id
        and Exposure.objects.filter(experiment=current.row, lead_id=visitor.lead_id).exists()
    )
    seen = {
        "variant": variant, "version": version, "lead_id": visitor.lead_id,
        "person": person, "counted": not known, "exposed_at": timezone.now(),
    }  # fmt: skip
    if visitor.first_request:  # made by this request (a journey starts once): none to find
        exposure, created = Exposure.objects.create(experiment=current.row, visitor=visitor,
                                                    **seen), True  # fmt: skip
    else:
        exposure, created = Exposure.objects.get_or_create(
            experiment=current.row, visitor=visitor, defaults=seen
        )
    if created and not known:
        rollup.first_exposure(rollup.seen(exposure), anonymous=not visitor.lead_id)
        record(
            EventName.EXPOSED, visitor, version, "",
            {"experiment": current.row.key, "variant": variant},
        )  # fmt: skip


def variants_of(journeys: list[tuple[int, int]]) -> dict[int, tuple[str, str]]:
    """(experiment, variant) of each journey (id, version id) in an experiment (for the tracking
    API's answer). A variant's ladder names itself; a journey in the version the experiments
    vary is the control of the experiment that exposed its visitor, or in none."""
    found, bases = {}, {}
    for journey_id, version_id in journeys:
        named = _named(version_id)
        if isinstance(named, tuple):
            found[journey_id] = named
        elif named:
            bases[journey_id] = version_id
    if not bases:
        return found
    visitors = dict(Journey.objects.filter(pk__in=bases).values_list("pk", "visitor_id"))
    exposed = Exposure.objects.filter(
        visitor_id__in=set(visitors.values()), experiment__version_id__in=set(bases.values())
    ).values_list("visitor_id", "experiment__version_id", "experiment__key")
    keys = {(visitor, version): key for visitor, version, key in exposed}
    for journey_id, version_id in bases.items():
        key = keys.get((visitors.get(journey_id), version_id))
        if key is not None:
            found[journey_id] = (key, _named(version_id)[key])
    return found


@cache
def _named(version_id: int) -> tuple[str, str] | dict[str, str] | None:
    """A variant's ladder: (experiment, variant); a version with experiments: experiment ->
    its control; else None (versions never change)."""
    version = FunnelVersion.objects.filter(pk=version_id).first()
    if version is None:
        return None
    if version.variant:
        experiment, _, variant = version.variant.partition("/")
        return experiment, variant
    return {x.key: x.control for x in version.spec.experiments} or None


def on_stitched(visitor: Visitor, events, **_) -> None:
    """A visitor joined a lead: its exposures become the lead's. When the lead was already
    counted in the experiment, this device stops counting (a person never counts twice) and,
    if it has not climbed a rung yet, its journey moves to the lead's variant."""
    lead_id = visitor.lead_id
    for exposure in Exposure.objects.filter(visitor=visitor).exclude(lead_id=lead_id):
        first = (
            Exposure.objects.filter(experiment=exposure.experiment_id, lead_id=lead_id)
            .filter(counted=True)
            .exclude(pk=exposure.pk)
            .first()
        )
        before = rollup.seen(exposure)
        exposure.lead_id = lead_id
        exposure.person = person(lead_id, "")
        exposure.counted = first is None
        exposure.save(update_fields=["lead", "person", "counted"])
        rollup.exposure_moved(before, rollup.seen(exposure))
        if first is not None and first.variant != exposure.variant:
            Journey.objects.filter(visitor=visitor, version_id=exposure.version_id, done=[]).update(
                version_id=first.version_id
            )
