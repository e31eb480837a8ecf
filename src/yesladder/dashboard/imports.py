"""Lead lists in, from a CSV file.

The file is read whole before anything is stored: one that cannot be read (not UTF-8, not CSV,
no email column, a cell of megabytes) is refused whole, with the reason. Each row is then
checked; the dry run lists every bad row and why (an invalid email, a cell without a column, a
duplicate in the file). The import stores the good rows (the terminal's in one transaction,
the browser's in chunks by the worker: dashboard.importruns) and reports the refused ones:
idempotent by email (a second run updates the same leads, never duplicates them), a suppressed
address stays suppressed, and the list's consent basis is recorded on each lead with the
file's name and the importer. Without a basis, new leads are `identified`: on the list, never
sent marketing email."""

import csv
import io
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from yesladder.analytics.render import FORMULA_STARTS
from yesladder.automation.models import Suppression, email_hash
from yesladder.dashboard.exports import COLUMNS as EXPORTED
from yesladder.leads.models import Consent, Lead
from yesladder.leads.services import MAX_PROFILE_VALUE, InvalidEmail, normalise_email
from yesladder.team import audit
from yesladder.team.audit import Actor

MAX_BYTES = 50 * 1024 * 1024
MAX_TAG = 64
MAX_CONSENT = 500
CHUNK = 500
EMAIL, TAGS, FIELDS, IGNORE, PROFILE = "email", "tags", "fields", "ignore", "profile:"
EMAIL_NAMES = {"email", "e_mail", "email_address", "mail"}
# Columns of our own export that describe a lead rather than say something to import.
NOT_IMPORTED = set(EXPORTED) - {"email", "first_name", "last_name", "tags", "fields"}


STAGED_HOURS = 24
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")


class Refused(ValueError):
    """The whole file is refused: nothing was stored."""


# The dashboard's dry run and import are two requests: the file waits between them in the data
# directory under a random name (never the name it came with), and goes when it is imported.


def stage(data: bytes) -> str:
    folder = staging()
    old = time.time() - STAGED_HOURS * 3600
    for forgotten in folder.glob("*.csv"):
        if forgotten.stat().st_mtime < old:
            forgotten.unlink(missing_ok=True)
    token = secrets.token_urlsafe(16)
    (folder / f"{token}.csv").write_bytes(data)
    return token


def staged(token: str) -> bytes:
    path = staging() / f"{token}.csv"
    if not TOKEN.fullmatch(token) or not path.is_file():
        raise Refused("the file of that dry run is gone (imported, or older than a day); "
                      "upload it again")  # fmt: skip
    return path.read_bytes()


def unstage(token: str) -> None:
    if TOKEN.fullmatch(token):
        (staging() / f"{token}.csv").unlink(missing_ok=True)


def staging():
    folder = settings.HOME / "imports"
    folder.mkdir(exist_ok=True)
    return folder


@dataclass(frozen=True)
class Sheet:
    name: str
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]  # (line, cells) after the header


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    profile: dict
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """What importing the sheet with a mapping would do: the dry run."""

    name: str
    good: tuple[Row, ...]
    bad: tuple[tuple[int, str], ...]  # (line, reason)
    ignored: tuple[str, ...]  # columns not imported
    new: int
    updated: int
    suppressed: int  # of the good rows: on the suppression list, where they stay


@dataclass(frozen=True)
class Imported:
    created: int
    updated: int
    refused: int
    consents: int
    suppressed: int
    bad: tuple[tuple[int, str], ...] = field(default=())


def read(data: bytes, name: str) -> Sheet:
    if len(data) > MAX_BYTES:
        raise Refused(f"{name}: larger than {MAX_BYTES // 2**20} MB; split the list")
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError as wrong:
        raise Refused(
            f"{name}: not UTF-8 text (byte {wrong.start + 1}); save it as "
            "“CSV UTF-8” and import it again"
        ) from None
    first = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for cells in reader:
            rows.append((reader.line_num, tuple(_unescaped(c) for c in cells)))
    except csv.Error as broken:
        raise Refused(f"{name}: line {reader.line_num}: {broken}; is this a CSV file?") from None
    rows = [(line, cells) for line, cells in rows if any(c.strip() for c in cells)]
    if not rows:
        raise Refused(f"{name}: the file is empty")
    (_, header), *rest = rows
    return Sheet(name, tuple(h.strip() for h in header), tuple(rest))


def _unescaped(cell: str) -> str:
    """A cell our own export kept from running as a formula ('=...) reads back as written."""
    if cell[:1] == "'" and cell[1:2] and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def guess(header: tuple[str, ...]) -> list[str]:
    """Where each column goes unless the person says otherwise: the email, the tags, a profile
    field of the column's name, or nowhere."""
    return [_guessed(_key(name)) for name in header]


def _guessed(key: str) -> str:
    if key in EMAIL_NAMES:
        return EMAIL
    if key in ("tags", "tag"):
        return TAGS
    if key == FIELDS:  # our export's other profile fields, "company=Acme; phone=..."
        return FIELDS
    if not key or key in NOT_IMPORTED:
        return IGNORE
    return PROFILE + key


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")[:64]


def targets(header: tuple[str, ...]) -> list[str]:
    """What a column can be mapped to: the email, tags, nowhere, or a profile field (those the
    columns are named after)."""
    fields = dict.fromkeys(PROFILE + k for k in map(_key, header) if k)
    return [EMAIL, TAGS, FIELDS, IGNORE, *fields]


def plan(sheet: Sheet, mapping: list[str]) -> Plan:
    if len(mapping) != len(sheet.header) or not set(mapping) <= set(targets(sheet.header)):
        raise Refused(
            "mapping: one choice per column, each an email, tags, a profile field "
            "named after a column, or ignore"
        )
    if mapping.count(EMAIL) != 1:
        raise Refused(
            f"{sheet.name}: no email column: name one column “email”, or map exactly "
            "one column to the email"
        )
    good, bad, seen = [], [], {}
    for line, cells in sheet.rows:
        row = _row(line, cells, mapping)
        if isinstance(row, str):
            bad.append((line, row))
        elif row.email in seen:
            bad.append((line, f"duplicate in the file: {row.email} is on line {seen[row.email]}"))
        else:
            seen[row.email] = line
            good.append(row)
    emails = [row.email for row in good]
    known = sum(Lead.objects.filter(email__in=chunk).count() for chunk in _chunks(emails))
    suppressed = sum(
        Suppression.objects.filter(email_hash__in=[email_hash(e) for e in chunk]).count()
        for chunk in _chunks(emails)
    )
    ignored = tuple(
        h for h, target in zip(sheet.header, mapping, strict=True) if target == IGNORE and h
    )
    return Plan(sheet.name, tuple(good), tuple(bad), ignored, len(good) - known, known, suppressed)


def _row(line: int, cells: tuple[str, ...], mapping: list[str]) -> Row | str:
    if len(cells) > len(mapping):
        return f"unknown column: {len(cells)} cells, and the header names {len(mapping)} columns"
    given = dict(zip(mapping, cells, strict=False))
    raw = given.get(EMAIL, "").strip()
    try:
        email = normalise_email(raw)
    except InvalidEmail:
        return f"invalid email: {raw!r}" if raw else "no email"
    pairs = [(target.removeprefix(PROFILE), value) for target, value in zip(mapping, cells,
             strict=False) if target.startswith(PROFILE)]  # fmt: skip
    for pair in re.split(r";\s*", given.get(FIELDS, "")):
        key, _, value = pair.partition("=")
        if _key(key):
            pairs.append((_key(key), value))
    profile = {}
    for key, value in pairs:
        if len(value) > MAX_PROFILE_VALUE:
            return f"{key}: longer than {MAX_PROFILE_VALUE} characters"
        if value.strip():
            profile[key] = value.strip()
    tags = tuple(t.strip()[:MAX_TAG] for t in re.split(r"[;,]", given.get(TAGS, "")) if t.strip())
    return Row(line, email, profile, tags)


def _chunks(items: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run(
    done: Plan, consent: str, tag: str, by: Actor, progress: Callable[[int], None] = lambda n: None
) -> Imported:
    """Store the plan's good rows, all or none (one transaction: the terminal's import);
    `progress` hears how many rows each chunk stored. The browser's import stores the same
    chunks, one transaction each, in the worker (dashboard.importruns)."""
    consent, tag = cleaned(consent, tag)
    created = updated = consents = 0
    now = timezone.now()
    with transaction.atomic():
        for rows in _chunks(list(done.good)):
            made, changed, given = store(rows, consent, tag, done.name, by, now)
            created, updated, consents = created + made, updated + changed, consents + given
            progress(len(rows))
        result = Imported(created, updated, len(done.bad), consents, done.suppressed, done.bad)
        record(by, done.name, result, consent, tag)
    return result


def cleaned(consent: str, tag: str) -> tuple[str, str]:
    return consent.strip()[:MAX_CONSENT], tag.strip()[:MAX_TAG]


def store(rows, consent: str, tag: str, name: str, by: Actor, now) -> tuple[int, int, int]:
    """One chunk of good rows stored: (leads created, leads updated, consents recorded)."""
    made, changed, leads = _leads(rows, consent, tag, now)
    return made, changed, _consents(leads, consent, name, by) if consent else 0


def record(by: Actor, name: str, done: Imported, consent: str, tag: str, **more) -> None:
    """The import in the audit trail: the file, the counts, the basis, the tag."""
    audit.record(
        by,
        "leads.import",
        f"file {name}"[:200],
        after={
            "created": done.created,
            "updated": done.updated,
            "refused": done.refused,
            "consent": consent or "(none: no marketing email)",
            "tag": tag,
            **more,
        },
    )


def _leads(rows: list[Row], consent: str, tag: str, now) -> tuple[int, int, list[Lead]]:
    existing = {lead.email: lead for lead in Lead.objects.filter(email__in=[r.email for r in rows])}
    new, changed = [], []
    for row in rows:
        tags = [*row.tags, *([tag] if tag else [])]
        lead = existing.get(row.email)
        if lead is None:
            status = Lead.Status.CONFIRMED if consent else Lead.Status.IDENTIFIED
            new.append(
                Lead(
                    email=row.email,
                    profile=row.profile,
                    tags=list(dict.fromkeys(tags)),
                    status=status,
                    confirmed_at=now if consent else None,
                )
            )
            continue
        before = (dict(lead.profile), list(lead.tags), lead.status)
        lead.profile = {**lead.profile, **row.profile}
        lead.tags = list(dict.fromkeys([*lead.tags, *tags]))
        if consent and lead.status == Lead.Status.IDENTIFIED:
            lead.status, lead.confirmed_at = Lead.Status.CONFIRMED, lead.confirmed_at or now
        if (lead.profile, lead.tags, lead.status) != before:
            changed.append(lead)
    Lead.objects.bulk_create(new)
    Lead.objects.bulk_update(changed, ["profile", "tags", "status", "confirmed_at"])
    return len(new), len(changed), [*new, *existing.values()]


def _consents(leads: list[Lead], consent: str, name: str, by: Actor) -> int:
    """The basis on each lead, once per file and basis: importing the file again adds none."""
    had = set(
        Consent.objects.filter(lead__in=leads, text=consent, imported_from=name[:255]).values_list(
            "lead_id", flat=True
        )
    )
    given = [
        Consent(lead=lead, text=consent, page_url="", imported_from=name[:255], imported_by=by.name)
        for lead in leads
        if lead.pk not in had
    ]
    Consent.objects.bulk_create(given)
    return len(given)
