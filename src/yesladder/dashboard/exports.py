"""The list as CSV: every lead a search matches, one row each, written as it is read, a
thousand leads at a time (by id, so memory stays flat however long the list), each cell that a
spreadsheet would run as a formula kept as text (threat 25)."""

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator

from yesladder.analytics.render import safe_cell
from yesladder.automation.models import Standing, Suppression, email_hash
from yesladder.dashboard.services import LeadSearch, matching
from yesladder.leads.models import Consent, Visitor
from yesladder.tracking.models import Journey

CHUNK = 2000
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


LEAD_FIELDS = ("pk", "email", "profile", "tags", "status", "created_at")


def rows(search: LeadSearch) -> Iterator[list]:
    """The header, then one row per lead (oldest first)."""
    yield list(COLUMNS)
    leads = matching(search).order_by("pk").values_list(*LEAD_FIELDS)
    last = 0
    while True:
        chunk = list(leads.filter(pk__gt=last)[:CHUNK])
        if not chunk:
            return
        yield from _rows(chunk)
        last = chunk[-1][0]


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


def _rows(leads: list[tuple]) -> Iterator[list]:
    # The chunk's other rows are read by a range of lead ids (a filter that matches fewer leads
    # reads a few rows it does not need): a range is one cheap condition, a thousand ids are not.
    span = (leads[0][0], leads[-1][0])
    standings, consent, source, rungs = (_standings(span), _consents(span), _sources(span),
                                         _rungs(span))  # fmt: skip
    hashes = {pk: email_hash(email) for pk, email, *_ in leads}
    suppressed = dict(Suppression.objects.filter(email_hash__in=hashes.values())
                      .values_list("email_hash", "reason"))  # fmt: skip
    for pk, email, profile, tags, status, created_at in leads:
        text, given_at, ip, confirmed_at = consent.get(pk, ("", None, None, None))
        profile = {str(k): str(v) for k, v in profile.items()}
        yield [
            email, profile.pop("first_name", ""), profile.pop("last_name", ""),
            _joined(f"{k}={v}" for k, v in sorted(profile.items())),
            created_at.isoformat(), source.get(pk, ""),
            _joined(f"{f}: {step}" for f, step in sorted(rungs.get(pk, {}).items())),
            _joined(f"{f}: {score:g}" for f, score, _ in standings.get(pk, ())),
            _joined(f"{f}: {', '.join(s)}" for f, _, s in standings.get(pk, ()) if s),
            _joined(tags), status, text, given_at.isoformat() if given_at else "", ip or "",
            confirmed_at.isoformat() if confirmed_at else "", suppressed.get(hashes[pk], ""),
        ]  # fmt: skip


def _joined(parts: Iterable[str]) -> str:
    return "; ".join(parts)


def _within(span: tuple[int, int], lead: str) -> dict:
    return {f"{lead}__gte": span[0], f"{lead}__lte": span[1]}


def _standings(span: tuple[int, int]) -> dict[int, list[tuple[str, float, list]]]:
    found = defaultdict(list)
    for lead_id, funnel, score, segments in (
        Standing.objects.filter(**_within(span, "lead")).order_by("funnel__key")
        .values_list("lead_id", "funnel__key", "score", "segments")
    ):  # fmt: skip
        found[lead_id].append((funnel, score, segments or []))
    return found


def _consents(span: tuple[int, int]) -> dict[int, tuple]:
    """Each lead's latest consent: text, given, address, confirmed."""
    consents = (
        Consent.objects.filter(**_within(span, "lead"))
        .order_by("lead_id", "given_at", "pk")
        .values_list("lead_id", "text", "given_at", "ip", "confirmed_at")
    )
    return {lead_id: rest for lead_id, *rest in consents}


def _sources(span: tuple[int, int]) -> dict[int, str]:
    """Where each lead's first device came from: its utm_source, else its referrer."""
    devices = (Visitor.objects.filter(**_within(span, "lead")).order_by("lead_id", "-created_at")
               .values_list("lead_id", "utm_source", "referrer"))  # fmt: skip
    return {lead_id: utm_source or referrer for lead_id, utm_source, referrer in devices}


def _rungs(span: tuple[int, int]) -> dict[int, dict[str, str]]:
    """Per lead and funnel, the rung its furthest journey (most steps done) stands on."""
    furthest: dict[int, dict[str, tuple[int, str]]] = defaultdict(dict)
    journeys = Journey.objects.filter(**_within(span, "visitor__lead")).values_list(
        "visitor__lead_id", "funnel__key", "done", "current_step"
    )
    for lead_id, funnel, done, step in journeys:
        mine = furthest[lead_id]
        if funnel not in mine or len(done or []) > mine[funnel][0]:
            mine[funnel] = (len(done or []), step)
    return {lead: {f: step for f, (_, step) in by.items()} for lead, by in furthest.items()}
