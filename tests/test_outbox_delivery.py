"""The outbox on its own: one row per decision, retries with exponential backoff when the mail
server refuses, a dead letter after the last try, a claim that only one worker wins, stale
claims recovered, and reminders of calls sent through it."""

import datetime as dt

import pytest
from django.utils import timezone

from yesladder.automation import engine, outbox
from yesladder.automation.models import Message
from yesladder.automation.worker import Loop
from yesladder.leads.models import Lead

pytestmark = pytest.mark.django_db(transaction=True)


def draft(n: int = 1, marketing: bool = False) -> outbox.Draft:
    return outbox.Draft(key=f"test:{n}", to=f"lead{n}@example.com", subject=f"Hello {n}",
                        text="Hi.", html="<p>Hi.</p>", template="hello",
                        marketing=marketing)  # fmt: skip


def refuse(smtp, times: int):
    """Make the test server answer 451 (try again later) to the next `times` messages; returns
    a function that makes it accept again."""
    accept, left = smtp.handle_DATA, [times]

    async def handle_DATA(server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if left[0] > 0:
            left[0] -= 1
            return "451 4.3.0 try again later"
        return await accept(server, session, envelope)

    smtp.handle_DATA = handle_DATA
    outbox._close_connection()  # a kept connection would still use the old hook

    def restore():
        smtp.handle_DATA = accept
        outbox._close_connection()

    return restore


def test_one_row_per_decision_and_sent_once(smtp):
    first = outbox.enqueue(draft())
    again = outbox.enqueue(draft())
    assert first.pk == again.pk and Message.objects.count() == 1
    Loop().until_idle()
    Loop().until_idle()
    assert len(smtp.wait_for(1)) == 1
    first.refresh_from_db()
    assert first.state == Message.State.SENT and first.sent_at and first.attempts == 1
    assert smtp.messages[0]["Message-ID"] == first.header_id
    assert smtp.messages[0]["Auto-Submitted"] == "auto-generated"  # transactional


def test_refusals_back_off_exponentially_then_go_to_the_dead_letters(smtp, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    accept_again = refuse(smtp, 10)
    message = outbox.enqueue(draft())
    delays, states = [], []
    for _ in range(3):
        before = timezone.now()
        Message.objects.filter(pk=message.pk).update(due_at=before)  # as if the wait was over
        states += outbox.send_due("test", 50)
        message.refresh_from_db()
        delays.append((message.due_at - before).total_seconds())
    assert states == [Message.State.QUEUED, Message.State.QUEUED, Message.State.DEAD]
    assert message.state == Message.State.DEAD and message.attempts == 3
    assert "451" in message.last_error
    base = settings.OUTBOX_RETRY_SECONDS
    # Measured from before the send: up to a second of it may be the send itself.
    assert base <= delays[0] <= base * 1.1 + 1 and 2 * base <= delays[1] <= 2 * base * 1.1 + 1
    assert smtp.messages == []

    accept_again()  # staff fixed the server
    outbox.retry_dead(message)
    Loop().until_idle()
    message.refresh_from_db()
    assert message.state == Message.State.SENT and len(smtp.messages) == 1


def test_only_one_worker_wins_a_claim(smtp):
    for n in range(5):
        outbox.enqueue(draft(n))
    first = outbox.claim_due("worker-a", limit=3)
    second = outbox.claim_due("worker-b", limit=3)
    assert outbox.claim_due("worker-c", limit=3) == []
    assert {m.pk for m in first}.isdisjoint(m.pk for m in second)
    assert [len(first), len(second)] == [3, 2]
    assert (
        sorted(Message.objects.values_list("claimed_by", flat=True))
        == ["worker-a"] * 3 + ["worker-b"] * 2
    )
    assert Message.objects.filter(state=Message.State.SENDING).count() == 5


def test_the_oldest_due_leave_first_and_the_future_waits(smtp):
    later = outbox.enqueue(draft(1), due_at=timezone.now() + dt.timedelta(hours=1))
    now = outbox.enqueue(draft(2))
    earlier = outbox.enqueue(draft(3), due_at=timezone.now() - dt.timedelta(minutes=1))
    assert [m.pk for m in outbox.claim_due("test", limit=5)] == [earlier.pk, now.pk]
    later.refresh_from_db()
    assert later.state == Message.State.QUEUED


def test_a_backlog_larger_than_one_claim_is_sent_once_each(smtp):
    for n in range(60):
        outbox.enqueue(draft(n))
    assert Loop().until_idle() == 60
    assert len(smtp.wait_for(60)) == 60
    assert Message.objects.filter(state=Message.State.SENT, attempts=1).count() == 60


def test_a_dead_workers_claim_comes_back_after_the_lease(smtp, settings):
    message = outbox.enqueue(draft())
    long_ago = timezone.now() - dt.timedelta(seconds=settings.OUTBOX_LEASE_SECONDS + 1)
    Message.objects.filter(pk=message.pk).update(
        state=Message.State.SENDING, claimed_at=long_ago, claimed_by="killed"
    )
    assert outbox.recover_stale() == 1
    Loop().until_idle()
    message.refresh_from_db()
    assert message.state == Message.State.SENT and len(smtp.messages) == 1


def test_a_fresh_claim_is_left_alone(settings):
    message = outbox.enqueue(draft())
    Message.objects.filter(pk=message.pk).update(
        state=Message.State.SENDING, claimed_at=timezone.now(), claimed_by="busy"
    )
    assert outbox.recover_stale() == 0


def test_marketing_mail_without_consent_is_recorded_as_skipped(smtp):
    Lead.objects.create(email="lead1@example.com", status=Lead.Status.PENDING)
    message = outbox.enqueue(draft(marketing=True), lead=Lead.objects.get())
    assert message.state == Message.State.SKIPPED and "consent" in message.last_error
    Loop().until_idle()
    assert smtp.messages == []


def test_a_booked_call_gets_its_reminder_once(smtp):
    from tests.conftest import funnel_dict, journey_with_lead
    from yesladder.scheduling.models import Booking, Host, Reminder

    journey = journey_with_lead(funnel_dict())
    lead = journey.visitor.lead
    start = timezone.now() + dt.timedelta(hours=2)
    booking = Booking.objects.create(
        host=Host.objects.create(name="Ann", email="ann@example.com"), lead=lead,
        journey=journey, version=journey.version, step_key="call", start=start,
        end=start + dt.timedelta(minutes=15), timezone="Europe/Berlin",
    )  # fmt: skip
    Reminder.objects.create(booking=booking, before=dt.timedelta(hours=2), due_at=timezone.now())
    engine.tick()
    engine.tick()
    Loop().until_idle()
    (reminder,) = smtp.wait_for(1)
    assert reminder["Subject"] == "Reminder: Call starts in 2 hours"
    assert "/b/" in reminder.get_body(preferencelist=("plain",)).get_content()
    assert reminder["List-Unsubscribe"] is None  # transactional


def test_a_server_that_keeps_refusing_gets_the_rest_of_the_batch_back_untried(smtp):
    refuse(smtp, 10)
    for n in range(5):
        outbox.enqueue(draft(n))
    assert outbox.send_due("test", 50) == [Message.State.QUEUED] * 2  # then it stopped
    untried = Message.objects.filter(attempts=0)
    assert untried.count() == 3
    assert set(untried.values_list("state", "claimed_by")) == {(Message.State.QUEUED, "")}
