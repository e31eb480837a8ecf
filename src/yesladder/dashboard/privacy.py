"""A lead's data on request: all of it as JSON (access), or none of it left (erasure).

Both walk the schema rather than a list of models, so a model added later with a foreign key to
Lead is exported and erased without anyone remembering to come back here. A walk starts at every
reverse relation of Lead and follows the rows each one owns (those deleted with it).
"""

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.admin.models import LogEntry
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from yesladder.automation.models import Bounce, Message, Suppression, email_hash
from yesladder.dashboard.models import ImportRun
from yesladder.leads.models import Lead, RateCount, Visitor
from yesladder.offers.models import Order
from yesladder.reactions import ERASED, announce
from yesladder.team import audit
from yesladder.team.audit import SYSTEM, Actor
from yesladder.tracking.models import Event

FORMAT = "yesladder.lead-export/1"


# --- the schema walk -------------------------------------------------------------------------


def reverse_relations(model: type[models.Model]) -> list[models.ForeignObjectRel]:
    """Every foreign key pointing at `model`. `_meta.related_objects` leaves out the ones
    declared with related_name="+" (ScoreChange, HookDelivery); those hold the lead's data too."""
    return [
        field
        for field in model._meta.get_fields(include_hidden=True)
        if field.auto_created and not field.concrete and (field.one_to_many or field.one_to_one)
    ]


def _rows_of(relation: models.ForeignObjectRel, parents: models.QuerySet) -> models.QuerySet:
    # A subquery, never a list of ids: a lead's events can outgrow SQLite's parameter limit.
    manager = relation.related_model._base_manager
    return manager.filter(**{f"{relation.field.name}__in": parents.values("pk")})


def _owned(model: type[models.Model], parents: models.QuerySet, path=frozenset()):
    """The (model, rows) each `parents` row owns, all the way down: charges of an order, links
    of a message, events and journeys of a visitor. A model met again on the way down (a tree of
    rows) is not followed twice."""
    for relation in reverse_relations(model):
        child = relation.related_model
        if relation.on_delete is models.CASCADE and child not in path:
            rows = _rows_of(relation, parents)
            yield child, rows
            yield from _owned(child, rows, path | {model})


def _everything(lead: Lead):
    """(model, rows) for every row that points at the lead and every row those own, then what
    is kept by the lead's address: its suppression entry, bounces, and mail sent to it."""
    this = Lead.objects.filter(pk=lead.pk)
    for relation in reverse_relations(Lead):
        rows = _rows_of(relation, this)
        yield relation.related_model, rows
        yield from _owned(relation.related_model, rows, frozenset({Lead}))
    digest = email_hash(lead.email)
    yield Suppression, Suppression.objects.filter(email_hash=digest)
    yield Bounce, Bounce.objects.filter(email_hash=digest)
    sent = Message.objects.filter(to__iexact=lead.email)
    yield Message, sent
    yield from _owned(Message, sent)


# --- export ----------------------------------------------------------------------------------


def export(lead: Lead) -> dict:
    """Everything stored about the lead, JSON-serialisable: the lead's own row, and under
    `records` the rows of each model by its label ("automation.Message"), in id order. Every
    model with a foreign key to Lead has its key, empty or not."""
    records: dict[str, dict] = {
        relation.related_model._meta.label: {} for relation in reverse_relations(Lead)
    }
    for model, rows in _everything(lead):
        found = records.setdefault(model._meta.label, {})
        for row in rows:
            found[row.pk] = _plain_row(row)  # a row reached twice (an event) is kept once
    return {
        "format": FORMAT,
        "exported_at": timezone.now().isoformat(),
        "lead": _plain_row(lead),
        "records": {label: [rows[pk] for pk in sorted(rows)] for label, rows in records.items()},
    }


def _plain_row(row: models.Model) -> dict:
    return {f.attname: _plain(f.value_from_object(row)) for f in row._meta.concrete_fields}


def _plain(value):
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


# --- erasure ---------------------------------------------------------------------------------


class ErasureRefused(Exception):
    pass


@dataclass(frozen=True)
class Erased:
    rows: int  # rows deleted, the lead's own included
    kept_orders: int  # orders kept for the accounts, no longer pointing at the person


def erase(lead: Lead, by: Actor = SYSTEM) -> Erased:
    """Delete everything stored about the lead, in one transaction, and keep only the hash of
    its address on the suppression list so it is never mailed again.

    Orders are kept for the accounts (their foreign key is PROTECT): the lead row they point at
    stays, with nothing left in it that identifies the person. Refused while an order still
    has charges to collect, which would go on charging someone nobody can name."""
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        _refuse_active_orders(lead)
        address, lead_id = lead.email, lead.pk
        _keep_only_the_hash(address)
        # Copies of the history elsewhere (the analytics store) go too; told while the rows
        # are still here to say whose they are.
        devices = Visitor.objects.select_for_update().filter(lead=lead)  # none joins meanwhile
        visitors = list(devices.values_list("pk", flat=True))
        elsewhere = Event.objects.filter(lead=lead).exclude(visitor__lead=lead)
        announce(ERASED, lead=lead, visitors=visitors,
                 events=list(elsewhere.values_list("pk", flat=True)))  # fmt: skip
        rows = _delete_history(lead) + _delete_related(lead) + _delete_traces(address)
        kept = Order.objects.filter(lead=lead).count()
        if kept:
            _anonymise(lead)
        else:
            rows += lead.delete()[0]
        # The trail keeps that it happened, by whom, with the lead's id only.
        audit.forget_lead(lead_id)
        audit.record(by, "lead.erase", f"lead {lead_id}", lead_id=lead_id,
                     after={"records_deleted": rows, "orders_kept": kept})  # fmt: skip
    return Erased(rows=rows, kept_orders=kept)


def _refuse_active_orders(lead: Lead) -> None:
    active = Order.objects.filter(lead=lead, state=Order.State.ACTIVE).first()
    if active is not None:
        raise ErasureRefused(
            f"order {active.reference} ({active.title}) still has charges to collect; "
            "refund it or let it complete before erasing this lead"
        )


def _keep_only_the_hash(address: str) -> None:
    digest = email_hash(address)
    # A bounce's detail is the mail server's words, which often quote the address.
    Bounce.objects.filter(email_hash=digest).delete()
    Suppression.objects.update_or_create(
        email_hash=digest, defaults={"reason": Suppression.Reason.ERASED, "detail": ""}
    )


def _delete_history(lead: Lead) -> int:
    """Every device's history: events (stitched or not yet), journeys, the visitors."""
    visitors = Visitor.objects.filter(lead=lead)
    events = Event.objects.filter(Q(lead=lead) | Q(visitor__in=visitors.values("pk")))
    return events.delete()[0] + visitors.delete()[0]


def _delete_related(lead: Lead) -> int:
    """Rows of every other model pointing at the lead, deleted even where the key would only
    be set to null: a row about the person is theirs. PROTECT rows stay (orders)."""
    this = Lead.objects.filter(pk=lead.pk)
    return sum(
        _rows_of(relation, this).delete()[0]
        for relation in reverse_relations(Lead)
        if relation.on_delete is not models.PROTECT
    )


def _delete_traces(address: str) -> int:
    """Where the address sits without a key to the lead: mail sent before it was a lead (or to
    a team address about it), the per-recipient email limit, the admin's change history, the
    refused rows an import lists (a duplicate names the address)."""
    return (
        ImportRun.objects.filter(bad__icontains=address).update(bad=[])
        + Message.objects.filter(to__iexact=address).delete()[0]
        + RateCount.objects.filter(key__iendswith=f":{address}").delete()[0]
        + LogEntry.objects.filter(
            Q(object_repr__icontains=address) | Q(change_message__icontains=address)
        ).delete()[0]
    )


def _anonymise(lead: Lead) -> None:
    Order.objects.filter(lead=lead).update(customer_id="", payment_method="")
    lead.email = f"erased-{lead.pk}@erased.invalid"  # unique, and no mail server takes it
    lead.profile, lead.tags, lead.user_id = {}, [], None
    lead.status, lead.confirmed_at = Lead.Status.IDENTIFIED, None
    lead.save()
