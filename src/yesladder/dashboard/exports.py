"""The list as CSV: every lead a search matches, one row each, written as it is read, a
thousand leads at a time (by id, so memory stays flat however long the list), each cell that a
spreadsheet would run as a formula kept as text (threat 25)."""

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator

from yesladder.analytics.render import safe_cell
from yesladder.automation.models import Standing, Suppression, email_hash
from yesladder.dashboard.services import LeadSearch, matching
from yesladder.leads.models import Consent, Lead, Visitor
from yesladder.tracking.models import Journey

CHUNK = 1000
NAMES = ("first_name", "last_name")
COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "fields",
    "created_at",
    "first_source",
    "furthest_rungs",
    "scores",
    "segments",
    "tags",
    "status",
    "consent_basis",
    "consent_at",
    "consent_ip",
    "consent_confirmed_at",
    "suppressed",
)


def rows(search: LeadSearch) -> Iterator[list]:
    """The header, then one row per lead (oldest first)."""
    yield list(COLUMNS)
    leads = matching(search).order_by("pk")
    last = 0
    while True:
        chunk = list(leads.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            return
        yield from _rows(chunk)
        last = chunk[-1].pk


def lines(search: LeadSearch) -> Iterator[str]:
    """`rows` as CSV text, a line at a time (for a streamed response or the terminal)."""
    out = _Line()
    writer = csv.writer(out)
    for row in rows(search):
        yield writer.writerow([safe_cell(cell) for cell in row])


class _Line:
    """What csv.writer writes to: it hands each line back instead of keeping it."""

    def write(self, text: str) -> str:
        return text


def _rows(leads: list[Lead]) -> Iterator[list]:
    ids = [lead.pk for lead in leads]
    standings, consent, source, rungs = _standings(ids), _consents(ids), _sources(ids), _rungs(ids)
    hashes = {lead.pk: email_hash(lead.email) for lead in leads}
    suppressed = dict(
        Suppression.objects.filter(email_hash__in=hashes.values()).values_list(
            "email_hash", "reason"
        )
    )
    for lead in leads:
        given = consent.get(lead.pk)
        profile = {str(k): str(v) for k, v in lead.profile.items()}
        yield [
            lead.email,
            profile.pop("first_name", ""),
            profile.pop("last_name", ""),
            _joined(f"{k}={v}" for k, v in sorted(profile.items())),
            lead.created_at.isoformat(),
            source.get(lead.pk, ""),
            _joined(f"{f}: {step}" for f, step in sorted(rungs[lead.pk].items())),
            _joined(f"{f}: {score:g}" for f, score, _ in standings[lead.pk]),
            _joined(f"{f}: {', '.join(s)}" for f, _, s in standings[lead.pk] if s),
            _joined(lead.tags),
            lead.status,
            given.text if given else "",
            given.given_at.isoformat() if given else "",
            (given.ip or "") if given else "",
            given.confirmed_at.isoformat() if given and given.confirmed_at else "",
            suppressed.get(hashes[lead.pk], ""),
        ]


def _joined(parts: Iterable[str]) -> str:
    return "; ".join(parts)


def _standings(ids: list[int]) -> dict[int, list[tuple[str, float, list]]]:
    found = defaultdict(list)
    for lead_id, funnel, score, segments in (
        Standing.objects.filter(lead_id__in=ids)
        .order_by("funnel__key")
        .values_list("lead_id", "funnel__key", "score", "segments")
    ):
        found[lead_id].append((funnel, score, segments or []))
    return found


def _consents(ids: list[int]) -> dict[int, Consent]:
    """Each lead's latest consent."""
    latest: dict[int, Consent] = {}
    for consent in Consent.objects.filter(lead_id__in=ids).order_by("lead_id", "given_at", "pk"):
        latest[consent.lead_id] = consent
    return latest


def _sources(ids: list[int]) -> dict[int, str]:
    """Where each lead's first device came from: its utm_source, else its referrer."""
    first: dict[int, str] = {}
    devices = (
        Visitor.objects.filter(lead_id__in=ids)
        .order_by("lead_id", "-created_at")
        .values_list("lead_id", "utm_source", "referrer")
    )
    for lead_id, utm_source, referrer in devices:
        first[lead_id] = utm_source or referrer
    return first


def _rungs(ids: list[int]) -> dict[int, dict[str, str]]:
    """Per lead and funnel, the rung its furthest journey (most steps done) stands on."""
    furthest: dict[int, dict[str, tuple[int, str]]] = defaultdict(dict)
    journeys = Journey.objects.filter(visitor__lead_id__in=ids).values_list(
        "visitor__lead_id", "funnel__key", "done", "current_step"
    )
    for lead_id, funnel, done, step in journeys:
        mine = furthest[lead_id]
        if funnel not in mine or len(done or []) > mine[funnel][0]:
            mine[funnel] = (len(done or []), step)
    return defaultdict(
        dict, {lead: {f: step for f, (_, step) in by.items()} for lead, by in furthest.items()}
    )
