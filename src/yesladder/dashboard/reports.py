"""What the dashboard shows of funnels: the overview of every funnel, one funnel's report as
tables of cells (the same numbers as the terminal report), and its lint findings. Read as frozen
dataclasses; every value is shown through autoescaping templates.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings

from yesladder.analytics import render
from yesladder.analytics.report import Report, ReportError, build
from yesladder.funnels import lint
from yesladder.funnels.models import Funnel, FunnelVersion
from yesladder.funnels.spec import SourcedSpec
from yesladder.funnels.spec.yamlsource import Positions, YamlProblem, parse
from yesladder.warehouse.client import WarehouseError
from yesladder.warehouse.services import remember, reporting_store, status
from yesladder.warehouse.store import ClickHouseStore

Counted = TypeVar("Counted")

# --- funnels ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelQuery:
    """What a funnel report is asked for: analytics.report.build's arguments."""

    version: int | None = None  # None: every version
    since: dt.date | None = None
    until: dt.date | None = None
    by: str | None = None
    touch: str = "first"


@dataclass(frozen=True)
class FunnelSummary:
    """One line of the funnel list: the current version's headline numbers and lint counts."""

    key: str
    name: str
    version: int | None
    entered: int
    reached_last: str
    revenue: str
    bottleneck: str  # the title of the step to improve first, or ""
    errors: int
    warnings: int
    problem: str = ""  # why there are no numbers

    @property
    def people(self) -> str:
        return f"{self.entered:,}"


@dataclass(frozen=True)
class Cell:
    text: str
    number: bool = False  # right-aligned, so digits line up
    verdict: str = ""  # below, within, above or small: how the verdict is coloured

    @property
    def classes(self) -> str:
        verdict = f"verdict {self.verdict}" if self.verdict else ""
        return " ".join(filter(None, ["number" if self.number else "", verdict]))


@dataclass(frozen=True)
class Table:
    columns: tuple[Cell, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Section:
    """One part of the funnel page: a heading and a table, or (without a table) the diagnosis."""

    id: str
    title: str
    note: str = ""  # how to read it
    table: Table | None = None
    lead: str = ""  # the sentence to act on, above the table


@dataclass(frozen=True)
class ReportPage:
    """A report as the funnel page shows it: every number already in words, every table as
    rows of text cells (the rung and group rows are the ones the CSV export writes)."""

    report: Report
    headline: str
    revenue: str
    sections: tuple[Section, ...]
    tier_bars: tuple["Bar", ...] = ()  # people per tier of the scored quiz, drawn as bars

    @property
    def tier_bars_height(self) -> int:
        return BAR_ROW * len(self.tier_bars)


@dataclass(frozen=True)
class Bar:
    label: str
    people: int
    y: int
    width: int  # of BAR_WIDTH, for the most people


def versions(funnel: Funnel) -> list[int]:
    return list(funnel.versions.current().values_list("number", flat=True))


def report(funnel: Funnel, query: FunnelQuery) -> tuple[Report, str]:
    """The funnel's report (or ReportError saying what cannot be answered) and where its
    numbers come from: ClickHouse when a store is set up and keeping up with the event log,
    else the embedded engine, saying why ("" when no store is set up)."""
    asked = (funnel.key, query.version, query.since, query.until, query.by, query.touch)
    return counted(lambda store: build(*asked, store=store))


def counted(count: Callable[[ClickHouseStore | None], Counted]) -> tuple[Counted, str]:
    """`count(store)` with the store the dashboard's numbers come from (None: the embedded
    engine), and a line saying which: ClickHouse when a store is set up and keeping up with
    the event log, else the embedded engine, saying why ("" when no store is set up)."""
    store, why = reporting_store(settings.CLICKHOUSE, settings.CLICKHOUSE_MAX_LAG_SECONDS)
    if store is not None:
        try:
            return count(store), "These numbers are from ClickHouse."
        except WarehouseError as exc:
            remember(exc)  # the store line says so, and the next pages do not wait for it
            why = f"ClickHouse did not answer ({exc})"
    return count(None), f"These numbers are from the embedded engine: {why}." if why else ""


def store_lag() -> str:
    """How far behind the event log the ClickHouse store is; "" when none is set up. Read from
    the primary database only, so a store that is down never slows the page."""
    if settings.CLICKHOUSE is None:
        return ""
    found = status()
    error = f"; last error: {found.error}" if found.error else ""
    return f"ClickHouse store ({settings.CLICKHOUSE.where()}): {found.lag()}{error}"


def funnel_summaries() -> list[FunnelSummary]:
    """Every stored funnel with its headline numbers, all versions counted (one report each)."""
    return [_summary(funnel) for funnel in Funnel.objects.order_by("key")]


def _summary(funnel: Funnel) -> FunnelSummary:
    current = funnel.current_version()
    findings = findings_of(current) if current else []
    errors = sum(f.severity == lint.ERROR for f in findings)
    counts = {"errors": errors, "warnings": len(findings) - errors}
    number = current.number if current else None
    try:
        found = build(funnel.key)  # the embedded engine: one report per funnel on this page
    except ReportError as refused:
        return FunnelSummary(funnel.key, funnel.name, number, 0, "–", "–", "", **counts,
                             problem=str(refused))  # fmt: skip
    first = render.step_title(found, found.bottleneck.step) if found.bottleneck else ""
    return FunnelSummary(
        key=funnel.key, name=found.name, version=number, entered=found.entered,
        reached_last=render.percent(found.rungs[-1].from_start if found.rungs else None),
        revenue=render.money(found, found.revenue), bottleneck=first, **counts,
    )  # fmt: skip


def report_page(found: Report) -> ReportPage:
    sections = [
        Section("ladder", "The ladder, rung by rung", LADDER_NOTE, _rung_table(found)),
        Section("optional", "Optional steps", "", _side_table(found)) if found.sides else None,
        Section("metrics", "The seeds' metrics", "Rates with their 95 % intervals.",
                _metric_table(found)),
        Section("diagnosis", "Diagnosis", "" if found.diagnoses else render.NO_DIAGNOSIS),
        Section("what-if", "What if one move got better?", WHAT_IF_NOTE, _what_if_table(found),
                render.bottleneck(found)) if found.what_ifs else None,
        Section("tiers", "Tiers of the scored quiz", TIERS_NOTE, _tier_table(found))
        if found.tiers else None,
        Section("breakdown", f"By {found.by} ({found.touch} touch)", "", _group_table(found))
        if found.by else None,
    ]  # fmt: skip
    return ReportPage(
        report=found,
        headline=render.headline(found),
        revenue=render.money(found, found.revenue),
        sections=tuple(s for s in sections if s is not None),
        tier_bars=_tier_bars(found),
    )


LADDER_NOTE = (
    "“From previous” is the share of those on the rung before who took this one, with its 95 % "
    "interval. The verdict compares it with the benchmark range; it says “too few to tell” "
    "until there are enough people to be sure."
)
TIERS_NOTE = (
    "Each person in the tier of their latest result (“no score”: not finished yet), and how "
    "far each tier climbed: which tier books the call, which one needs the guide first."
)
BAR_WIDTH, BAR_ROW = 300, 28
WHAT_IF_NOTE = "Each row changes only that move's rate and keeps the others as they are now."


def _cell(value: object) -> Cell:
    """Counts get thousands separators; amounts, rates and the blanks of a number column line
    up on the right; words stay on the left."""
    if isinstance(value, int):
        return Cell(f"{value:,}", number=True)
    text = str(value)
    return Cell(text, number=text in ("", "–") or any(c.isdigit() for c in text))


def _columns(names, left: int = 1) -> tuple[Cell, ...]:
    return tuple(Cell(name, number=i >= left) for i, name in enumerate(names))


def _rung_table(found: Report) -> Table:
    verdict = render.RUNG_COLUMNS.index("verdict")
    rows = []
    for rung in found.rungs:
        cells = [_cell(v) for v in render.rung_row(found, rung)]
        cells[0], cells[1] = Cell(rung.key), Cell(rung.title)  # names, even when all digits
        cells[verdict] = Cell(cells[verdict].text, verdict=rung.verdict)
        rows.append(tuple(cells))
    columns = list(_columns(render.RUNG_COLUMNS, left=2))
    columns[verdict] = Cell("verdict")  # words, on the left like its cells
    return Table(tuple(columns), tuple(rows))


def _side_table(found: Report) -> Table:
    rows = tuple((Cell(s.title), _cell(s.people), _cell(render.percent(s.share)))
                 for s in found.sides)  # fmt: skip
    return Table(_columns(("optional step", "people", "of those who entered")), rows)


def _metric_table(found: Report) -> Table:
    rows = tuple((Cell(m.name), *(_cell(v) for v in render.metric_row(m)[1:]))
                 for m in found.metrics)  # fmt: skip
    return Table(_columns(render.METRIC_COLUMNS), rows)


def _what_if_table(found: Report) -> Table:
    rows = []
    for gain in found.what_ifs:
        title, *rest = render.what_if_row(found, gain)
        rows.append((Cell(title), *(_cell(v) for v in rest)))
    return Table(_columns(render.WHAT_IF_COLUMNS), tuple(rows))


def _group_table(found: Report) -> Table:
    rows = []
    for group in found.groups:
        name, *rest = render.group_row(found, group)  # the name may be a visitor's utm value
        rows.append((Cell(str(name)), *(_cell(v) for v in rest)))
    return Table(_columns(render.group_columns(found)), tuple(rows))


def _tier_table(found: Report) -> Table:
    rows = []
    for group in found.tiers:
        title, *rest = render.tier_row(found, group)  # a tier's title is the editor's text
        rows.append((Cell(str(title)), *(_cell(v) for v in rest)))
    return Table(_columns(render.tier_columns(found)), tuple(rows))


def _tier_bars(found: Report) -> tuple[Bar, ...]:
    most = max((g.entered for g in found.tiers), default=0)
    return tuple(Bar(g.name, g.entered, BAR_ROW * i, g.entered * BAR_WIDTH // most if most else 0)
                 for i, g in enumerate(found.tiers))  # fmt: skip


def linted(funnel: Funnel, number: int | None) -> tuple[FunnelVersion | None, list[lint.Finding]]:
    """The version asked for (else the current one) and its lint findings."""
    chosen = funnel.versions.current().filter(number=number).first() if number else None
    version = chosen or funnel.current_version()
    return version, findings_of(version) if version else []


def findings_of(version: FunnelVersion) -> list[lint.Finding]:
    """The linter's findings for a stored version, as `yesladder lint` gave them for its file.

    The stored spec is linted (it is self-contained: an email kept in a file was read into it),
    with the line numbers of the YAML it was loaded from."""
    try:
        _, positions = parse(version.source)
    except YamlProblem:  # stored before a parser change: findings without their lines
        positions = Positions()
    sourced = SourcedSpec(version.spec, positions, version.source_file or "<stored>",
                          version.source)  # fmt: skip
    return lint.lint(sourced)
