"""A report as people and programs read it: words and numbers, JSON, CSV, a chart. Pure."""

import csv
import dataclasses
import datetime as dt
import io

from yesladder.analytics.chart import Bar, FunnelChart
from yesladder.analytics.footprint import kept_seconds
from yesladder.analytics.report import NO_SCORE, Metric, Report, Rung
from yesladder.analytics.verdicts import WhatIf
from yesladder.funnels.money import shown

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # threat 25
# The terminal's colour for a rung's verdict against its benchmark (rich markup styles).
VERDICT_STYLE = {"below": "bold red", "within": "green", "above": "blue", "small": "dim"}


def percent(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f} %"


def duration(seconds: int | None) -> str:
    """Short and exact enough to act on: 45 s, 12 min, 3.5 h, 2.0 days (cut, not rounded, to
    the precision the rollups keep: analytics.footprint.kept_seconds)."""
    if seconds is None:
        return "–"
    kept = kept_seconds(seconds)
    if kept < 120:
        return f"{kept} s"
    if kept < 7200:
        return f"{kept // 60} min"
    if kept < 172_800:
        return f"{kept // 360 / 10:.1f} h"
    return f"{kept // 8640 / 10:.1f} days"


def spread(bounds: tuple[float, float] | None, digits: int = 0) -> str:
    """A range of rates: "40–60 %"."""
    if bounds is None:
        return ""
    low, high = bounds
    return f"{low * 100:.{digits}f}–{high * 100:.{digits}f} %"


VERDICT_WORDS = {
    "below": "below range", "within": "within range", "above": "above range",
    "small": "too few to tell", "": "",
}  # fmt: skip


def period(report: Report) -> str:
    def day(value: dt.date | None) -> str:
        return value.strftime("%-d %b %Y") if value else "…"

    if not report.since and not report.until:
        return "all time"
    return f"{day(report.since)} to {day(report.until)}"


def headline(report: Report) -> str:
    return (f"{report.entered:,} people entered · {percent(report.rungs[-1].from_start)} "
            f"reached the last rung · {report.version} · {period(report)}"
            if report.rungs else "no rungs")  # fmt: skip


def money(report: Report, minor: int | None) -> str:
    return "–" if minor is None else shown(minor, report.currency)


NO_DIAGNOSIS = "No move is outside its benchmark range with enough people to tell."


def step_title(report: Report, key: str) -> str:
    return next((r.title for r in report.rungs if r.key == key), key)


def bottleneck(report: Report) -> str:
    """The step to improve first and what improving it would bring, in one sentence."""
    best = report.bottleneck
    if best is None:
        return ""
    step = step_title(report, best.step)
    if best.more_at_top > 0:
        gain = (f"reaching the top of its range would add {best.more_at_top:,.1f} conversions "
                f"({money(report, best.revenue_at_top)})")  # fmt: skip
    elif best.more_per_point > 0:  # no range to reach: one point is the measure
        gain = (f"one more percentage point would add {best.more_per_point:,.1f} conversions "
                f"({money(report, best.revenue_per_point)})")  # fmt: skip
    else:
        gain = "nobody has taken it yet, and nothing above it can count until someone does"
    return f"Bottleneck: the move to “{step}” — {gain}."


# --- a chart ---------------------------------------------------------------------------------


def chart(report: Report) -> FunnelChart:
    bars = tuple(Bar(r.title, r.reached, r.from_previous, r.benchmark, r.verdict)
                 for r in report.rungs)  # fmt: skip
    return FunnelChart(title=f"{report.name} ({report.funnel})", bars=bars,
                       subtitle=headline(report))  # fmt: skip


# --- rows for tables and CSV -----------------------------------------------------------------

RUNG_COLUMNS = ("step", "title", "reached", "from previous", "95 % interval", "benchmark",
                "verdict", "from start", "dropped", "median to next", "p90 to next",
                "click-through")  # fmt: skip


def rung_row(report: Report, rung: Rung) -> list:
    return [rung.key, rung.title, rung.reached, percent(rung.from_previous), spread(rung.interval),
            spread(rung.benchmark), VERDICT_WORDS.get(rung.verdict, rung.verdict),
            percent(rung.from_start), rung.dropped, duration(rung.median_seconds),
            duration(rung.p90_seconds), percent(rung.ctr)]  # fmt: skip


def group_columns(report: Report) -> list[str]:
    return [report.by or "group", "entered", *[f"reached {r.key}" for r in report.rungs[1:]],
            "conversion", "leads", "revenue", "clicks bought", "cost", "cost per lead",
            "cost per acquisition", "earnings per click", "ROI"]  # fmt: skip


# How a breakdown names the people with no value in it.
NO_VALUE = {"tier": NO_SCORE}


def group_name(by: str | None, name: str) -> str:
    return name or NO_VALUE.get(by or "", "(none)")


def group_row(report: Report, group) -> list:
    return [group_name(report.by, group.name), group.entered, *group.reached[1:],
            percent(group.conversion), group.leads, money(report, group.revenue),
            "–" if group.clicks is None else group.clicks, money(report, group.cost),
            money(report, group.cost_per_lead), money(report, group.cost_per_acquisition),
            money(report, group.earnings_per_click), percent(group.roi, 0)]  # fmt: skip


def tier_columns(report: Report) -> list[str]:
    return ["tier", "people", "of all who entered",
            *[f"reached {r.key}" for r in report.rungs[1:]], "conversion"]  # fmt: skip


def tier_row(report: Report, group) -> list:
    """One tier of the report's scored quizzes: how many people it holds and how they climbed
    on (the report's `tiers` are named by the tier's title)."""
    share = group.entered / report.entered if report.entered else None
    return [group.name, group.entered, percent(share), *group.reached[1:],
            percent(group.conversion)]  # fmt: skip


METRIC_COLUMNS = ("metric", "rate", "count", "of", "95 % interval")


def metric_row(metric: Metric) -> list:
    return [metric.name, percent(metric.value), metric.count, metric.of,
            spread(metric.interval, 1)]  # fmt: skip


WHAT_IF_COLUMNS = ("move to", "now", "+1 point adds", "its revenue", "top of range adds",
                   "its revenue")  # fmt: skip


def what_if_row(report: Report, gain: WhatIf) -> list:
    return [step_title(report, gain.step), percent(gain.rate), f"{gain.more_per_point:,.1f}",
            money(report, gain.revenue_per_point), f"{gain.more_at_top:,.1f}",
            money(report, gain.revenue_at_top)]  # fmt: skip


def safe_cell(value):
    """A text cell a spreadsheet would run as a formula is kept as text (threat 25)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RUNG_COLUMNS)
    for rung in report.rungs:
        writer.writerow([safe_cell(v) for v in rung_row(report, rung)])
    for columns, row, groups in ((tier_columns, tier_row, report.tiers),
                                 (group_columns, group_row, report.groups)):  # fmt: skip
        if groups:
            writer.writerow([])
            writer.writerow(columns(report))
            for group in groups:
                writer.writerow([safe_cell(v) for v in row(report, group)])
    return out.getvalue()


def to_json(report: Report) -> dict:
    """Raw numbers (fractions, seconds, minor units), for programs."""

    def plain(value):
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    data = plain(dataclasses.asdict(report))
    data["converted"] = report.converted
    return data
