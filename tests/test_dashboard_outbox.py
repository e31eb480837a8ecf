"""What leaves, as staff see it: email previews (hostile values escaped, the HTML only inside a
sandboxed frame), the outbox with its queue and dead letters (sent again on a POST), the CRM
webhook deliveries, and the automation models in the admin."""

import datetime as dt
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tests.conftest import funnel_dict, journey_with_lead
from yesladder.automation.models import Hook, HookDelivery, Message, Suppression
from yesladder.dashboard import services

pytestmark = pytest.mark.django_db
HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="pw-boss-1234"))
    return client


# --- email previews --------------------------------------------------------------------------


def emailing_funnel() -> dict:
    data = funnel_dict()
    data["emails"] = {
        "tips": {"subject": 'Tips for {{ first_name | "you" }}', "preheader": "Three of them",
                 "body": "Hello **{{ first_name | \"there\" }}**,\n\n[Read the first](https://example.com/one)."},
        "invite": {"subject": "A call?", "body": "[Pick a time]({{ step_link }})"},
    }  # fmt: skip
    data["automations"] = [{
        "key": "after-checklist", "when": {"did": {"step": "checklist"}},
        "do": [{"email": "tips"}, {"wait": "2d"}, {"invite": {"step": "call", "email": "invite"}}],
    }]  # fmt: skip
    return data


class Frames(HTMLParser):
    """The iframes of a page with their attributes, as a browser parses them."""

    def __init__(self, html: str):
        super().__init__()
        self.frames: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "iframe":
            self.frames.append(dict(attrs))


def test_the_emails_page_lists_each_funnel_s_current_emails(staff):
    journey_with_lead(emailing_funnel())
    page = staff.get("/dashboard/emails/")
    assert page.status_code == 200
    rows = {(t.funnel, t.key, t.sent_by) for t in page.context["templates"]}
    assert rows == {
        ("clean", "tips", ("after-checklist",)),
        ("clean", "invite", ("after-checklist",)),
    }
    assert "/dashboard/emails/clean/tips/" in page.content.decode()


def test_a_preview_with_sample_values_shows_subject_html_and_text(staff):
    journey_with_lead(emailing_funnel())
    page = staff.get("/dashboard/emails/clean/tips/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Tips for Ada" in html and "Hello **Ada**" in html  # the text part, as Markdown
    (frame,) = Frames(html).frames
    assert "sandbox" in frame and not frame["sandbox"]  # every restriction, no exception
    assert "<strong>Ada</strong>" in frame["srcdoc"]
    assert "Unsubscribe" in frame["srcdoc"] and "https://example.com/one" in frame["srcdoc"]
    assert "<strong>Ada</strong>" not in html  # the HTML exists only as the attribute's value
    assert "default-src 'none'" in page["Content-Security-Policy"]


def test_an_invitation_preview_links_to_its_step(staff):
    journey_with_lead(emailing_funnel())
    (frame,) = Frames(staff.get("/dashboard/emails/clean/invite/").content.decode()).frames
    assert 'href="http://127.0.0.1:8000/f/clean/call/"' in frame["srcdoc"]


def test_a_preview_with_a_lead_s_hostile_values_escapes_them_everywhere(staff):
    lead = journey_with_lead(emailing_funnel()).visitor.lead
    lead.profile = {"first_name": HOSTILE}
    lead.save()
    page = staff.get(f"/dashboard/emails/clean/tips/?lead={lead.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script" not in html  # not in the subject, the values, the text part or the frame
    assert "Tips for &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    (frame,) = Frames(html).frames
    # Parsed once by the browser into the frame's document: still escaped text there.
    assert '<strong>&lt;script&gt;alert("x")&lt;/script&gt;</strong>' in frame["srcdoc"]
    assert "<script" not in frame["srcdoc"]


def test_previews_of_unknown_emails_or_leads_are_404(staff):
    journey_with_lead(emailing_funnel())
    for path in ("clean/nope/", "nope/tips/", "clean/tips/?lead=999999", "clean/tips/?lead=x"):
        assert staff.get(f"/dashboard/emails/{path}").status_code == 404, path


# --- the outbox ------------------------------------------------------------------------------


def message(key: str, **fields) -> Message:
    return Message.objects.create(
        key=key, to=f"{key}@example.com", template="tips", subject=f"Subject {key}", text="t",
        html="h", **fields,
    )  # fmt: skip


def test_the_outbox_counts_states_and_lists_the_queue_and_the_dead(staff):
    soon = timezone.now() + dt.timedelta(minutes=5)
    message("waiting", due_at=soon, attempts=2, last_error="SMTPServerDisconnected: bye")
    message("sending", state=Message.State.SENDING, attempts=1)
    message("sent", state=Message.State.SENT, sent_at=timezone.now())
    message("dead", state=Message.State.DEAD, attempts=8, last_error=f"550 {HOSTILE}")
    page = staff.get("/dashboard/outbox/")
    assert page.status_code == 200
    queue = page.context["queue"]
    counts = {state: n for state, _, n in queue.counts}
    assert counts == {"queued": 1, "sending": 1, "sent": 1, "dead": 1, "skipped": 0}
    assert [i.to for i in queue.waiting.items] == ["sending@example.com", "waiting@example.com"]
    waiting = queue.waiting.items[1]
    assert (waiting.attempts, waiting.last_error) == (2, "SMTPServerDisconnected: bye")
    assert [i.to for i in queue.dead.items] == ["dead@example.com"]
    html = page.content.decode()
    assert HOSTILE not in html and "550 &lt;script&gt;" in html
    assert html.count("Send again</button>") == 1


def test_send_again_requeues_a_dead_letter_on_post_only(staff):
    dead = message("dead", state=Message.State.DEAD, attempts=8, last_error="refused")
    url = f"/dashboard/outbox/{dead.pk}/send-again/"
    assert staff.get(url).status_code == 405
    assert Client().post(url).status_code == 302  # to the login page
    dead.refresh_from_db()
    assert dead.state == Message.State.DEAD
    response = staff.post(url)
    assert response.status_code == 302 and response["Location"] == "/dashboard/outbox/#dead"
    dead.refresh_from_db()
    assert (dead.state, dead.attempts, dead.last_error) == (Message.State.QUEUED, 0, "")
    assert dead.due_at <= timezone.now()
    again = staff.post(url, follow=True)
    assert "is not a dead letter; nothing changed" in again.content.decode()


def test_a_dead_letter_sent_again_still_goes_to_nobody_suppressed(staff, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    from django.core import mail

    from yesladder.automation import bounces, outbox

    dead = message("gone", state=Message.State.DEAD, attempts=8, marketing=False)
    bounces.suppress(dead.to, Suppression.Reason.HARD_BOUNCE)
    staff.post(f"/dashboard/outbox/{dead.pk}/send-again/")
    assert outbox.send_due("test", 50) == [Message.State.SKIPPED]
    assert mail.outbox == []


def test_the_queues_page(staff):
    for i in range(services.PAGE_SIZE + 2):
        message(f"d{i}", state=Message.State.DEAD, attempts=8)
    first = staff.get("/dashboard/outbox/").context["queue"].dead
    second = staff.get("/dashboard/outbox/", {"dead": 2}).context["queue"].dead
    assert (first.count, first.pages, len(first.items), len(second.items)) == (52, 2, 50, 2)
    assert "?dead=2" in staff.get("/dashboard/outbox/").content.decode()


def test_the_crm_webhooks_tab_lists_deliveries(staff):
    hook = Hook.objects.create(url="https://crm.example.com/in", topics=["*"])
    HookDelivery.objects.create(hook=hook, key="1:a", topic="lead.created", payload={},
                                attempts=3, last_error="HTTP 503")  # fmt: skip
    HookDelivery.objects.create(hook=hook, key="1:b", topic="lead.tagged", payload={},
                                state=HookDelivery.State.DEAD, attempts=8)  # fmt: skip
    page = staff.get("/dashboard/outbox/", {"tab": "hooks"})
    queue = page.context["queue"]
    assert {state: n for state, _, n in queue.counts}["dead"] == 1
    assert [(i.what, i.to, i.last_error) for i in queue.waiting.items] == [
        ("lead.created", "https://crm.example.com/in", "HTTP 503")
    ]
    assert [i.what for i in queue.dead.items] == ["lead.tagged"]
    assert "Send again</button>" not in page.content.decode()


# --- the admin -------------------------------------------------------------------------------


def test_the_admin_sends_dead_letters_again_and_leaves_the_rest(staff):
    dead = message("dead", state=Message.State.DEAD, attempts=8)
    sent = message("sent", state=Message.State.SENT, attempts=1)
    response = staff.post("/admin/automation/message/", {
        "action": "send_again", "_selected_action": [dead.pk, sent.pk],
    }, follow=True)  # fmt: skip
    assert response.status_code == 200
    assert "1 dead letter(s) queued again" in response.content.decode()
    dead.refresh_from_db()
    sent.refresh_from_db()
    assert (dead.state, sent.state) == (Message.State.QUEUED, Message.State.SENT)


def test_the_admin_shows_every_automation_model_read_only(staff):
    lead = journey_with_lead(emailing_funnel()).visitor.lead
    sent = message("sent", state=Message.State.SENT, lead=lead)
    Suppression.objects.create(email_hash="0" * 64, reason="manual")
    for path in ("message", "suppression", "hook", "hookdelivery", "enrollment", "standing"):
        assert staff.get(f"/admin/automation/{path}/").status_code == 200, path
    assert staff.get("/admin/automation/message/?state__exact=dead").status_code == 200
    change = staff.get(f"/admin/automation/message/{sent.pk}/change/").content.decode()
    assert sent.token not in change and sent.pixel_token not in change
    assert staff.get("/admin/automation/message/add/").status_code == 403
    assert staff.get("/admin/automation/suppression/add/").status_code == 403
