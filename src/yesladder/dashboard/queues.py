"""The outbox and the CRM webhook deliveries as the operator watches them: how many are in each
state, what is waiting (with its due time, tries and last error), and the dead letters."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count

from yesladder.automation import outbox
from yesladder.automation.models import HookDelivery, Message
from yesladder.dashboard.services import Page, paged

WAITING = (Message.State.QUEUED, Message.State.SENDING)
_MESSAGE_FIELDS = ("id", "state", "template", "to", "subject", "due_at", "attempts",
                   "last_error", "lead_id")  # fmt: skip


@dataclass(frozen=True)
class Item:
    """One message or one webhook delivery."""

    id: int
    state: str
    what: str  # the template, or the webhook's topic
    to: str  # the address, or the hook's URL
    subject: str
    due_at: dt.datetime
    attempts: int
    last_error: str
    lead_id: int | None


@dataclass(frozen=True)
class Queue:
    counts: tuple[tuple[str, str, int], ...]  # (state, meaning, how many), zeros included
    waiting: Page  # of Items
    dead: Page


def messages(waiting_page: object = 1, dead_page: object = 1) -> Queue:
    rows = Message.objects.only(*_MESSAGE_FIELDS)
    return Queue(
        counts=_counts(Message),
        waiting=paged(rows.filter(state__in=WAITING).order_by("due_at", "pk"), waiting_page, _item),
        dead=paged(rows.filter(state=Message.State.DEAD).order_by("-pk"), dead_page, _item),
    )


def deliveries(waiting_page: object = 1, dead_page: object = 1) -> Queue:
    rows = HookDelivery.objects.select_related("hook").defer("payload")
    waiting = rows.filter(state__in=WAITING).order_by("due_at", "pk")
    return Queue(
        counts=_counts(HookDelivery),
        waiting=paged(waiting, waiting_page, _item),
        dead=paged(rows.filter(state=HookDelivery.State.DEAD).order_by("-pk"), dead_page, _item),
    )


def _counts(model) -> tuple[tuple[str, str, int], ...]:
    found = dict(model.objects.values_list("state").annotate(n=Count("pk")).order_by())
    return tuple((value, label, found.get(value, 0)) for value, label in model.State.choices)


def _item(row: Message | HookDelivery) -> Item:
    if isinstance(row, HookDelivery):
        what, to, subject = row.topic, row.hook.url, ""
    else:
        what, to, subject = row.template, row.to, row.subject
    return Item(row.pk, row.state, what, to, subject, row.due_at, row.attempts, row.last_error,
                row.lead_id)  # fmt: skip


def send_again(message_id: int) -> bool:
    """Queue a dead letter for a fresh set of tries; False when it is not a dead letter (sent
    again already, or never dead)."""
    message = Message.objects.filter(pk=message_id, state=Message.State.DEAD).first()
    if message is None:
        return False
    outbox.retry_dead(message)
    return True
