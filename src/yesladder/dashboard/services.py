"""What the operator's dashboard shows of leads: the searchable list and one lead's page, with
its timeline (the CRM view); funnels are in dashboard.reports. Everything here is
read as frozen dataclasses; the values in them came from visitors and are shown only through
autoescaping templates.
"""

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.urls import reverse

from yesladder.automation.models import Enrollment, Message, ScoreChange, Standing
from yesladder.funnels import money
from yesladder.funnels.models import Funnel
from yesladder.funnels.scoring import Reading
from yesladder.funnels.spec.automations import BUILTIN_SEGMENTS
from yesladder.leads.models import Lead, Visitor
from yesladder.offers.models import Order
from yesladder.tracking.models import Event
from yesladder.tracking.services import quiz_results, readings, results_of

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
    quizzes: tuple[Reading, ...] = ()  # the latest result of each scored quiz taken


@dataclass(frozen=True)
class LeadSearch:
    text: str = ""  # part of the email address
    segment: str = ""
    tag: str = ""
    funnel: str = ""  # a funnel's key: leads who started it (segment and score: in it)
    score_min: float | None = None
    score_max: float | None = None
    status: str = ""  # the consent state, a Lead.Status
    source: str = ""  # the utm_source a device of theirs first came with
    since: dt.date | None = None  # created on or after (UTC)
    until: dt.date | None = None  # created on or before (UTC)


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


def funnel_keys() -> list[str]:
    return list(Funnel.objects.order_by("key").values_list("key", flat=True))


def _segments_of(funnel: Funnel) -> list[str]:
    version = funnel.current_version()
    return list(version.spec.segments) if version else []


def find_leads(search: LeadSearch, page: object = 1) -> Page:
    """The leads matching `search`, newest first, one page of them (LeadRow items)."""
    leads = (
        matching(search)
        .prefetch_related(
            Prefetch("standings", Standing.objects.select_related("funnel").order_by("funnel__key"))
        )
        .order_by("-created_at", "-id")
    )
    found = paged(leads, page, _lead_row)
    results = results_of([row.id for row in found.items])  # one query for the page
    rows = (replace(row, quizzes=tuple(readings(results.get(row.id, [])))) for row in found.items)
    return replace(found, items=tuple(rows))


def matching(search: LeadSearch) -> QuerySet:
    """Every lead `search` asks for (the list, its CSV and bulk changes share it). Each part
    is a subquery on its own index; values are parameters, never SQL (threat 24)."""
    leads = Lead.objects.all()
    if search.text:
        leads = leads.filter(email__icontains=search.text)
    if search.funnel:
        started = Visitor.objects.filter(journeys__funnel__key=search.funnel)
        leads = leads.filter(pk__in=started.values("lead_id"))
    standings = Standing.objects.all()
    if search.funnel:
        standings = standings.filter(funnel__key=search.funnel)
    if search.segment:
        standings = _listing(standings, "segments", search.segment)
    if search.score_min is not None:
        standings = standings.filter(score__gte=search.score_min)
    if search.score_max is not None:
        standings = standings.filter(score__lte=search.score_max)
    if search.segment or search.score_min is not None or search.score_max is not None:
        leads = leads.filter(pk__in=standings.values("lead_id"))
    if search.tag:
        leads = _listing(leads, "tags", search.tag)
    if search.status:
        leads = leads.filter(status=search.status)
    if search.source:
        came = Visitor.objects.filter(utm_source=search.source, lead__isnull=False)
        leads = leads.filter(pk__in=came.values("lead_id"))
    if search.since:
        leads = leads.filter(created_at__gte=_midnight(search.since))
    if search.until:
        leads = leads.filter(created_at__lt=_midnight(search.until + dt.timedelta(days=1)))
    return leads


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


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
        lead=replace(_lead_row(lead), quizzes=tuple(readings(quiz_results(lead)))),
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
        if consent.imported_from:
            detail = f"“{consent.text}”, imported from {consent.imported_from} by " \
                     f"{consent.imported_by}"  # fmt: skip
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
