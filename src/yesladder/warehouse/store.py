"""The report's numbers from ClickHouse: analytics.store.Store answered by the SQL of
warehouse.queries, on one server or a sharded cluster. Costs stay in the primary database."""

import datetime as dt
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from yesladder.analytics.progress import ladder
from yesladder.analytics.store import Marks, Query, SqlStore, Tally, version_ids
from yesladder.funnels.models import FunnelVersion
from yesladder.warehouse import queries
from yesladder.warehouse.client import Unreachable, WarehouseError, connect, run, shards
from yesladder.warehouse.config import Settings
from yesladder.warehouse.queries import GAP_KEY, Filter, Plan

EPOCH_DAY = dt.date(1970, 1, 1)
SAFE = {"optimize_move_to_prewhere": 0}  # a filter must see the rows FINAL kept, never before


def _add(old: tuple | None, sums) -> tuple:
    return tuple(sums) if old is None else tuple(a + b for a, b in zip(old, sums, strict=True))


def plan_for(funnel_id: int, version_ids: list[int] | None) -> Plan:
    """Rungs, clicks, optional steps, exclusions and windows of the versions asked for, as
    analytics.rules.Ladder counts them."""
    versions = FunnelVersion.objects.filter(funnel_id=funnel_id)
    if version_ids is not None:
        versions = versions.filter(pk__in=version_ids)
    ladders = [ladder(pk) for pk in versions.values_list("pk", flat=True)]
    plan = Plan(funnel_id, max((len(x.rungs) for x in ladders), default=1))
    for x in ladders:
        v = x.version_id
        plan.windows[v] = x.window
        for i, key in enumerate(x.rungs):
            plan.arrivals.setdefault(f"{v}:{key}", i)  # the first place, like rungs.index
        plan.clicks.update((k, i) for k, i in plan.arrivals.items() if k.startswith(f"{v}:"))
        plan.named.update((f"{v}:{step}#{name}", i) for name, step, i in x.named)
        for bit, key in enumerate(x.optional):
            plan.optional.setdefault(f"{v}:{key}", bit)
        plan.exclusions += [f"{v}:{name}" if label is None else f"{v}:{name}:{label}"
                            for name, label in x.exclusions]  # fmt: skip
    return plan


def _versions(query: Query) -> tuple[int, ...] | None:
    ids = version_ids(query)
    return None if ids is None else tuple(ids)


def day_number(day: dt.date | None) -> int | None:
    return None if day is None else (day - EPOCH_DAY).days


class ClickHouseStore:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._overview: dict[Query, tuple] = {}
        self._shards: list[Settings] | None = None

    def _run(self, sql: str, params: dict) -> list[tuple]:
        """The query on every shard at once (each counts its own people; the rows add up)."""
        if self._shards is None:
            self._shards = shards(self.settings)
        servers = self._shards
        with ThreadPoolExecutor(len(servers)) as pool:
            found = pool.map(lambda n: self._on(n, servers[n], sql, params), range(len(servers)))
            return [row for rows in found for row in rows]

    def _on(self, number: int, server: Settings, sql: str, params: dict) -> list[tuple]:
        try:
            return run(connect(server), server, sql, params, query_settings=SAFE)
        except Unreachable as exc:
            if not self.settings.cluster:
                raise
            raise WarehouseError(
                f"shard {number + 1} of cluster {self.settings.cluster} is down: "
                f"{server.host}:{server.port} is not answering ({exc})"
            ) from None

    @staticmethod
    def _filter(query: Query) -> Filter:
        return Filter(_versions(query), day_number(query.since), day_number(query.until))

    def overview(self, query: Query) -> tuple[list[Tally], Marks, list[Counter]]:
        key = replace(query, by=None, touch="first")
        if key not in self._overview:
            self._report(key)
        return self._overview[key]

    def _report(self, query: Query) -> list[Tally]:
        """The report's one query for a breakdown (or none); when its groups hold everyone,
        their sums are also the overview, kept for the report's next questions."""
        plan = plan_for(query.funnel_id, version_ids(query))
        sql, params = queries.report(plan, self._filter(query), self.settings.database,
                                     query.by, query.touch)  # fmt: skip
        tallies, marks, gaps = _read_overview(self._run(sql, params), plan)
        if queries.counts_everyone(query.by):
            everyone: dict[int, tuple] = {}
            for t in tallies:
                everyone[t.level] = _add(everyone.get(t.level), _sums(t))
            overview = [Tally("", level, *sums) for level, sums in sorted(everyone.items())]
            self._overview[replace(query, by=None, touch="first")] = overview, marks, gaps
        return tallies

    def adhoc(self, funnel, items: list[str], span: dt.timedelta) -> list:
        """An ordered funnel over `items` (checked by warehouse.adhoc) and one window."""
        from yesladder.warehouse import adhoc

        found = adhoc.plan(funnel, items, span)
        sql, params = queries.overview(found, Filter(), self.settings.database)
        tallies, _, gaps = _read_overview(self._run(sql, params), found)
        levels = Counter()
        for t in tallies:
            levels[t.level] += t.people
        return adhoc.rungs(items, levels, gaps)

    def tallies(self, query: Query) -> list[Tally]:
        if query.by is None:
            return self.overview(query)[0]
        names, found = _group_names(query.by), {}
        for t in self._report(query):
            key = (names(t.group), t.level)
            found[key] = _add(found.get(key), _sums(t))
        return [Tally(group, level, *sums) for (group, level), sums in found.items()]

    def variant_counts(self, funnel_id: int, experiment_id: int, macros: dict[int, int]
                       ) -> tuple[list[tuple], list[tuple]]:  # fmt: skip
        """An experiment's exposed people per variant, source and level (with their revenue and
        its squares), and per variant and time to convert: the rows experiments.results reads
        from its rollups, counted here from the shipped exposures and events."""
        plan = plan_for(funnel_id, list(macros))
        sql, params = queries.experiment(plan, experiment_id, macros, self.settings.database)
        tallies, moves = {}, Counter()
        for variant, source, level, seconds, *sums in self._run(sql, params):
            key = (variant, source, level)
            tallies[key] = _add(tallies.get(key), sums)
            if seconds != queries.NOT_CONVERTED:
                moves[(variant, seconds)] += sums[0]
        return [(*k, *v) for k, v in tallies.items()], [(*k, n) for k, n in moves.items()]

    def marks(self, query: Query) -> Marks:
        return self.overview(query)[1]

    def gaps(self, query: Query) -> list[Counter]:
        return self.overview(query)[2]

    def costs(self, query: Query) -> dict[tuple[str, str], tuple[int, int]]:
        return SqlStore().costs(query)


def _sums(tally: Tally) -> tuple[int, int, int, int]:
    return tally.people, tally.opted_in, tally.engaged, tally.revenue


def _read_overview(rows: list[tuple], plan: Plan) -> tuple[list[Tally], Marks, list[Counter]]:
    """queries.report's rows from every shard: the tallies per group and level, and the marks
    and times over every group."""
    found, marks, gaps = {}, Marks(), []
    k, optional = plan.rungs, max(len(plan.optional), 1)
    for group, level, people, opted, engaged, money, *rest in rows:
        if level == queries.UNCOUNTED:
            continue
        found[(group, level)] = _add(found.get((group, level)), (people, opted, engaged, money))
        sums, (keys, counts) = rest[: 2 * k + optional], rest[-1]
        for i in range(k):
            marks.viewed[i] += sums[i]
            marks.clicked[i] += sums[k + i]
        for i in range(len(plan.optional)):
            marks.optional[i] += sums[2 * k + i]
        for key, n in zip(keys, counts, strict=True):
            rung, seconds = divmod(key, GAP_KEY)
            while len(gaps) <= rung:
                gaps.append(Counter())
            gaps[rung][seconds] += n
    tallies = [Tally(group, level, *sums) for (group, level), sums in found.items()]
    return tallies, marks, gaps


def _group_names(by: str):
    if by == "version":
        numbers = dict(FunnelVersion.objects.values_list("pk", "number"))
        return lambda value: str(numbers.get(int(value), value))
    if by == "variant":  # as the embedded store names it: the ladder as written is no variant
        variants = dict(FunnelVersion.objects.values_list("pk", "variant"))
        return lambda value: variants.get(int(value)) or "as written"
    if by == "cohort":
        return lambda value: (
            (EPOCH_DAY + dt.timedelta(days=int(value))).isoformat() if value else ""
        )
    return str
