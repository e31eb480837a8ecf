"""Per-variant rollups (VariantTally, VariantMove), kept in the writer's transaction so results
sum a few rows whatever the number of people exposed.

What they hold is always a count over the rows: every counted exposure adds its share, made of
the exposure and its person's Progress row on the variant's ladder (none yet: level 0, no
source). Either side changing changes the rollups by the difference of the two shares, read
with the other side as it stands: analytics tells every Progress row's move
(`reactions.PROGRESS_MOVED`), assignment every exposure's (`exposure_moved`), and a deleted exposure
(erasure) leaves on its own signal. `rebuild` makes them again from the rows.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from itertools import islice

from django.db import connection
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from yesladder.analytics.footprint import Change, Standing, add, difference, kept_seconds, standing
from yesladder.analytics.models import Progress
from yesladder.analytics.rollups import adding
from yesladder.analytics.rules import step_rungs
from yesladder.experiments.models import Experiment, Exposure, VariantMove, VariantTally
from yesladder.funnels.models import FunnelVersion

ROWS_PER_STATEMENT = 200
# table -> (model, key columns, summed columns)
TABLES = {
    "tally": (VariantTally, ("experiment_id", "variant", "source", "level"),
              ("people", "revenue", "revenue_squares")),
    "move": (VariantMove, ("experiment_id", "variant", "seconds"), ("people",)),
}  # fmt: skip


@dataclass(frozen=True)
class Seen:
    """A counted exposure, as the rollups need it."""

    experiment_id: int
    variant: str
    version_id: int
    person: str


@dataclass(frozen=True)
class Share:
    """What one counted exposure adds to the rollups."""

    experiment_id: int
    variant: str
    source: str
    level: int
    revenue: int
    seconds: int | None  # from the first rung to the macro step, when reached

    def counts(self) -> Change:
        found: Change = {
            ("tally", self.experiment_id, self.variant, self.source, self.level):
                (1, self.revenue, self.revenue * self.revenue),
        }  # fmt: skip
        if self.seconds is not None:
            found[("move", self.experiment_id, self.variant, self.seconds)] = (1,)
        return found


@cache
def macro_rung(version_id: int) -> int | None:
    """The index of the macro step in the version's ladder; None for a version no experiment
    walks (versions never change: a changed spec is a new version)."""
    version = FunnelVersion.objects.filter(pk=version_id).first()
    if version is None or not (version.variant or version.spec.experiments):
        return None
    return step_rungs(version.spec)[1]


@receiver(post_save, sender=FunnelVersion)
@receiver(post_delete, sender=FunnelVersion)
def _forget_versions(**kwargs) -> None:
    macro_rung.cache_clear()  # ids come back after a rollback


def share(seen: Seen, row: Standing | None) -> Share:
    if row is None:
        return Share(seen.experiment_id, seen.variant, "", 0, 0, None)
    macro = macro_rung(seen.version_id)
    converted = macro is not None and row.level > macro and row.gaps
    seconds = kept_seconds(sum(row.gaps[:macro])) if converted else None
    return Share(seen.experiment_id, seen.variant, row.source, row.level, row.revenue, seconds)


def rows_moved(moves) -> None:
    """Progress rows moved (analytics tells, in its transaction): the shares of the counted
    exposures on them move with them."""
    mine = {}
    for before, after in moves:
        row = before or after
        if macro_rung(row.version_id) is not None:
            mine.setdefault((row.version_id, row.person), []).append((before, after))
    if not mine:
        return
    exposures = _counted_on(sorted({v for v, _ in mine}), sorted({p for _, p in mine}))
    change: Change = {}
    for exposure in exposures:
        seen = Seen(*exposure)
        for before, after in mine.get((seen.version_id, seen.person), ()):
            add(change, difference(share(seen, before), share(seen, after)))
    apply(change)


def _counted_on(versions: list[int], people: list[str]) -> list[tuple]:
    """The counted exposures of these people on these versions. A plain statement: every
    first sight of a person runs it, and building it through the ORM cost as much as running it."""
    quote = connection.ops.quote_name
    sql = (
        f"SELECT experiment_id, variant, version_id, person "  # noqa: S608 (names, placeholders)
        f"FROM {quote(Exposure._meta.db_table)} WHERE counted "
        f"AND version_id IN ({', '.join(['%s'] * len(versions))}) "
        f"AND person IN ({', '.join(['%s'] * len(people))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*versions, *people])
        return cursor.fetchall()


def first_exposure(seen: Seen, anonymous: bool) -> None:
    """A counted exposure is new. An anonymous visitor has no progress on the ladder yet (only
    the journey its exposure starts puts it there), so nothing is read; a lead may have some (a
    device of it fell outside the experiment's slice before it gave its email)."""
    apply(share(seen, None if anonymous else _standing(seen)).counts())


def seen(exposure: Exposure) -> Seen | None:
    if not exposure.counted:
        return None
    return Seen(exposure.experiment_id, exposure.variant, exposure.version_id, exposure.person)


def exposure_moved(before: Seen | None, after: Seen | None) -> None:
    """A counted exposure appeared, changed person or stopped counting (or left)."""
    if before == after:
        return
    apply(difference(before and share(before, _standing(before)),
                     after and share(after, _standing(after))))  # fmt: skip


def _standing(seen: Seen) -> Standing | None:
    row = Progress.objects.filter(version_id=seen.version_id, person=seen.person).first()
    return standing(row) if row else None


@receiver(post_delete, sender=Exposure)
def _forget_exposure(instance, **kwargs) -> None:
    """An exposure deleted with its visitor (erasure) leaves the rollups too."""
    exposure_moved(seen(instance), None)


def rows_recounted(funnel_key: str | None) -> None:
    """Every Progress row of the funnel is counted again from the event log: start again from
    the exposures alone (the rows' moves add the rest)."""
    experiments = Experiment.objects.all()
    if funnel_key:
        experiments = experiments.filter(funnel__key=funnel_key)
    rebuild(experiments.values_list("pk", flat=True))


def rebuild(experiment_ids: Iterable[int]) -> None:
    """The rollups of these experiments made again from the exposures and progress rows (two
    grouped reads: a million people take seconds, not the minutes of one share each)."""
    ids = list(experiment_ids)
    for model in (VariantTally, VariantMove):
        model.objects.filter(experiment_id__in=ids).delete()
    if not ids:
        return
    change: Change = {}
    tallies = _joined(ids, "x.experiment_id, x.variant, COALESCE(p.source, ''), "
                           "COALESCE(p.level, 0), COUNT(*), COALESCE(SUM(p.revenue), 0), "
                           "COALESCE(SUM(p.revenue * p.revenue), 0)", "LEFT JOIN", "",
                      "GROUP BY x.experiment_id, x.variant, COALESCE(p.source, ''), "
                      "COALESCE(p.level, 0)")  # fmt: skip
    for experiment_id, variant, source, level, *sums in tallies:
        add(change, {("tally", experiment_id, variant, source, level): tuple(map(int, sums))})
    exposures = Exposure.objects.filter(experiment_id__in=ids)
    versions = set(exposures.values_list("version_id", flat=True).distinct())
    macros = [(v, m) for v in sorted(versions) if (m := macro_rung(v)) is not None]
    reached = " OR ".join(["(x.version_id = %s AND p.level > %s)"] * len(macros)) or "FALSE"
    converted = _joined(ids, "x.experiment_id, x.variant, x.version_id, x.person, p.level, "
                             "p.gaps", "JOIN", f"AND ({reached})", "",
                        [v for pair in macros for v in pair])  # fmt: skip
    for experiment_id, variant, version_id, person, level, gaps in converted:
        gaps = tuple(json.loads(gaps) if isinstance(gaps, str) else gaps)
        row = Standing(version_id, person, "", level, 0, gaps)
        mine = share(Seen(experiment_id, variant, version_id, person), row).counts()
        add(change, {k: v for k, v in mine.items() if k[0] == "move"})
    apply(change)


def _joined(ids: list[int], columns: str, join: str, where: str, group: str, params=()):
    """Counted exposures of these experiments joined to their progress rows."""
    quote = connection.ops.quote_name
    x, p = quote(Exposure._meta.db_table), quote(Progress._meta.db_table)
    # Names from the models and fixed text from the callers; every value is a parameter.
    sql = (
        f"SELECT {columns} FROM {x} x {join} {p} p "  # noqa: S608
        f"ON p.version_id = x.version_id AND p.person = x.person "
        f"WHERE x.experiment_id IN ({', '.join(['%s'] * len(ids))}) AND x.counted {where} "
        f"{group}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids, *params])
        yield from cursor


def _chunks(items, size=5000):
    items = iter(items)
    while chunk := list(islice(items, size)):
        yield chunk


def apply(change: Change) -> None:
    """Add the change to the rollups in one statement per table and 200 rows, keys in sorted
    order (two PostgreSQL writers lock the same rows in the same order: no deadlock)."""
    for table in TABLES:
        rows = sorted((key[1:], values) for key, values in change.items() if key[0] == table)
        for chunk in _chunks(rows, ROWS_PER_STATEMENT):
            params = [v for key, values in chunk for v in (*key, *values)]
            with connection.cursor() as cursor:
                model, keys, sums = TABLES[table]
                cursor.execute(adding(model, keys, keys, sums, len(chunk)), params)
