"""The list: filters, a streamed formula-safe CSV export, a CSV import with its consent basis
(dry run first, each bad row with its reason; idempotent by email; suppressed stays suppressed),
changes by hand (tags, unsubscribe, suppress, the confirmation again, automations), the same
from the terminal, and who may do which."""

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client

from tests.conftest import funnel_dict, journey_with_lead
from tests.staff import member
from yesladder.automation.models import Enrollment, Standing, Suppression, email_hash
from yesladder.dashboard import exports, importruns, imports
from yesladder.dashboard.services import LeadSearch, matching
from yesladder.leads.models import Consent, Lead, Visitor
from yesladder.team.audit import Actor
from yesladder.team.models import AuditEntry

pytestmark = pytest.mark.django_db

T = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
HOSTILE = "<script>alert(1)</script>"


def signed_in(username: str, role: str) -> Client:
    client = Client()
    client.force_login(member(username, role))
    return client


def csv_bytes(rows: list[list[str]], line_end: str = "\n", bom: bool = False) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=line_end).writerows(rows)
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode()


def upload(client: Client, data: bytes, name: str = "list.csv", **fields):
    file = io.BytesIO(data)
    file.name = name
    return client.post("/dashboard/leads/import/", {"file": file, **fields})


def thousand_rows_three_bad() -> bytes:
    rows = [["Email", "First name", "Company", "Tags"]]
    rows += [[f"person{i}@example.com", f"P{i}", "=HYPERLINK(1)" if i == 5 else "Acme", "vip"]
             for i in range(997)]  # fmt: skip
    rows.insert(101, ["not-an-email", "X", "Acme", ""])
    rows.insert(501, ["person7@example.com", "Again", "Acme", ""])  # a duplicate of line 9
    rows.insert(901, ["extra@example.com", "X", "Acme", "", "a cell without a column"])
    return csv_bytes(rows, line_end="\r\n", bom=True)


# --- filters ---------------------------------------------------------------------------------


@pytest.fixture
def people():
    with time_machine.travel(T, tick=False):
        ada = journey_with_lead(funnel_dict(), "ada@example.com").visitor.lead
    with time_machine.travel(T + dt.timedelta(days=10), tick=False):
        bob = Lead.objects.create(email="bob@example.com", status=Lead.Status.PENDING,
                                  tags=["vip-2024"])  # fmt: skip
    Visitor.objects.create(lead=bob, utm_source="solo-ads")
    Standing.objects.create(lead=ada, funnel=ada.visitors.first().journeys.first().funnel,
                            score=12.0, segments=["buyers"])  # fmt: skip
    ada.tags = ["vip"]
    ada.save()
    return ada, bob


@pytest.mark.parametrize(
    ("search", "found"),
    [
        (LeadSearch(), {"ada", "bob"}),
        (LeadSearch(funnel="clean"), {"ada"}),
        (LeadSearch(segment="buyers"), {"ada"}),
        (LeadSearch(segment="non-buyers"), set()),
        (LeadSearch(tag="vip"), {"ada"}),
        (LeadSearch(score_min=10, score_max=20), {"ada"}),
        (LeadSearch(score_min=13), set()),
        (LeadSearch(status="pending"), {"bob"}),
        (LeadSearch(source="solo-ads"), {"bob"}),
        (LeadSearch(since=dt.date(2025, 3, 10)), {"bob"}),
        (LeadSearch(until=dt.date(2025, 3, 3)), {"ada"}),
        (LeadSearch(text="BOB"), {"bob"}),
    ],
)  # fmt: skip
def test_the_list_filters(people, search, found):
    assert {lead.email.split("@")[0] for lead in matching(search)} == found


def test_the_filters_come_from_the_query_string_and_bad_ones_say_why(people):
    page = signed_in("vera", "viewer").get("/dashboard/leads/?score_min=x&funnel=clean")
    html = page.content.decode()
    assert page.status_code == 200 and "ada@example.com" in html and "bob@" not in html
    assert "Enter a number." in html


# --- export ----------------------------------------------------------------------------------


def test_the_export_streams_every_matching_lead_formula_safe(people, monkeypatch):
    ada, bob = people
    ada.profile = {"first_name": "=cmd|' /C calc'!A0", "company": HOSTILE}
    ada.save()
    Suppression.objects.create(email_hash=email_hash(bob.email), reason="unsubscribed")
    Consent.objects.create(lead=ada, text="Send me the checklist", page_url="https://x/",
                           ip="203.0.113.9")  # fmt: skip
    monkeypatch.setattr(exports, "CHUNK", 1)  # one lead a query: nothing waits for the rest
    response = signed_in("ed", "editor").get("/dashboard/leads/export.csv")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert 'filename="leads-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["email"] for r in rows] == ["ada@example.com", "bob@example.com"]
    first = rows[0]
    assert first["first_name"] == "'=cmd|' /C calc'!A0"  # kept as text (threat 25)
    assert first["fields"] == f"company={HOSTILE}"
    assert first["furthest_rungs"] == "clean: guide" and first["scores"] == "clean: 12"
    assert first["segments"] == "clean: buyers" and first["tags"] == "vip"
    assert (first["consent_basis"], first["consent_ip"]) == ("Send me the checklist",
                                                              "203.0.113.9")  # fmt: skip
    assert rows[1]["suppressed"] == "unsubscribed" and rows[1]["first_source"] == "solo-ads"
    assert AuditEntry.objects.filter(action="leads.export").count() == 1


def test_the_export_keeps_the_list_s_filters(people):
    response = signed_in("ed", "editor").get("/dashboard/leads/export.csv?tag=vip")
    body = b"".join(response.streaming_content).decode()
    assert "ada@example.com" in body and "bob@" not in body


# --- import ----------------------------------------------------------------------------------


def test_import_a_thousand_rows_three_bad_dry_run_first(db):
    owner = signed_in("olga", "owner")
    Suppression.objects.create(email_hash=email_hash("person3@example.com"), reason="complaint")
    dry = upload(owner, thousand_rows_three_bad(), consent="Signed up at the fair, 2025")
    html = dry.content.decode()
    assert dry.status_code == 200 and not Lead.objects.exists()
    assert "<strong>997</strong> to import" in html and "<strong>3</strong> refused" in html
    assert "<strong>1</strong> suppressed" in html
    for reason in ("invalid email: &#x27;not-an-email&#x27;",
                   "duplicate in the file: person7@example.com is on line 9",
                   "unknown column: 5 cells"):  # fmt: skip
        assert reason in html
    token = dry.context["run"]["token"].value()
    form = {"token": token, "name": "list.csv", "consent": "Signed up at the fair, 2025",
            "tag": "fair", "step": "import",
            **{f"col{i}": m for i, m in enumerate(imports.guess(("Email", "First name",
                                                                 "Company", "Tags")))}}  # fmt: skip
    started = owner.post("/dashboard/leads/import/", form)
    assert started.status_code == 302 and not Lead.objects.exists()  # the worker imports it
    assert importruns.work(seconds=60) == 997
    done = owner.get(started["Location"])
    assert done.status_code == 200 and "<strong>997</strong> new" in done.content.decode()
    assert Lead.objects.count() == 997
    five = Lead.objects.get(email="person5@example.com")
    assert five.profile == {"first_name": "P5", "company": "=HYPERLINK(1)"}
    assert five.tags == ["vip", "fair"] and five.status == "confirmed"
    consent = five.consents.get()
    assert (consent.text, consent.imported_from, consent.imported_by) == (
        "Signed up at the fair, 2025",
        "list.csv",
        "olga",
    )
    assert Suppression.covers("person3@example.com")  # stays suppressed
    entry = AuditEntry.objects.get(action="leads.import")
    assert entry.after["created"] == 997 and entry.after["refused"] == 3
    # The staged file is gone; the same file again updates and duplicates nothing.
    assert owner.post("/dashboard/leads/import/", form).status_code == 400
    again = imports.plan(imports.read(thousand_rows_three_bad(), "list.csv"),
                         imports.guess(("Email", "First name", "Company", "Tags")))  # fmt: skip
    result = imports.run(again, "Signed up at the fair, 2025", "fair", Actor("olga"))
    assert (result.created, result.updated, result.consents) == (0, 0, 0)
    assert Lead.objects.count() == 997 and Consent.objects.count() == 997


def test_an_export_reads_back_in(people):
    ada, _ = people
    ada.profile = {"first_name": "+Ada", "company": "Acme"}
    ada.save()
    exported = "".join(exports.lines(LeadSearch())).encode()
    Lead.objects.all().delete()
    sheet = imports.read(exported, "leads.csv")
    plan = imports.plan(sheet, imports.guess(sheet.header))
    assert set(plan.ignored) >= {"created_at", "scores", "suppressed"} and not plan.bad
    imports.run(plan, "", "", Actor("olga"))
    back = Lead.objects.get(email="ada@example.com")
    assert back.profile == {"first_name": "+Ada", "company": "Acme"}  # the formula guard undone
    assert back.tags == ["vip"] and back.status == "identified"  # no basis: no marketing


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("email\nada@example.com\n".encode("utf-16"), "not UTF-8 text"),
        ("e-mail;naam\nadä@example.com;Ä\n".encode("latin-1"), "not UTF-8 text"),
        (b"name,company\nAda,Acme\n", "no email column"),
        (b"email\n" + b"x" * (10 * 2**20), "field larger than field limit"),
        (b"", "The submitted file is empty"),
        (b"\n\n", "the file is empty"),
    ],
)  # fmt: skip
def test_a_file_that_cannot_be_read_is_refused_whole(db, data, reason):
    response = upload(signed_in("olga", "owner"), data)
    assert response.status_code == 400 and reason in response.content.decode()
    assert not Lead.objects.exists()


def test_semicolons_windows_line_ends_and_a_bom_are_read(db):
    data = "\ufeffE-mail;Vorname\r\nada@example.com;Ada\r\n".encode()
    sheet = imports.read(data, "de.csv")
    plan = imports.plan(sheet, imports.guess(sheet.header))
    assert [(r.email, r.profile) for r in plan.good] == [("ada@example.com", {"vorname": "Ada"})]


def test_who_may_import_and_export(people):
    viewer, editor = signed_in("vera", "viewer"), signed_in("ed", "editor")
    assert viewer.get("/dashboard/leads/export.csv").status_code == 403
    assert viewer.get("/dashboard/leads/import/").status_code == 403
    assert upload(viewer, csv_bytes([["email"], ["eve@example.com"]])).status_code == 403
    assert upload(editor, csv_bytes([["email"], ["eve@example.com"]])).status_code == 403
    assert not Lead.objects.filter(email="eve@example.com").exists()
    page = viewer.get("/dashboard/leads/").content.decode()
    assert "Export these as CSV" not in page and "Import a CSV" not in page


def test_the_terminal_exports_and_imports(people, tmp_path):
    out = io.StringIO()
    call_command("leads", "export", "--tag", "vip", stdout=out)
    assert out.getvalue().splitlines()[0].startswith("email,first_name")
    assert "ada@example.com" in out.getvalue() and "bob@" not in out.getvalue()
    file = tmp_path / "list.csv"
    file.write_bytes(csv_bytes([["email", "tags"], ["cy@example.com", "a;b"], ["nope", ""]]))
    out, err = io.StringIO(), io.StringIO()
    call_command("leads", "import", str(file), "--consent", "Webinar sign-up", "--dry-run",
                 stdout=out, stderr=err)  # fmt: skip
    assert "dry run: 1 rows to import" in out.getvalue() and "list.csv:3: invalid email" in (
        err.getvalue())  # fmt: skip
    assert not Lead.objects.filter(email="cy@example.com").exists()
    call_command("leads", "import", str(file), "--consent", "Webinar sign-up", "--tag", "web",
                 stdout=out, stderr=io.StringIO())  # fmt: skip
    cy = Lead.objects.get(email="cy@example.com")
    assert cy.tags == ["a", "b", "web"] and cy.consents.get().imported_by.startswith("terminal")
    file.write_bytes(b"name\nAda\n")
    with pytest.raises(CommandError, match="no email column"):
        call_command("leads", "import", str(file), stdout=io.StringIO())


# --- by hand ---------------------------------------------------------------------------------


def test_tags_by_hand_on_one_lead_and_on_the_filtered_list(people):
    ada, bob = people
    editor = signed_in("ed", "editor")
    editor.post(f"/dashboard/leads/{ada.pk}/act/", {"action": "tag", "tag": "whale"})
    ada.refresh_from_db()
    assert ada.tags == ["vip", "whale"]
    entry = AuditEntry.objects.get(action="lead.tag")
    assert (entry.lead_id, entry.before, entry.after) == (
        ada.pk,
        {"tags": ["vip"]},
        {"tags": ["vip", "whale"]},
    )
    editor.post(f"/dashboard/leads/{ada.pk}/act/", {"action": "untag", "tag": "vip"})
    ada.refresh_from_db()
    assert ada.tags == ["whale"]
    response = editor.post("/dashboard/leads/tag/", {"query": "status=pending", "tag": "later",
                                                      "change": "add"}, follow=True)  # fmt: skip
    assert "1 lead tagged “later”" in response.content.decode()
    bob.refresh_from_db()
    ada.refresh_from_db()
    assert bob.tags == ["vip-2024", "later"] and "later" not in ada.tags
    assert AuditEntry.objects.get(action="leads.tag").after == {"tag": "later", "leads": 1}


def test_unsubscribe_and_suppress_by_hand(people):
    ada, bob = people
    editor = signed_in("ed", "editor")
    editor.post(f"/dashboard/leads/{ada.pk}/act/", {"action": "unsubscribe"})
    editor.post(f"/dashboard/leads/{bob.pk}/act/", {"action": "suppress"})
    reasons = dict(Suppression.objects.values_list("email_hash", "reason"))
    assert reasons == {email_hash(ada.email): "unsubscribed", email_hash(bob.email): "manual"}
    assert "on the suppression list (unsubscribed)" in editor.get(
        f"/dashboard/leads/{ada.pk}/").content.decode()  # fmt: skip
    done = {e.action for e in AuditEntry.objects.filter(action__startswith="lead.")}
    assert done == {"lead.unsubscribe", "lead.suppress"}


def test_the_confirmation_is_sent_again(people, mailoutbox, django_capture_on_commit_callbacks):
    ada, _ = people
    journey = ada.visitors.first().journeys.first()
    Lead.objects.filter(pk=ada.pk).update(status="pending", confirmed_at=None)
    Consent.objects.create(lead=ada, funnel_version=journey.version, step_key="checklist",
                           text="Send me the checklist", page_url="https://x/",
                           double_optin=True)  # fmt: skip
    editor = signed_in("ed", "editor")
    with django_capture_on_commit_callbacks(execute=True):
        response = editor.post(f"/dashboard/leads/{ada.pk}/act/", {"action": "resend"},
                               follow=True)  # fmt: skip
    assert "on its way to lead" in response.content.decode()
    assert len(mailoutbox) == 1 and "/c/" in mailoutbox[0].body


def test_an_automation_is_started_and_stopped_by_hand(people):
    ada, _ = people
    run = Enrollment.objects.create(lead=ada, funnel=ada.visitors.first().journeys.first().funnel,
                                    version=ada.visitors.first().journeys.first().version,
                                    automation="tips")  # fmt: skip
    editor = signed_in("ed", "editor")
    editor.post(f"/dashboard/leads/{ada.pk}/act/", {"action": "stop", "run": run.pk})
    run.refresh_from_db()
    assert run.state == "exited" and run.exit_reason == "stopped by ed"
    again = editor.post(f"/dashboard/leads/{ada.pk}/act/", {"action": "stop", "run": run.pk},
                        follow=True)  # fmt: skip
    assert "had ended already" in again.content.decode()
    refused = editor.post(f"/dashboard/leads/{ada.pk}/act/",
                          {"action": "start", "automation": "clean/nope"}, follow=True)  # fmt: skip
    assert "is not in a funnel" in refused.content.decode()


def test_a_viewer_changes_no_lead(people):
    ada, _ = people
    viewer = signed_in("vera", "viewer")
    for data in ({"action": "tag", "tag": "x"}, {"action": "unsubscribe"}):
        assert viewer.post(f"/dashboard/leads/{ada.pk}/act/", data).status_code == 403
    assert viewer.post("/dashboard/leads/tag/", {"tag": "x", "change": "add"}).status_code == 403
    ada.refresh_from_db()
    assert ada.tags == ["vip"] and not Suppression.objects.exists()
    assert "By hand" not in viewer.get(f"/dashboard/leads/{ada.pk}/").content.decode()


def test_what_a_file_says_stays_text_in_the_dry_run(db):
    data = csv_bytes([["email", HOSTILE], [f"{HOSTILE}@example.com", "x"], ["ok@example.com", "y"]])
    page = upload(signed_in("olga", "owner"), data).content.decode()
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.com" in page
