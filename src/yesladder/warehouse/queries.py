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

from dataclasses import dataclass, field

from yesladder.analytics.footprint import LONG_TIME_UNIT, SOLO_AD_MEDIUMS, TIME_UNITS
from yesladder.events import EventName

NONE = 255  # "no rung" in UInt8 columns
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


def _layers(rungs: int) -> list[list[str]]:
    """The per-person expressions after GROUP BY (see the module's docstring), one list per
    SELECT level: ClickHouse expands an alias in place wherever it is used, so chains of
    aliases in one SELECT grow the query's text past any limit; a level per step keeps it
    linear."""
    layers = [
        ["arrayMap(x -> x.1, h) AS ts", "arrayMap(x -> x.2, h) AS rs", "arrayEnumerate(h) AS ix"],
        [_kept("arrayMap(i -> arrayReduce('max', arrayFilter((t, r, j) -> r = 0 AND j <= i, "
               "ts, rs, ix)), ix)", "s0", "ts", "rs")],
    ]  # fmt: skip
    for k in range(1, rungs):
        layers.append([_kept(
            f"arrayMap(i -> arrayReduce('max', arrayFilter((b, t, r, j) -> r = {k} AND j <= i "
            f"AND b > 0 AND t - b <= W, s{k - 1}, ts, rs, ix)), ix)", f"s{k}",
            f"s{k - 1}", "ts", "rs", "W",
        )])  # fmt: skip
    chains = ", ".join(f"s{k}" for k in range(rungs))
    reached = " + ".join(f"(arrayReduce('max', s{k}) > 0)" for k in range(rungs))
    window = "x.1 >= start AND x.1 <= start + W"
    layers += [
        [f"[{chains}] AS S", f"toUInt8({reached}) AS level"],
        ["S[level][arrayFirstIndex(x -> x > 0, S[level])] AS start"],
        [_kept("arrayMap(m -> arrayReduce('min', arrayFilter((t, b, r) -> r = m AND b = start "
               "AND t - start <= W, ts, S[m], rs)), arrayMap(x -> toUInt8(x + 1), "
               "range(toUInt32(if(level > 1, level - 1, 0)))))", "ends",
               "S", "start", "W", "ts", "rs")],
        ["arrayConcat([start], ends) AS times"],
        [_kept("arrayMap(i -> times[i + 1] - times[i], arrayEnumerate(ends))", "gaps", "times"),
         _kept("arraySort(x -> x.3, arrayFilter(x -> x.1 = times[level] AND x.2 = level - 1, "
               "h))[1]", "last", "times", "level"),
         _kept("arrayReduce('groupBitOr', arrayMap(x -> bitShiftLeft(toUInt64(1), x.2), "
               f"arrayFilter(x -> {window}, opts)))", "optional", "start", "W"),
         _kept(f"arrayExists(x -> {window}, arrayMap(a -> (a, 0), excls))", "excluded",
               "start", "W"),
         "intDiv(start, toUInt64(86400000000)) AS day"],
    ]  # fmt: skip
    return layers


def people(plan: Plan, where: Filter, db: str, params: dict) -> str:
    """One row per (version, person) of one server's local tables: the climb and what counts
    about it. On a cluster every shard answers this for its own people (all of a person's
    rows are on one shard), and the sums add up."""
    params["funnel"] = plan.funnel_id
    version = ""
    if where.version_ids is not None:
        params["versions"] = where.version_ids
        version = "AND version_id IN %(versions)s "
    rung, click, optional, excluded, window = _columns(plan, params)
    sql = f"""
SELECT version_id, person,
  any(win) AS W,
  arraySort(x -> x.1 * 256 + x.2,
    groupArrayIf((at, rung, event_id, source, medium, campaign), rung != {NONE})) AS h,
  groupBitOrIf(bitShiftLeft(toUInt64(1), rung), rung != {NONE}) AS viewed,
  groupBitOrIf(bitShiftLeft(toUInt64(1), click), click != {NONE}) AS clicked,
  groupArrayIf((at, opt), opt != {NONE}) AS opts,
  groupArrayIf(at, excl = 1) AS excls,
  max(opted) AS opted_in, max(engaged) AS engaged_any, sum(revenue) AS money
FROM (
  SELECT version_id, person, at, event_id, source, medium, campaign, opted, engaged, revenue,
    {rung} AS rung, {click} AS click, {optional} AS opt, {excluded} AS excl, {window} AS win
  FROM {db}.events_local FINAL
  WHERE funnel_id = %(funnel)s AND deleted = 0 {version}
)
GROUP BY version_id, person
"""
    sql = f"""
SELECT * FROM ({sql}) AS climbs ANY LEFT JOIN (
  SELECT person,
    argMin((source, medium, campaign, device, created), (created, visitor)) AS first
  FROM {db}.identities_local FINAL WHERE deleted = 0 GROUP BY person
) AS firsts USING person"""
    for layer in _layers(plan.rungs):
        sql = f"SELECT *, {', '.join(layer)} FROM ({sql})"
    return sql


def _counted(where: Filter, params: dict) -> str:
    found = ["level > 0", "NOT excluded"]
    if where.since_day is not None:
        params["since_day"] = where.since_day
        found.append("day >= %(since_day)s")
    if where.until_day is not None:
        params["until_day"] = where.until_day
        found.append("day <= %(until_day)s")
    return " AND ".join(found)


def overview(plan: Plan, where: Filter, db: str) -> tuple[str, dict]:
    """Per level: people, opt-ins, engaged, revenue; and over everyone, the rungs seen and
    clicked, the optional steps taken, and the times to the next rung (kept as the report
    shows them)."""
    params: dict = {}
    inner = people(plan, where, db, params)
    bits = range(plan.rungs)
    marks = ", ".join(
        [f"sum(bitTest(viewed, {k}))" for k in bits] + [f"sum(bitTest(clicked, {k}))" for k in bits]
        + [f"sum(bitTest(optional, {k}))" for k in range(max(len(plan.optional), 1))]
    )  # fmt: skip
    sql = f"""
SELECT level, count() AS people, sum(opted_in), sum(engaged_any), sum(money), {marks},
  sumMap(arrayMap((g, i) -> toUInt64((i - 1) * {GAP_KEY} + {_kept_seconds("g")}), gaps,
                  arrayEnumerate(gaps)),
         arrayMap(g -> toUInt64(1), gaps))
FROM ({inner}) WHERE {_counted(where, params)}
GROUP BY level ORDER BY level
"""
    return sql, params


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


# breakdown -> (first-touch expression, last-touch expression); "first" is
# (source, medium, campaign, device, created), "last" is the hit that took the top rung.
GROUPS = {
    "source": ("first.1", "last.4"),
    "medium": ("first.2", "last.5"),
    "campaign": ("first.3", "last.6"),
    "vendor": ("first.1", "last.4"),
    "version": ("toString(version_id)", "toString(version_id)"),
    "variant": ("toString(version_id)", "toString(version_id)"),  # named by its version
    # the Monday of the week of the first visit, as days since 1970-01-01 (a Thursday)
    "cohort": ("if(first.5 = 0, '', toString(intDiv(first.5, toUInt64(86400000000)) - "
               "modulo(intDiv(first.5, toUInt64(86400000000)) + 3, 7)))",) * 2,
    "device": ("first.4", "first.4"),
}  # fmt: skip
VENDOR_MEDIUM = {"first": "first.2", "last": "last.5"}


def breakdown(plan: Plan, where: Filter, by: str, touch: str, db: str) -> tuple[str, dict]:
    """Per group of the breakdown and level: people, opt-ins, engaged, revenue."""
    params: dict = {}
    inner = people(plan, where, db, params)
    group = GROUPS[by][0 if touch == "first" else 1]
    condition = _counted(where, params)
    if by == "vendor":
        params["solo"] = list(SOLO_AD_MEDIUMS)
        condition += f" AND has(%(solo)s, lowerUTF8({VENDOR_MEDIUM[touch]}))"
    sql = f"""
SELECT {group} AS grp, level, count(), sum(opted_in), sum(engaged_any), sum(money)
FROM ({inner}) WHERE {condition}
GROUP BY grp, level
"""
    return sql, params


NOT_CONVERTED = -1  # the seconds of an exposed person who has not reached the macro step


def experiment(plan: Plan, experiment_id: int, macros: dict[int, int], db: str
               ) -> tuple[str, dict]:  # fmt: skip
    """Per variant, first-touch source, level and time to convert: the experiment's counted
    exposures, each with its person's climb on its variant's ladder (none yet: level 0, no
    source), as experiments.rollup keeps VariantTally and VariantMove. `macros` is the index
    of the macro step in each version's ladder; the time to convert is the sum of the person's
    gaps below it, each rounded to the second, kept at the report's precision."""
    params: dict = {"experiment": experiment_id}
    inner = people(plan, Filter(tuple(sorted(macros))), db, params)
    macro = _lookup("toString(version_id)", {str(v): m for v, m in macros.items()}, "macro",
                    params)  # fmt: skip
    converted = f"level > {macro} AND length(gaps) > 0"
    seconds = (f"if({converted}, toInt64(arraySum(arrayMap(g -> {_rounded_seconds('g')}, "
               f"arraySlice(gaps, 1, {macro})))), toInt64({NOT_CONVERTED}))")  # fmt: skip
    sql = f"""
SELECT variant, source, level, if(secs = {NOT_CONVERTED}, secs, {_kept_at_precision("secs")}),
  count(), sum(money), sum(money * money)
FROM (
  SELECT variant, first.1 AS source, level, money, {seconds} AS secs
  FROM (
    SELECT variant, version_id, person FROM {db}.exposures_local FINAL
    WHERE experiment_id = %(experiment)s AND counted = 1 AND deleted = 0
  ) AS exposed ANY LEFT JOIN ({inner}) AS climbs USING (version_id, person)
)
GROUP BY variant, source, level, secs
"""
    return sql, params
