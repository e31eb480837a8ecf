"""What the operator's dashboard shows: the searchable list of leads and one lead's page, with
its timeline (the CRM view), and each funnel's report with its lint findings. Everything here is
read as frozen dataclasses; the values in them came from visitors and are shown only through
autoescaping templates.
"""

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.urls import reverse

from yesladder.analytics import render
from yesladder.analytics.report import Report, ReportError, build
from yesladder.automation.models import Enrollment, Message, ScoreChange, Standing
from yesladder.funnels import lint, money
from yesladder.funnels.models import Funnel, FunnelVersion
from yesladder.funnels.spec import SourcedSpec
from yesladder.funnels.spec.automations import BUILTIN_SEGMENTS
from yesladder.funnels.spec.yamlsource import Positions, YamlProblem, parse
from yesladder.leads.models import Lead
from yesladder.offers.models import Order
from yesladder.tracking.models import Event

PAGE_SIZE = 50
TIMELINE_LIMIT = 1000  # the latest entries shown; older ones are in the JSON export
MAX_DETAIL = 300  # characters of an event's properties shown on one line


# --- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StandingRow:
    funnel: str
    score: float
    segments: tuple[str, ...]


@dataclass(frozen=True)
class LeadRow:
    id: int
    email: str
    status: str
    created_at: dt.datetime
    tags: tuple[str, ...]
    standings: tuple[StandingRow, ...]


@dataclass(frozen=True)
class LeadSearch:
    text: str = ""  # part of the email address
    segment: str = ""
    tag: str = ""


@dataclass(frozen=True)
class Page:
    """One page of a listing: its items (frozen rows), its number, how many pages and rows."""

    items: tuple
    number: int
    pages: int
    count: int


def paged(rows: QuerySet, number: object, row: Callable) -> Page:
    """Page `number` of `rows` (anything not a page number gives the nearest page), each row
    made a frozen item by `row`."""
    found = Paginator(rows, PAGE_SIZE).get_page(number)
    items = tuple(row(each) for each in found)
    return Page(items, found.number, found.paginator.num_pages, found.paginator.count)


def segment_names() -> list[str]:
    """The segments a lead can be in: the built-in ones and every funnel's own."""
    custom = {name for funnel in Funnel.objects.all() for name in _segments_of(funnel)}
    return [*BUILTIN_SEGMENTS, *sorted(custom - set(BUILTIN_SEGMENTS))]


def _segments_of(funnel: Funnel) -> list[str]:
    version = funnel.current_version()
    return list(version.spec.segments) if version else []


def find_leads(search: LeadSearch, page: object = 1) -> Page:
    """The leads matching `search`, newest first, one page of them (LeadRow items)."""
    leads = Lead.objects.prefetch_related(
        Prefetch("standings", Standing.objects.select_related("funnel").order_by("funnel__key"))
    ).order_by("-created_at", "-id")
    if search.text:
        leads = leads.filter(email__icontains=search.text)
    if search.segment:
        standings = _listing(Standing.objects.all(), "segments", search.segment)
        leads = leads.filter(pk__in=standings.values("lead_id"))
    if search.tag:
        leads = _listing(leads, "tags", search.tag)
    return paged(leads, page, _lead_row)


def _listing(rows: QuerySet, field: str, value: str) -> QuerySet:
    """Rows whose JSON list `field` holds the string `value`. Matched on the JSON text, quotes
    included, so "buyers" never matches "non-buyers"; the same on SQLite (which has no JSON
    containment lookup) and PostgreSQL. The value is a query parameter, never SQL."""
    quoted = json.dumps(value)
    return rows.annotate(_text=Cast(field, TextField())).filter(_text__contains=quoted)


def _lead_row(lead: Lead) -> LeadRow:
    return LeadRow(
        id=lead.pk,
        email=lead.email,
        status=lead.get_status_display(),
        created_at=lead.created_at,
        tags=tuple(lead.tags),
        standings=tuple(_standing_row(s) for s in lead.standings.all()),
    )


def _standing_row(standing: Standing) -> StandingRow:
    return StandingRow(standing.funnel.key, standing.score, tuple(standing.segments))


# --- one lead --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    lead: LeadRow
    fields: tuple[tuple[str, str], ...]
    user_id: str
    confirmed_at: dt.datetime | None
    orders: int  # kept for the accounts when the lead is erased


def profile(lead: Lead) -> Profile:
    return Profile(
        lead=_lead_row(lead),
        fields=tuple(sorted((str(k), str(v)) for k, v in lead.profile.items())),
        user_id=lead.user_id or "",
        confirmed_at=lead.confirmed_at,
        orders=Order.objects.filter(lead=lead).count(),
    )


@dataclass(frozen=True)
class Entry:
    """One thing on the timeline."""

    at: dt.datetime
    kind: str  # event, email, automation, score, consent, booking, event-seat, order, payment
    title: str
    detail: str = ""
    link: str = ""  # the raw record in the admin


def timeline(lead: Lead) -> list[Entry]:
    """Everything the lead did and everything done to it, oldest first: the latest
    TIMELINE_LIMIT entries (each source reads only its latest TIMELINE_LIMIT rows)."""
    sources = (_events, _emails, _runs, _scores, _consents, _bookings, _seats, _orders)
    entries = [entry for source in sources for entry in source(lead)]
    entries.sort(key=lambda entry: entry.at)
    return entries[-TIMELINE_LIMIT:]


def _latest(rows: QuerySet, field: str) -> QuerySet:
    return rows.order_by(f"-{field}", "-pk")[:TIMELINE_LIMIT]


def _admin(model_name: str, pk: int) -> str:
    return reverse(f"admin:{model_name}_change", args=[pk])


def _events(lead: Lead) -> Iterator[Entry]:
    # Every device's events: a visitor's history stays on it until stitching reaches it. A
    # subquery, not a join, so each side of the OR can use its own index.
    events = Event.objects.filter(Q(lead=lead) | Q(visitor__in=lead.visitors.values("pk")))
    for event in _latest(events.select_related("funnel_version__funnel"), "occurred_at"):
        where = event.funnel_version.funnel.key if event.funnel_version else "tracked site"
        title = " · ".join(filter(None, [event.name.replace("_", " "), event.step_key]))
        detail = "; ".join(filter(None, [where, event.label, _properties(event.properties)]))
        yield Entry(
            event.occurred_at,
            "event",
            title + (" (bot)" if event.is_bot else ""),
            detail,
            _admin("tracking_event", event.pk),
        )


def _properties(properties: dict) -> str:
    text = ", ".join(f"{key}={value}" for key, value in (properties or {}).items())
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"


def _emails(lead: Lead) -> Iterator[Entry]:
    messages = _latest(Message.objects.filter(lead=lead).prefetch_related("links"), "created_at")
    for message in messages:
        link = _admin("automation_message", message.pk)
        yield _delivery(message, link)
        if message.opened_at:
            yield Entry(message.opened_at, "email", f"Opened: {message.subject}", "", link)
        if message.clicked_at:
            clicked = ", ".join(f"{x.url} ×{x.clicks}" for x in message.links.all() if x.clicks)
            yield Entry(message.clicked_at, "email", f"Clicked: {message.subject}", clicked, link)


def _delivery(message: Message, link: str) -> Entry:
    """What became of the message: sent, waiting, not sent, or given up on."""
    about = f"{message.template} to {message.to}"
    if message.state == Message.State.SENT:
        at = message.sent_at or message.created_at
        return Entry(at, "email", f"Email sent: {message.subject}", about, link)
    if message.state == Message.State.SKIPPED:
        detail = f"{about}: {message.last_error}"
        return Entry(
            message.created_at, "email", f"Email not sent: {message.subject}", detail, link
        )
    if message.state == Message.State.DEAD:
        detail = f"{about}; {message.attempts} tries; {message.last_error}"
        at = message.claimed_at or message.created_at
        return Entry(at, "email", f"Email failed: {message.subject}", detail, link)
    detail = f"{about}; due {message.due_at:%Y-%m-%d %H:%M} UTC; {message.attempts} tries"
    if message.last_error:
        detail += f"; last error: {message.last_error}"
    return Entry(message.created_at, "email", f"Email queued: {message.subject}", detail, link)


def _runs(lead: Lead) -> Iterator[Entry]:
    runs = _latest(Enrollment.objects.filter(lead=lead).select_related("funnel"), "started_at")
    for run in runs:
        link = _admin("automation_enrollment", run.pk)
        name = f"{run.funnel.key} / {run.automation}"
        if run.occurrence:
            name += f" ({run.occurrence})"
        yield Entry(run.started_at, "automation", f"Automation started: {name}", "", link)
        ended = _run_state(run, name, link)
        if ended is not None:
            yield ended


def _run_state(run: Enrollment, name: str, link: str) -> Entry | None:
    if run.state == Enrollment.State.WAITING:
        until = f"until {run.wake_at:%Y-%m-%d %H:%M} UTC" if run.wake_at else ""
        detail = f"{until}, then action {run.position}" if run.position else until
        return Entry(run.updated_at, "automation", f"Waiting: {name}", detail, link)
    if run.state == Enrollment.State.EXITED:
        at = run.ended_at or run.updated_at
        return Entry(at, "automation", f"Left: {name}", run.exit_reason, link)
    if run.state == Enrollment.State.DONE:
        return Entry(run.ended_at or run.updated_at, "automation", f"Finished: {name}", "", link)
    return None  # running right now: the start says it all


def _scores(lead: Lead) -> Iterator[Entry]:
    changes = _latest(ScoreChange.objects.filter(lead=lead).select_related("funnel"), "at")
    for change in changes:
        title = f"Score {change.score:.1f} in {change.funnel.key}"
        yield Entry(change.at, "score", title, ", ".join(change.segments))


def _consents(lead: Lead) -> Iterator[Entry]:
    for consent in _latest(lead.consents.all(), "given_at"):
        where = f"{consent.step_key}: " if consent.step_key else ""
        how = "double opt-in asked" if consent.double_optin else "single opt-in"
        detail = f"{where}“{consent.text}” on {consent.page_url} ({how})"
        yield Entry(consent.given_at, "consent", "Consent given", detail)
        if consent.confirmed_at:
            yield Entry(consent.confirmed_at, "consent", "Double opt-in confirmed")


def _bookings(lead: Lead) -> Iterator[Entry]:
    bookings = _latest(lead.bookings.select_related("host"), "created_at")
    for booking in bookings:
        link = _admin("scheduling_booking", booking.pk)
        title = f"Call booked for {booking.start:%Y-%m-%d %H:%M} UTC"
        detail = f"{booking.step_key} with {booking.host.name} ({booking.timezone})"
        yield Entry(booking.created_at, "booking", title, detail, link)
        if booking.cancelled_at:
            yield Entry(booking.cancelled_at, "booking", "Call cancelled", title, link)


def _seats(lead: Lead) -> Iterator[Entry]:
    seats = _latest(lead.registrations.select_related("session__funnel"), "created_at")
    for seat in seats:
        link = _admin("scheduling_registration", seat.pk)
        title = f"{seat.get_status_display().capitalize()}: {seat.session}"
        yield Entry(seat.created_at, "event-seat", title, "", link)
        if seat.attended_at:
            yield Entry(seat.attended_at, "event-seat", f"Attended: {seat.session}", "", link)


def _orders(lead: Lead) -> Iterator[Entry]:
    orders = _latest(Order.objects.filter(lead=lead).prefetch_related("charges"), "created_at")
    for order in orders:
        link = _admin("offers_order", order.pk)
        total = money.shown(order.total, order.currency)
        detail = f"{order.step_key}; {total} in all; {order.get_state_display()}"
        yield Entry(order.created_at, "order", f"Order placed: {order.title}", detail, link)
        yield from _charges(order, link)
        if order.refunded_at:
            yield Entry(order.refunded_at, "order", f"Refunded: {order.title}", "", link)


def _charges(order: Order, link: str) -> Iterable[Entry]:
    for charge in order.charges.all():
        amount = money.shown(charge.amount, order.currency)
        if charge.paid_at:
            yield Entry(charge.paid_at, "payment", f"Paid {amount}: {charge.label}", "", link)
        elif charge.state == charge.State.FAILED:
            title = f"Payment of {amount} failed: {charge.label}"
            yield Entry(charge.due_at, "payment", title, charge.failure, link)


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


def versions(funnel: Funnel) -> list[int]:
    return list(funnel.versions.order_by("-number").values_list("number", flat=True))


def report(funnel: Funnel, query: FunnelQuery) -> Report:
    """The funnel's report, or ReportError saying what cannot be answered."""
    return build(funnel.key, query.version, query.since, query.until, query.by, query.touch)


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
        found = report(funnel, FunnelQuery())
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
        Section("breakdown", f"By {found.by} ({found.touch} touch)", "", _group_table(found))
        if found.by else None,
    ]  # fmt: skip
    return ReportPage(
        report=found,
        headline=render.headline(found),
        revenue=render.money(found, found.revenue),
        sections=tuple(s for s in sections if s is not None),
    )


LADDER_NOTE = (
    "“From previous” is the share of those on the rung before who took this one, with its 95 % "
    "interval. The verdict compares it with the benchmark range; it says “too few to tell” "
    "until there are enough people to be sure."
)
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


def linted(funnel: Funnel, number: int | None) -> tuple[FunnelVersion | None, list[lint.Finding]]:
    """The version asked for (else the current one) and its lint findings."""
    chosen = funnel.versions.filter(number=number).first() if number else None
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
