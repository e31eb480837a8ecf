"""Bounces and complaints: RFC 3464 reports (fixtures below) and providers' webhooks through
django-anymail. One hard bounce or complaint, or two soft bounces in 30 days, suppress the
address (threat 15); an unsigned webhook is refused and stores nothing (threat 16)."""

import base64
import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from yesladder.automation import bounces
from yesladder.automation.models import Bounce, Suppression, email_hash

pytestmark = pytest.mark.django_db
SECRET = "postmark:Zx9-long-webhook-secret"
POSTMARK = "/webhooks/email/postmark/tracking/"


def dsn(recipient: str, action: str, status: str, diagnostic: str, report_id: str = "1") -> bytes:
    """A delivery-status notification as Postfix writes one, with the original attached."""
    return f"""\
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
To: noreply@funnels.example.com
Subject: Undelivered Mail Returned to Sender
Message-ID: <report-{report_id}@mx.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="REPORT"

--REPORT
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net. Your message could not be delivered.

--REPORT
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4Xyz{report_id}
Arrival-Date: Mon,  1 Jun 2026 10:00:00 +0000 (UTC)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; mx.receiver.example
Diagnostic-Code: smtp; {diagnostic}

--REPORT
Content-Type: message/rfc822

From: noreply@funnels.example.com
To: {recipient}
Subject: Your checklist
Message-ID: <abc@funnels.example.com>

Hello.
--REPORT--
""".replace("\n", "\r\n").encode()


HARD = dsn("Gone@Example.com", "failed", "5.1.1", "550 5.1.1 <gone@example.com>: User unknown")
SOFT = dsn("full@example.com", "failed", "4.2.2", "452 4.2.2 Mailbox full", report_id="2")
DELAY = dsn(
    "slow@example.com", "delayed", "4.4.7", "451 4.4.7 Greylisted, try later", report_id="3"
)
RELAYED = dsn("fine@example.com", "relayed", "2.0.0", "250 2.0.0 Ok", report_id="4")


# --- delivery-status reports -------------------------------------------------------------------


def test_read_dsn_tells_hard_from_soft():
    assert bounces.read_dsn(HARD) == [
        ("gone@example.com", "hard", "5.1.1 smtp; 550 5.1.1 <gone@example.com>: User unknown")
    ]
    assert bounces.read_dsn(SOFT) == [
        ("full@example.com", "soft", "4.2.2 smtp; 452 4.2.2 Mailbox full")
    ]
    assert bounces.read_dsn(DELAY)[0][:2] == ("slow@example.com", "soft")


def test_read_dsn_ignores_what_is_not_a_failure_or_not_a_report():
    assert bounces.read_dsn(RELAYED) == []
    assert bounces.read_dsn(b"From: a@example.com\r\nSubject: hi\r\n\r\nJust mail.\r\n") == []
    assert bounces.read_dsn(b"\x00\xff not even mail") == []


def test_a_report_inside_an_attached_message_is_not_read():
    forwarded = (
        b"From: someone@example.org\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="OUTER"\r\n\r\n--OUTER\r\n'
        b"Content-Type: message/rfc822\r\n\r\n" + HARD + b"\r\n--OUTER--\r\n"
    )
    assert bounces.read_dsn(forwarded) == []


def test_a_hard_bounce_suppresses_at_once():
    assert bounces.record_dsn(HARD) == [("gone@example.com", "hard", "hard_bounce")]
    row = Suppression.objects.get()
    assert row.email_hash == email_hash("gone@example.com") and row.reason == "hard_bounce"
    assert "5.1.1" in row.detail


def test_two_soft_bounces_in_30_days_suppress_and_one_does_not():
    assert bounces.record_dsn(SOFT) == [("full@example.com", "soft", None)]
    assert not Suppression.covers("full@example.com")
    again = dsn("full@example.com", "failed", "4.2.2", "452 4.2.2 Mailbox full", report_id="9")
    assert bounces.record_dsn(again) == [("full@example.com", "soft", "soft_bounces")]
    assert Suppression.objects.get().reason == "soft_bounces"


def test_a_soft_bounce_older_than_30_days_no_longer_counts():
    bounces.record_dsn(DELAY)
    Bounce.objects.update(received_at=timezone.now() - dt.timedelta(days=31))
    later = dsn("slow@example.com", "delayed", "4.4.7", "451 4.4.7 try later", report_id="8")
    assert bounces.record_dsn(later) == [("slow@example.com", "soft", None)]
    assert not Suppression.covers("slow@example.com")


def test_the_same_report_read_twice_counts_once():
    bounces.record_dsn(SOFT)
    assert bounces.record_dsn(SOFT) == [("full@example.com", "soft", None)]
    assert Bounce.objects.count() == 1 and not Suppression.covers("full@example.com")


def test_record_bounce_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown bounce kind"):
        bounces.record_bounce("a@example.com", "maybe", "x:1")


def test_the_bounce_command_reads_files_and_says_what_it_suppressed(tmp_path, capsys):
    files = []
    for name, raw in (("hard.eml", HARD), ("soft.eml", SOFT), ("delay.eml", DELAY)):
        (tmp_path / name).write_bytes(raw)
        files.append(str(tmp_path / name))
    call_command("bounce", *files)
    out = capsys.readouterr().out
    assert "gone@example.com: hard bounce, suppressed (hard_bounce)" in out
    assert "full@example.com: soft bounce, kept, not suppressed" in out
    assert "slow@example.com: soft bounce" in out
    assert Suppression.objects.count() == 1 and Bounce.objects.count() == 3


def test_the_bounce_command_names_bad_files_and_keeps_the_good_ones(tmp_path):
    (tmp_path / "hard.eml").write_bytes(HARD)
    (tmp_path / "note.eml").write_bytes(b"Subject: hello\r\n\r\nnot a report\r\n")
    names = ("note.eml", "hard.eml", "missing.eml")
    with pytest.raises(CommandError) as refused:
        call_command("bounce", *(str(tmp_path / name) for name in names))
    assert "note.eml: no failed or delayed recipient" in str(refused.value)
    assert "cannot read" in str(refused.value) and "missing.eml" in str(refused.value)
    assert Suppression.covers("gone@example.com")


# --- provider webhooks -------------------------------------------------------------------------


def auth(secret: str = SECRET) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def postmark(event: dict, **headers):
    return Client().post(POSTMARK, json.dumps(event), content_type="application/json", **headers)


def bounce(event_id: int, email: str, kind: str = "HardBounce", details: str = "550 5.1.1"):
    return {
        "RecordType": "Bounce", "Type": kind, "ID": event_id, "Email": email,
        "Details": details, "Description": "The server was unable to deliver your message",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "BouncedAt": "2026-06-01T10:00:00Z",
    }  # fmt: skip


@pytest.fixture
def secret(settings):
    settings.BOUNCE_WEBHOOK_SECRET = SECRET


def test_unsigned_or_wrongly_signed_webhooks_are_refused_and_store_nothing(secret):
    event = bounce(1, "victim@example.com")
    unsigned = postmark(event)
    assert unsigned.status_code == 401 and unsigned["WWW-Authenticate"].startswith("Basic")
    assert postmark(event, **auth("postmark:guess")).status_code == 401
    assert postmark(event, HTTP_AUTHORIZATION="Bearer " + SECRET).status_code == 401
    assert postmark(event, HTTP_AUTHORIZATION="Basic !!!").status_code == 401
    assert Bounce.objects.count() == 0 and Suppression.objects.count() == 0


def test_without_a_configured_secret_the_webhooks_are_off(settings):
    settings.BOUNCE_WEBHOOK_SECRET = ""
    response = postmark(bounce(1, "victim@example.com"), **auth())
    assert response.status_code == 403 and Bounce.objects.count() == 0


def test_an_unknown_provider_is_a_404(secret):
    assert Client().post("/webhooks/email/nope/tracking/", {}, **auth()).status_code == 404


def test_a_hard_bounce_from_the_provider_suppresses_once_however_often_it_is_retried(secret):
    for _ in range(3):
        assert postmark(bounce(42, "Gone@Example.com"), **auth()).status_code == 200
    assert list(Bounce.objects.values_list("provider_event", "kind")) == [("Postmark:42", "hard")]
    row = Suppression.objects.get()
    assert row.email_hash == email_hash("gone@example.com") and row.reason == "hard_bounce"


def test_a_complaint_suppresses(secret):
    event = {**bounce(7, "angry@example.com", kind="SpamComplaint"), "RecordType": "SpamComplaint"}
    assert postmark(event, **auth()).status_code == 200
    assert Suppression.objects.get().reason == "complaint"


def test_soft_bounces_from_the_provider_count_towards_the_limit(secret):
    # No SMTP code in the details: Postmark's own name for it says soft.
    postmark(bounce(1, "full@example.com", kind="SoftBounce", details="Mailbox full"), **auth())
    assert not Suppression.covers("full@example.com")
    postmark(bounce(2, "full@example.com", kind="Transient", details="421 try later"), **auth())
    assert list(Bounce.objects.values_list("kind", flat=True)) == ["soft", "soft"]
    assert Suppression.objects.get().reason == "soft_bounces"


def test_an_unsubscribe_at_the_provider_is_honoured(secret):
    event = {
        "RecordType": "SubscriptionChange", "Recipient": "bye@example.com", "SuppressSending": True,
        "SuppressionReason": "ManualSuppression", "ChangedAt": "2026-06-01T10:00:00Z",
    }  # fmt: skip
    assert postmark(event, **auth()).status_code == 200
    assert Suppression.objects.get().reason == "unsubscribed"


def test_a_delivery_or_open_changes_nothing(secret):
    delivered = {"RecordType": "Delivery", "Recipient": "ok@example.com", "MessageID": "m1",
                 "DeliveredAt": "2026-06-01T10:00:00Z"}  # fmt: skip
    assert postmark(delivered, **auth()).status_code == 200
    assert Bounce.objects.count() == 0 and Suppression.objects.count() == 0


def test_a_hostile_payload_is_stored_as_one_bounded_line_and_never_echoed(secret):
    script = "<script>alert(document.cookie)</script>"
    details = f"550 {script}\r\nX-Injected: yes\x00" + "A" * 5000
    response = postmark(bounce(5, "x@example.com", details=details), **auth())
    assert response.status_code == 200 and b"<script" not in response.content
    stored = Bounce.objects.get().detail
    assert len(stored) <= 500 and "\n" not in stored and "\x00" not in stored
    assert stored.startswith("550 <script>")  # kept as text; templates escape it when shown


def test_an_unreadable_payload_is_a_400_never_a_500(secret):
    for body in ("{not json", "[1, 2]", "null", '"text"'):
        response = Client().post(POSTMARK, body, content_type="application/json", **auth())
        assert response.status_code == 400, body
    assert Bounce.objects.count() == 0


def test_a_provider_needing_its_own_signing_key_says_so_instead_of_failing(secret):
    response = Client().post("/webhooks/email/mailgun/tracking/", {}, **auth())
    assert response.status_code == 503 and Bounce.objects.count() == 0
