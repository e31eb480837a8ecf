"""The funnel report as ClickHouse SQL (pure: text and parameters, no I/O).

Per person (one row per funnel version and person, as analytics.progress keeps them) the climb
is computed from that person's arrivals with array functions that every supported release has
(the oldest is 18.16): the same chains as analytics.climb (ClickHouse's `windowFunnel` in its
default mode), plus what windowFunnel does not return: when the counted chain started and its
time on each rung. With hits h_1..h_n in (time, rung) order, S_k[i], the start of the
latest-started chain that reached rung k after hit i, is

    S_0[i] = max{t_j : j <= i, rung_j = 0}
    S_k[i] = max{S_{k-1}[j] : j <= i, rung_j = k, S_{k-1}[j] > 0, t_j - S_{k-1}[j] <= window}

The level is the number of rungs k with S_k[n] > 0; the counted chain is the first to reach the
top rung (start = S_{L-1} where it first becomes non-zero); its time on rung m is the first hit
on m whose chain below started there, inside the window.

Only our own names and small integers are written into the SQL text (and no `%`, which the
client's substitution reads); every value a user or a funnel file gave (step keys, event
names, labels, days, ids) is a `%(name)s` parameter.
"""

import re
from dataclasses import dataclass, field

from yesladder.analytics.footprint import LONG_TIME_UNIT, SOLO_AD_MEDIUMS, TIME_UNITS
from yesladder.events import EventName

NONE = 255  # "no rung" in UInt8 columns
UNCOUNTED = 0  # the level of the people a report leaves out (none reached, excluded, …)
DAY_MICROS = 86_400_000_000
GAP_KEY = 10**12  # sumMap key of a time to the next rung: rung * GAP_KEY + seconds
ARRIVALS = (EventName.STEP_VIEWED.value, EventName.STEP_COMPLETED.value)


@dataclass
class Plan:
    """What counts as a rung, a click, an optional step and an exclusion, per funnel version:
    keys are "<version id>:<step key>" (arrivals, clicks, optional steps) and
    "<version id>:<step key>#<event name>" (an event of a step that is a rung by its name:
    the macro step's `converted`, a call's `call_attended`)."""

    funnel_id: int
    rungs: int  # the longest ladder among the versions
    windows: dict[int, int] = field(default_factory=dict)  # version id -> microseconds
    arrivals: dict[str, int] = field(default_factory=dict)
    named: dict[str, int] = field(default_factory=dict)
    clicks: dict[str, int] = field(default_factory=dict)
    optional: dict[str, int] = field(default_factory=dict)
    exclusions: list[str] = field(default_factory=list)  # "<v>:<name>" or "<v>:<name>:<label>"


@dataclass(frozen=True)
class Filter:
    version_ids: tuple[int, ...] | None = None  # None: every version
    since_day: int | None = None  # days since 1970-01-01 (UTC), inclusive
    until_day: int | None = None


def _lookup(expression: str, keys: dict[str, int], name: str, params: dict) -> str:
    if not keys:
        return str(NONE)
    params[f"{name}_keys"] = list(keys)
    params[f"{name}_values"] = list(keys.values())
    return f"transform({expression}, %({name}_keys)s, %({name}_values)s, {NONE})"


def _columns(plan: Plan, params: dict) -> tuple[str, str, str, str, str]:
    """Per event: its rung, the rung whose call to action it clicks, the optional step it
    touches, whether it is an exclusion, and its version's window."""
    step_key = "concat(toString(version_id), ':', step)"
    name_key = "concat(toString(version_id), ':', step, '#', name)"
    arrival = _lookup(step_key, plan.arrivals, "arrival", params)
    named = _lookup(name_key, plan.named, "named", params)
    params["arrival_names"] = list(ARRIVALS)
    rung = f"toUInt8(if(has(%(arrival_names)s, name), {arrival}, {named}))"
    params["click_name"] = EventName.CTA_CLICKED.value
    click = f"toUInt8(if(name = %(click_name)s, {_lookup(step_key, plan.clicks, 'click', params)}, {NONE}))"  # noqa: E501
    optional = f"toUInt8({_lookup(step_key, plan.optional, 'optional', params)})"
    if plan.exclusions:
        params["exclusions"] = plan.exclusions
        excluded = (
            "(has(%(exclusions)s, concat(toString(version_id), ':', name)) OR "
            "has(%(exclusions)s, concat(toString(version_id), ':', name, ':', label)))"
        )
    else:
        excluded = "0"
    windows = []
    for i, (version, micros) in enumerate(sorted(plan.windows.items())):
        params[f"v{i}"], params[f"w{i}"] = version, micros
        windows += [f"version_id = %(v{i})s", f"toUInt64(%(w{i})s)"]
    window = f"multiIf({', '.join(windows)}, toUInt64(0))" if windows else "toUInt64(0)"
    return rung, click, optional, f"toUInt8({excluded})", window


def _kept(expression: str, alias: str, *captured: str) -> str:
    """`expression AS alias`, naming outside its lambdas the columns they use: 18.16 drops
    from a subquery the columns that only a lambda of the query above uses."""
    if not captured:
        return f"{expression} AS {alias}"
    return f"tupleElement(({expression}, ignore({', '.join(captured)})), 1) AS {alias}"


def _chain(k: int) -> list[str]:
    """Rung k's step of the recurrence, linear in the hits: m{k} marks the hits on rung k that
    extend a chain (the start of the latest chain below, s{k-1}, inside the window), v{k}
    those chains' starts and w{k} the hits' times, in hit order; c{k} counts the marks so far.
    Since the starts only grow, S_k at a hit is the start of the last marked hit before it:
    s{k} = v{k}[c{k}] (index 0 reads 0: no chain yet)."""
    below = "ts" if k == 0 else f"s{k - 1}"  # a hit on the first rung starts its own chain
    mark = ("arrayMap(r -> toUInt32(r = 0), rs)" if k == 0 else
            f"arrayMap((b, t, r) -> toUInt32(r = {k} AND b > 0 AND t - b <= W), {below}, ts, rs)"
            )  # fmt: skip
    return [
        _kept(mark, f"m{k}", *(() if k == 0 else ("W",))),
        f"arrayFilter((b, m) -> m = 1, {below}, m{k}) AS v{k}",
        f"arrayFilter((t, m) -> m = 1, ts, m{k}) AS w{k}",
        f"arrayCumSum(m{k}) AS c{k}",
    ]  # fmt: skip


def _filled(k: int) -> str:
    return _kept(f"arrayMap(c -> v{k}[c], c{k})", f"s{k}", f"v{k}")


def _layers(rungs: int, wants: set[str]) -> list[list[str]]:
    """The per-person expressions after GROUP BY (see the module's docstring), one list per
    SELECT level: 18.16 expands an alias in place wherever it is used, also inside a lambda
    (where it would be computed once per element), so what a lambda reads comes from the level
    below. `wants` names the optional parts (see `people`): the last touch's columns (from the
    hit that took the top rung) and "optional" (the optional steps taken inside the window)."""
    layers = [["arrayMap(x -> x.1, h) AS ts", "arrayMap(x -> x.2, h) AS rs"], _chain(0)]
    for k in range(1, rungs):
        layers.append([_filled(k - 1), *_chain(k)])
    reached = " + ".join(f"notEmpty(v{k})" for k in range(rungs))
    # The counted chain is the first to reach the top rung: the first marked hit's chain.
    starts = ", ".join(f"level = {k + 1}, v{k}[1]" for k in range(rungs))
    layers.append([f"toUInt8({reached}) AS level", f"multiIf({starts}, toUInt64(0)) AS start"])
    # Its time on rung k: the first hit on k marked as extending it (any such hit is inside
    # the window, since the chain's start is the hit's own s{k-1}).
    ends = ", ".join(f"w{k}[indexOf(v{k}, start)]" for k in range(1, rungs))
    times = f"arraySlice([start{', ' if ends else ''}{ends}], 1, level)"
    window = "x >= start AND x <= start + W"
    lasts = _touched("last", LAST_TOUCH, wants)
    last = [_kept("arrayFirst(x -> x.1 = times[level] AND x.2 = level - 1, h)", "last",
                  "times", "level")] if lasts else []  # fmt: skip
    optional = [_kept("arrayReduce('groupBitOr', arrayMap(x -> bitShiftLeft(toUInt64(1), x.2), "
                      "arrayFilter(x -> x.1 >= start AND x.1 <= start + W, opts)))", "optional",
                      "start", "W")] if "optional" in wants else []  # fmt: skip
    layers += [
        [f"{times} AS times"],
        ["arrayMap((a, b) -> b - a, arrayPopBack(times), arrayPopFront(times)) AS gaps",
         _kept(f"arrayExists(x -> {window}, excls)", "excluded", "start", "W"),
         "intDiv(start, toUInt64(86400000000)) AS day", *last, *optional],
    ]  # fmt: skip
    if lasts:  # the hit is (at, rung, event_id, *lasts)
        layers.append([f"last.{i} AS last_{c}" for i, c in enumerate(lasts, 4)])
    return layers


# What a breakdown can be credited to, as columns the report's expressions read: the
# person's first touch (`first_source`, …: their earliest device, from identities) and the
# last (`last_source`, …: the visit of the hit that took the top rung).
FIRST_TOUCH = ("source", "medium", "campaign", "device", "created")
LAST_TOUCH = ("source", "medium", "campaign")


def _touched(touch: str, columns: tuple[str, ...], wants: set[str]) -> list[str]:
    return [c for c in columns if f"{touch}_{c}" in wants]


def people(plan: Plan, where: Filter, db: str, params: dict, wants: set[str] = frozenset()
           ) -> str:  # fmt: skip
    """One row per (version, person) of one server's local tables: the climb and what counts
    about it. On a cluster every shard answers this for its own people (all of a person's
    rows are on one shard), and the sums add up. What costs is read only when `wants` names
    it: the touches' columns (`first_source`, `last_medium`, …), `latest_tier` and "optional"."""
    params["funnel"] = plan.funnel_id
    version = ""
    if where.version_ids is not None:
        params["versions"] = where.version_ids
        version = "AND version_id IN %(versions)s "
    rung, click, optional, excluded, window = _columns(plan, params)
    lasts = _touched("last", LAST_TOUCH, wants)
    tier = (",\n  argMaxIf(tier, (at, event_id), tier != '') AS latest_tier"
            if "latest_tier" in wants else "")  # fmt: skip
    hit = f"(at, rung{''.join(f', {c}' for c in ['event_id', *lasts] if lasts)})"
    sql = f"""
SELECT version_id, person,
  any(win) AS W,
  arraySort(groupArrayIf({hit}, rung != {NONE})) AS h,
  groupBitOrIf(bitShiftLeft(toUInt64(1), rung), rung != {NONE}) AS viewed,
  groupBitOrIf(bitShiftLeft(toUInt64(1), click), click != {NONE}) AS clicked,
  groupArrayIf((at, opt), opt != {NONE}) AS opts,
  groupArrayIf(at, excl = 1) AS excls,
  max(opted) AS opted_in, max(engaged) AS engaged_any, sum(revenue) AS money{tier}
FROM (
  SELECT version_id, person, at, event_id, source, medium, campaign, opted, engaged, revenue,
    {"tier, " if tier else ""}{rung} AS rung, {click} AS click, {optional} AS opt,
    {excluded} AS excl, {window} AS win
  FROM {db}.events_local FINAL
  WHERE funnel_id = %(funnel)s AND deleted = 0 {version}
)
GROUP BY version_id, person
"""
    firsts = _touched("first", FIRST_TOUCH, wants)
    if firsts:
        sql = f"""
SELECT * FROM ({sql}) AS climbs ANY LEFT JOIN (
  SELECT person, {", ".join(f"argMin({c}, (created, visitor)) AS first_{c}" for c in firsts)}
  FROM {db}.identities_local FINAL WHERE deleted = 0 GROUP BY person
) AS firsts USING person"""
    for layer in _layers(plan.rungs, wants):
        sql = f"SELECT *, {', '.join(layer)} FROM ({sql})"
    return sql


def _counted(where: Filter, params: dict) -> str:
    """The condition on a person's climb to be counted. It picks the level to group by
    (`if(counted, level, 0)`, UNCOUNTED) rather than filtering:
    current ClickHouse's planner pushes a WHERE over the climbs below the first touch's JOIN,
    where it cost 40 times the query."""
    found = ["level > 0", "NOT excluded"]
    if where.since_day is not None:
        params["since_day"] = where.since_day
        found.append("day >= %(since_day)s")
    if where.until_day is not None:
        params["until_day"] = where.until_day
        found.append("day <= %(until_day)s")
    return " AND ".join(found)


def _kept_seconds(gap: str) -> str:
    """analytics.footprint.kept_seconds of Python's round(µs / 10⁶) (half to even), in SQL."""
    return _kept_at_precision(_rounded_seconds(gap))


def _rounded_seconds(micros: str) -> str:
    """Python's round(µs / 10⁶), half to even, as analytics.progress keeps a gap."""
    q, r = f"intDiv({micros}, 1000000)", f"modulo({micros}, 1000000)"
    return f"({q} + (({r} > 500000) OR ({r} = 500000 AND modulo({q}, 2) = 1)))"


def _kept_at_precision(s: str) -> str:
    """analytics.footprint.kept_seconds."""
    cases = ", ".join(f"{s} < {bound}, {s} - modulo({s}, {unit})" for bound, unit in TIME_UNITS)
    return f"multiIf({cases}, {s} - modulo({s}, {LONG_TIME_UNIT}))"


# breakdown -> (first-touch expression, last-touch expression), over the touches' columns
GROUPS = {
    "source": ("first_source", "last_source"),
    "medium": ("first_medium", "last_medium"),
    "campaign": ("first_campaign", "last_campaign"),
    "vendor": ("first_source", "last_source"),
    "version": ("toString(version_id)", "toString(version_id)"),
    "variant": ("toString(version_id)", "toString(version_id)"),  # named by its version
    # the Monday of the week of the first visit, as days since 1970-01-01 (a Thursday)
    "cohort": ("if(first_created = 0, '', toString(intDiv(first_created, "
               "toUInt64(86400000000)) - modulo(intDiv(first_created, toUInt64(86400000000)) + "
               "3, 7)))",) * 2,
    "device": ("first_device", "first_device"),
    "tier": ("latest_tier", "latest_tier"),  # of the latest scored result (analytics.rules.tier)
}  # fmt: skip
VENDOR_MEDIUM = {"first": "first_medium", "last": "last_medium"}


def report(plan: Plan, where: Filter, db: str, by: str | None = None, touch: str = "first"
           ) -> tuple[str, dict]:  # fmt: skip
    """Per group of the breakdown (everyone in one group "" without one) and level: people,
    opt-ins, engaged, revenue, the rungs seen and clicked, the optional steps taken and the
    times to the next rung (kept as the report shows them). One pass answers a breakdown and,
    summed over its groups, the report's overview, unless the breakdown leaves people out
    (`counts_everyone`)."""
    params: dict = {}
    group = "''" if by is None else GROUPS[by][0 if touch == "first" else 1]
    condition = _counted(where, params)
    if by == "vendor":
        params["solo"] = list(SOLO_AD_MEDIUMS)
        condition += f" AND has(%(solo)s, lowerUTF8({VENDOR_MEDIUM[touch]}))"
    wants = _touches(group, condition) | ({"optional"} if plan.optional else set())
    inner = people(plan, where, db, params, wants)
    bits = range(plan.rungs)
    marks = ", ".join(
        [f"sum(bitTest(viewed, {k}))" for k in bits] + [f"sum(bitTest(clicked, {k}))" for k in bits]
        + ([f"sum(bitTest(optional, {k}))" for k in range(len(plan.optional))] or ["0"])
    )  # fmt: skip
    sql = f"""
SELECT {group} AS grp, if({condition}, level, 0) AS counted, count(), sum(opted_in),
  sum(engaged_any), sum(money), {marks},
  sumMap(arrayMap((g, i) -> toUInt64((i - 1) * {GAP_KEY} + {_kept_seconds("g")}), gaps,
                  arrayEnumerate(gaps)),
         arrayMap(g -> toUInt64(1), gaps))
FROM ({inner})
GROUP BY grp, counted
"""
    return sql, params


def overview(plan: Plan, where: Filter, db: str) -> tuple[str, dict]:
    return report(plan, where, db)


def breakdown(plan: Plan, where: Filter, by: str, touch: str, db: str) -> tuple[str, dict]:
    return report(plan, where, db, by, touch)


def counts_everyone(by: str | None) -> bool:
    """Whether a breakdown's groups hold every counted person (the vendors hold only the
    people who came from solo ads)."""
    return by != "vendor"


def _touches(*expressions: str) -> set[str]:
    """The touches' columns (`first_source`, …) and the latest tier that a breakdown's
    expressions read."""
    return {m for e in expressions for m in re.findall(r"\b(?:first|last|latest)_[a-z]+", e)}


NOT_CONVERTED = -1  # the seconds of an exposed person who has not reached the macro step


def experiment(plan: Plan, experiment_id: int, macros: dict[int, int], db: str
               ) -> tuple[str, dict]:  # fmt: skip
    """Per variant, first-touch source, level and time to convert: the experiment's counted
    exposures, each with its person's climb on its variant's ladder (none yet: level 0, no
    source), as experiments.rollup keeps VariantTally and VariantMove. `macros` is the index
    of the macro step in each version's ladder; the time to convert is the sum of the person's
    gaps below it, each rounded to the second, kept at the report's precision."""
    params: dict = {"experiment": experiment_id}
    inner = people(plan, Filter(tuple(sorted(macros))), db, params, {"first_source"})
    macro = _lookup("toString(version_id)", {str(v): m for v, m in macros.items()}, "macro",
                    params)  # fmt: skip
    converted = f"level > {macro} AND length(gaps) > 0"
    seconds = (f"if({converted}, toInt64(arraySum(arrayMap(g -> {_rounded_seconds('g')}, "
               f"arraySlice(gaps, 1, {macro})))), toInt64({NOT_CONVERTED}))")  # fmt: skip
    sql = f"""
SELECT variant, source, level, if(secs = {NOT_CONVERTED}, secs, {_kept_at_precision("secs")}),
  count(), sum(money), sum(money * money)
FROM (
  SELECT variant, first_source AS source, level, money, {seconds} AS secs
  FROM (
    SELECT variant, version_id, person FROM {db}.exposures_local FINAL
    WHERE experiment_id = %(experiment)s AND counted = 1 AND deleted = 0
  ) AS exposed ANY LEFT JOIN ({inner}) AS climbs USING (version_id, person)
)
GROUP BY variant, source, level, secs
"""
    return sql, params
