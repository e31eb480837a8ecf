"""The dashboard's lead list and one lead's timeline (the CRM view): every event of every device,
every email and what became of it, automation runs, score changes, consents, bookings, seats,
orders and payments, in the order they happened; staff only."""

import datetime as dt
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import funnel_dict, journey_with_lead
from tests.staff import member
from yesladder.automation.models import (
    Enrollment,
    Hook,
    HookDelivery,
    Link,
    Message,
    ScoreChange,
    Standing,
)
from yesladder.dashboard import services
from yesladder.leads.models import Consent, Lead, Visitor
from yesladder.offers.models import Charge, Order
from yesladder.scheduling.models import Booking, EventSession, Host, Registration, Reminder
from yesladder.tracking.models import Event

pytestmark = pytest.mark.django_db
T = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
HOSTILE = '<script>alert("x")</script>'


def at(minutes: float) -> dt.datetime:
    return T + dt.timedelta(minutes=minutes)


def stamp(row, **times) -> None:
    """Set times that the model fills itself on create (auto_now_add)."""
    type(row).objects.filter(pk=row.pk).update(**times)


@dataclass
class Built:
    lead: Lead
    phone: Visitor  # a second device, its events not stitched yet


def a_full_lead(email: str = "ada@example.com") -> Built:
    """A lead with a row of every kind the timeline shows, each at a known minute after T."""
    journey = journey_with_lead(funnel_dict(), email)
    lead, version = journey.visitor.lead, journey.version
    funnel, laptop = version.funnel, journey.visitor
    lead.profile, lead.tags = {"first_name": HOSTILE, "company": "Acme"}, ["vip"]
    lead.save()
    journey.answers, journey.outcome = {"q1": "a", "note": f"mail me at {email}"}, "high"
    journey.save()

    consent = Consent.objects.create(
        lead=lead, funnel_version=version, step_key="checklist", text="Send me the checklist",
        page_url="https://funnels.example.com/f/clean/checklist/", ip="203.0.113.9",
        user_agent="Firefox", double_optin=True, confirmed_at=at(2),
    )  # fmt: skip
    stamp(consent, given_at=at(1))
    Event.objects.create(visitor=laptop, lead=lead, name="step_viewed", step_key="guide",
                         funnel_version=version, occurred_at=at(0))  # fmt: skip
    Event.objects.create(visitor=laptop, lead=lead, name="step_completed", step_key="checklist",
                         funnel_version=version, occurred_at=at(3),
                         properties={"email": email, "fields": 1})  # fmt: skip
    phone = Visitor.objects.create(lead=lead, user_agent="Android", user_id=email)
    Event.objects.create(visitor=phone, name="page_viewed", label="Blog: pricing leaks",
                         occurred_at=at(4))  # fmt: skip

    run = Enrollment.objects.create(lead=lead, funnel=funnel, version=version,
                                    automation="nurture", started_at=at(5))  # fmt: skip
    Enrollment.objects.filter(pk=run.pk).update(
        state=Enrollment.State.EXITED, ended_at=at(40), exit_reason="exit goal 1 reached",
        updated_at=at(40), position="",
    )  # fmt: skip
    waiting = Enrollment.objects.create(lead=lead, funnel=funnel, version=version,
                                        automation="tips", started_at=at(6))  # fmt: skip
    Enrollment.objects.filter(pk=waiting.pk).update(
        state=Enrollment.State.WAITING, wake_at=at(60 * 24), position="2", updated_at=at(6.5)
    )
    ScoreChange.objects.create(lead=lead, funnel=funnel, score=3.5, at=at(7),
                               segments=["non-buyers", "low-engagement"])  # fmt: skip
    Standing.objects.create(lead=lead, funnel=funnel, score=9.5,
                            segments=["buyers", "high-engagement", "qualified"])  # fmt: skip

    sent = _message(lead, email, "tips", "Three tips", state=Message.State.SENT,
                    sent_at=at(10), opened_at=at(20), clicked_at=at(30))  # fmt: skip
    Link.objects.create(message=sent, url="https://example.com/tip-one", clicks=2,
                        first_clicked_at=at(30))  # fmt: skip
    stamp(sent, created_at=at(9))
    skipped = _message(lead, email, "case", "A case study", state=Message.State.SKIPPED,
                       last_error="the address is on the suppression list")  # fmt: skip
    stamp(skipped, created_at=at(11))
    dead = _message(lead, email, "invite", "A call?", state=Message.State.DEAD, attempts=8,
                    last_error="SMTPRecipientsRefused", claimed_at=at(12))  # fmt: skip
    stamp(dead, created_at=at(8))
    queued = _message(lead, email, "later", "Later", due_at=at(60 * 48), attempts=1,
                      last_error="Connection refused")  # fmt: skip
    stamp(queued, created_at=at(13))

    host, _ = Host.objects.get_or_create(email="ann@example.com", name="Ann")
    booking = Booking.objects.create(host=host, lead=lead, journey=journey, version=version,
                                     step_key="call", start=at(60 * 72), end=at(60 * 72 + 15),
                                     timezone="Europe/Berlin", status=Booking.Status.CANCELLED,
                                     cancelled_at=at(52))  # fmt: skip
    stamp(booking, created_at=at(50))
    Reminder.objects.create(booking=booking, before=dt.timedelta(hours=1), due_at=at(60 * 71))
    session, _ = EventSession.objects.get_or_create(funnel=funnel, step_key="call",
                                                    start=at(60 * 96), end=at(60 * 97))  # fmt: skip
    seat = Registration.objects.create(session=session, lead=lead, journey=journey,
                                       version=version, status=Registration.Status.REGISTERED,
                                       attended_at=at(60 * 96 + 5))  # fmt: skip
    stamp(seat, created_at=at(55))

    order = Order.objects.create(lead=lead, journey=journey, version=version,
                                 step_key="program", title="The program", currency="USD",
                                 total=29000, provider="test", state=Order.State.REFUNDED,
                                 customer_id="cus_ada", payment_method="pm_ada",
                                 refunded_at=at(90))  # fmt: skip
    stamp(order, created_at=at(60))
    Charge.objects.create(order=order, number=0, label="Full price", amount=29000, due_at=at(60),
                          state=Charge.State.REFUNDED, paid_at=at(61), refunded_amount=29000,
                          payment_id="pay_1")  # fmt: skip
    hook = Hook.objects.create(url="https://crm.example.com/hook", topics=["*"])
    HookDelivery.objects.create(hook=hook, lead=lead, key=f"1:{email}", topic="lead.created",
                                payload={"data": {"lead": {"email": email}}})  # fmt: skip
    return Built(lead=Lead.objects.get(pk=lead.pk), phone=phone)


def _message(lead: Lead, email: str, template: str, subject: str, **fields) -> Message:
    return Message.objects.create(
        key=f"clean:{template}:{lead.pk}", lead=lead, to=email, template=template,
        subject=subject, text=f"Hello {email}", html=f"<p>Hello {email}</p>", **fields,
    )  # fmt: skip


EXPECTED = [  # (minute, kind, title), as the timeline must list them
    (0, "event", "step viewed · guide"),
    (1, "consent", "Consent given"),
    (2, "consent", "Double opt-in confirmed"),
    (3, "event", "step completed · checklist"),
    (4, "event", "page viewed"),
    (5, "automation", "Automation started: clean / nurture"),
    (6, "automation", "Automation started: clean / tips"),
    (6.5, "automation", "Waiting: clean / tips"),
    (7, "score", "Score 3.5 in clean"),
    (10, "email", "Email sent: Three tips"),
    (11, "email", "Email not sent: A case study"),
    (12, "email", "Email failed: A call?"),
    (13, "email", "Email queued: Later"),
    (20, "email", "Opened: Three tips"),
    (30, "email", "Clicked: Three tips"),
    (40, "automation", "Left: clean / nurture"),
    (50, "booking", "Call booked for 2025-03-06 09:00 UTC"),
    (52, "booking", "Call cancelled"),
    (55, "event-seat", "Registered: clean/call at 2025-03-07 09:00 UTC"),
    (60, "order", "Order placed: The program"),
    (61, "payment", "Paid $290.00: Full price"),
    (90, "order", "Refunded: The program"),
    (60 * 96 + 5, "event-seat", "Attended: clean/call at 2025-03-07 09:00 UTC"),
]


def test_the_timeline_lists_every_kind_of_row_in_the_order_it_happened():
    built = a_full_lead()
    entries = services.timeline(built.lead)
    assert [(e.at, e.kind, e.title) for e in entries] == [(at(m), k, t) for m, k, t in EXPECTED]
    by_title = {e.title: e for e in entries}
    assert by_title["Score 3.5 in clean"].detail == "non-buyers, low-engagement"
    assert by_title["Left: clean / nurture"].detail == "exit goal 1 reached"
    assert "until 2025-03-04 09:00 UTC" in by_title["Waiting: clean / tips"].detail
    assert "https://example.com/tip-one ×2" in by_title["Clicked: Three tips"].detail
    assert "8 tries" in by_title["Email failed: A call?"].detail
    assert "Connection refused" in by_title["Email queued: Later"].detail
    assert "Blog: pricing leaks" in by_title["page viewed"].detail  # the phone's, unstitched
    assert by_title["Email sent: Three tips"].link.startswith("/admin/automation/message/")


def test_the_timeline_leaves_out_other_leads_and_keeps_the_latest_entries():
    built = a_full_lead()
    other = a_full_lead("bob@example.com").lead
    assert len(services.timeline(other)) == len(EXPECTED)
    Event.objects.bulk_create(
        Event(visitor=built.phone, name="read_progress", occurred_at=at(10_000 + i))
        for i in range(services.TIMELINE_LIMIT + 5)
    )
    entries = services.timeline(built.lead)
    assert len(entries) == services.TIMELINE_LIMIT
    assert entries[-1].at == at(10_000 + services.TIMELINE_LIMIT + 4)
    assert entries == sorted(entries, key=lambda e: e.at)


@pytest.fixture
def staff() -> Client:
    user = member("staff", "owner")
    client = Client()
    client.force_login(user)
    return client


def test_the_lead_page_shows_profile_standings_and_timeline_escaped(staff):
    built = a_full_lead()
    page = staff.get(f"/dashboard/leads/{built.lead.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert HOSTILE not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    for expected in ("Acme", "vip", "9.5", "qualified", "Clicked: Three tips", "Paid $290.00"):
        assert expected in html
    assert "default-src 'none'" in page["Content-Security-Policy"]


def test_the_lead_list_searches_by_email_segment_and_tag(staff):
    ada = a_full_lead().lead
    bob = Lead.objects.create(email="bob@example.com", tags=["cold"])
    Standing.objects.create(lead=bob, funnel=Standing.objects.get().funnel, score=1.0,
                            segments=["non-buyers", "low-engagement"])  # fmt: skip

    def found(**query) -> set[str]:
        page = staff.get("/dashboard/leads/", query)
        assert page.status_code == 200
        return {row.email for row in page.context["page"].items}

    assert found() == {ada.email, bob.email}
    assert found(q="ADA@") == {ada.email}
    assert found(segment="buyers") == {ada.email}  # "non-buyers" does not count as "buyers"
    assert found(segment="low-engagement") == {bob.email}
    assert found(tag="cold") == {bob.email}
    assert found(tag="vi") == set()  # a whole tag, not part of one
    assert found(segment="no-such-segment") == {ada.email, bob.email}  # refused, filters nothing
    html = staff.get("/dashboard/leads/").content.decode()
    assert "9.5" in html and "qualified" in html and HOSTILE not in html


def test_the_lead_list_pages(staff):
    Lead.objects.bulk_create(Lead(email=f"l{i}@example.com") for i in range(services.PAGE_SIZE + 3))
    first = staff.get("/dashboard/leads/", {"q": "example"}).context["page"]
    last = staff.get("/dashboard/leads/", {"q": "example", "page": 2}).context["page"]
    assert (first.count, first.pages, len(first.items), len(last.items)) == (53, 2, 50, 3)
    assert (
        "?q=example&amp;page=2" in staff.get("/dashboard/leads/", {"q": "example"}).content.decode()
    )


@pytest.mark.parametrize(
    "path",
    ["/dashboard/", "/dashboard/leads/", "/dashboard/leads/1/", "/dashboard/leads/1/export.json",
     "/dashboard/leads/1/erase/", "/dashboard/emails/", "/dashboard/emails/clean/tips/",
     "/dashboard/outbox/"],
)  # fmt: skip
def test_every_page_sends_strangers_and_non_staff_to_the_admin_login(path):
    lead = Lead.objects.create(email="ada@example.com")
    path = path.replace("/1/", f"/{lead.pk}/")
    member = Client()
    member.force_login(User.objects.create_user("member", password="pw-member-1234"))
    for client in (Client(), member):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=/dashboard/")


def test_an_unknown_lead_is_a_404(staff):
    assert staff.get("/dashboard/leads/999999/").status_code == 404
