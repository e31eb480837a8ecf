"""The funnel pages of the dashboard: the list with each funnel's headline numbers, one funnel's
report (chart, ladder, diagnosis, what-if, breakdown, lint findings) for the question in the
query string, its chart and its downloads; staff only, hostile values inert."""

import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.conftest import funnel_dict, sourced_from
from tests.staff import member
from yesladder.analytics import progress
from yesladder.events import EventName
from yesladder.funnels.models import Funnel, FunnelVersion
from yesladder.funnels.services import load_funnel
from yesladder.funnels.spec import read_spec
from yesladder.leads.services import new_visitor
from yesladder.tracking.services import record

pytestmark = pytest.mark.django_db
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
T = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
HOSTILE = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x")'
LADDER = ("guide", "checklist", "assessment", "strategy-session", "pilot")
PAGE = "/dashboard/funnels/b2b-ladder/"


@pytest.fixture(autouse=True)
def fresh_ladders():
    # Ladders are cached by version id, and a rolled-back test's ids come back on SQLite.
    progress.ladder.cache_clear()
    yield
    progress.ladder.cache_clear()


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(member("staff", "owner"))
    return client


def climb(version: FunnelVersion, rungs: int, source: str = "newsletter", start=T, paid=0):
    """One new visitor from `source` who views the first `rungs` steps of the B2B ladder, a
    minute apart, and pays `paid` cents for the pilot (the macro conversion) if it is more."""
    landing = "https://example.com/f/b2b-ladder/"
    visitor = new_visitor("Mozilla/5.0 (X11; Firefox/140.0)", landing, "", {"utm_source": source})
    for i, step in enumerate(LADDER[:rungs]):
        at = start + dt.timedelta(minutes=i)
        record(EventName.STEP_VIEWED, visitor, version, step, occurred_at=at)
    if paid:
        at = start + dt.timedelta(minutes=rungs)
        record(EventName.PAID, visitor, version, "pilot", {"amount": paid}, occurred_at=at)
        record(EventName.CONVERTED, visitor, version, "pilot", occurred_at=at)


def b2b_with_people() -> FunnelVersion:
    """The B2B example: 60 enter, 12 take the checklist (20 % against 40-60 %: below), 6 take
    the assessment, 3 book, 2 reach the pilot and 1 pays $2,900.00. One visitor came from a
    source that is a script, one from a spreadsheet formula."""
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    version = FunnelVersion.objects.get(funnel__key="b2b-ladder", variant="")
    plan = [5] + [5] + [4] * 1 + [3] * 3 + [2] * 6 + [1] * 48  # 1 payer among the 2 at pilot
    for n, rungs in enumerate(plan):
        source = {0: HOSTILE, 1: FORMULA}.get(n, "newsletter" if n % 2 else "ads")
        start = T + dt.timedelta(days=n % 10)
        climb(version, rungs, source, start, paid=290_000 if n == 0 else 0)
    return version


# --- the list --------------------------------------------------------------------------------


def test_the_list_shows_each_funnel_s_headline_numbers_and_lint_counts(staff):
    b2b_with_people()
    linty = funnel_dict()
    linty["steps"][0]["ask"] = {"fields": ["email", "phone"]}  # YL001: an error
    load_funnel(sourced_from(linty))
    page = staff.get("/dashboard/funnels/")
    assert page.status_code == 200
    rows = {row.key: row for row in page.context["funnels"]}
    b2b, clean = rows["b2b-ladder"], rows["clean"]
    assert (b2b.entered, b2b.reached_last, b2b.revenue) == (60, "1.7 %", "$2,900.00")
    assert b2b.bottleneck == "The pipeline leak checklist"
    assert (b2b.errors, b2b.warnings) == (0, 0)
    assert clean.entered == 0 and clean.errors >= 1
    html = page.content.decode()
    link = 'href="/dashboard/funnels/b2b-ladder/"'
    for expected in ("From cold lead to pilot", "60", "1.7 %", "$2,900.00", link, "1 error"):
        assert expected in html, expected
    assert "default-src 'none'" in page["Content-Security-Policy"]


def test_the_dashboard_opens_on_the_funnels(staff):
    response = staff.get("/dashboard/")
    assert response.status_code == 302 and response["Location"] == "/dashboard/funnels/"
    assert 'aria-current="page">Funnels' in staff.get("/dashboard/funnels/").content.decode()


def test_a_funnel_without_a_stored_version_says_so_instead_of_failing(staff):
    Funnel.objects.create(key="empty", name="Nothing loaded")
    listing = staff.get("/dashboard/funnels/")
    assert listing.status_code == 200 and "has no stored version" in listing.content.decode()
    page = staff.get("/dashboard/funnels/empty/")
    assert page.status_code == 200
    assert page.context["problem"] == "funnel 'empty' has no stored version"
    assert 'role="alert"' in page.content.decode() and "page" not in page.context
    assert staff.get("/dashboard/funnels/empty/chart.svg").status_code == 400


# --- one funnel ------------------------------------------------------------------------------


def test_the_funnel_page_shows_the_report_chart_diagnosis_and_downloads(staff):
    b2b_with_people()
    page = staff.get(PAGE)
    assert page.status_code == 200
    report = page.context["page"].report
    assert [r.reached for r in report.rungs] == [60, 12, 6, 3, 2, 1]
    assert report.rungs[1].verdict == "below"
    html = page.content.decode()
    assert '<img src="/dashboard/funnels/b2b-ladder/chart.svg" alt="60 people entered' in html
    assert 'href="/dashboard/funnels/b2b-ladder/export.csv"' in html
    assert 'href="/dashboard/funnels/b2b-ladder/export.json"' in html
    for column in ("from previous", "95 % interval", "benchmark", "median to next"):
        assert f">{column}</th>" in html
    assert '<td class="verdict below">below range</td>' in html
    assert "40–60 %" in html and "20.0 %" in html
    # The diagnosis names the checklist and says what to do; the what-if names a bottleneck.
    diagnosis = report.diagnoses[0]
    assert diagnosis.step == "checklist" and diagnosis.why in html.replace("&#x27;", "'")
    assert "Fix:" in html and 'id="diagnosis"' in html
    assert "Bottleneck: the move to" in html and 'id="what-if"' in html
    assert "micro-to-macro conversion" in html  # the seeds' metrics
    assert 'id="breakdown"' not in html  # only when asked for
    assert "The linter has nothing to say about this version." in html
    assert html.count('class="scroll"') >= 3  # every wide table scrolls in its own wrapper


def test_the_query_narrows_the_report_and_the_chart_and_downloads_follow_it(staff):
    version = b2b_with_people()
    asked = {"since": "2025-03-03", "until": "2025-03-04", "by": "source", "touch": "last",
             "version": str(version.number), "junk": "x"}  # fmt: skip
    page = staff.get(PAGE, asked)
    assert page.status_code == 200 and not page.context["form"].errors
    report = page.context["page"].report
    assert (report.since, report.until, report.by, report.touch, report.version) == (
        dt.date(2025, 3, 3),
        dt.date(2025, 3, 4),
        "source",
        "last",
        f"v{version.number}",
    )
    assert report.entered == 12  # days 0 and 1 of ten, six people a day
    query = "?since=2025-03-03&amp;until=2025-03-04&amp;by=source&amp;touch=last&amp;version=1"
    html = page.content.decode()
    assert f'src="/dashboard/funnels/b2b-ladder/chart.svg{query}"' in html
    assert f'href="/dashboard/funnels/b2b-ladder/export.csv{query}"' in html
    assert "junk" not in html
    assert 'id="breakdown"' in html and "reached checklist" in html


@pytest.mark.parametrize(
    "asked, field",
    [({"since": "yesterday"}, "since"), ({"until": "2025-02-30"}, "until"),
     ({"since": "2025-03-09", "until": "2025-03-01"}, "until"), ({"by": "email"}, "by"),
     ({"touch": "middle"}, "touch"), ({"version": "7"}, "version"),
     ({"version": "one"}, "version"), ({"until": "9999-12-31"}, "until"),
     ({"since": "0001-01-01"}, "since")],
)  # fmt: skip
def test_a_bad_question_is_answered_with_form_errors_not_a_failure(staff, asked, field):
    b2b_with_people()
    page = staff.get(PAGE, asked)
    assert page.status_code == 200
    assert field in page.context["form"].errors
    assert "page" not in page.context and 'class="errors"' in page.content.decode()
    assert staff.get(PAGE + "chart.svg", asked).status_code == 400
    assert staff.get(PAGE + "export.csv", asked).status_code == 400


def test_an_unknown_funnel_is_a_404(staff):
    for path in ("", "chart.svg", "export.csv", "export.json"):
        assert staff.get(f"/dashboard/funnels/no-such-funnel/{path}").status_code == 404


def test_hostile_sources_are_escaped_on_the_page(staff):
    b2b_with_people()
    html = staff.get(PAGE, {"by": "source"}).content.decode()
    assert HOSTILE not in html and "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_the_csv_download_is_an_attachment_and_keeps_formulas_as_text(staff):
    b2b_with_people()
    response = staff.get(PAGE + "export.csv", {"by": "source"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == 'attachment; filename="b2b-ladder-report.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["step", "title", "reached"] and rows[1][2] == "60"
    breakdown = max(i for i, row in enumerate(rows) if not row)  # after the tiers: the last part
    assert rows[rows.index([]) + 1][0] == "tier"  # the ladder's scored quiz
    names = [row[0] for row in rows[breakdown + 2 :]]
    assert "'" + FORMULA in names and FORMULA not in names
    assert "'" + HOSTILE not in names and HOSTILE in names  # text, not a formula: kept as it is


def test_the_json_download_has_the_raw_numbers(staff):
    b2b_with_people()
    response = staff.get(PAGE + "export.json", {"since": "2025-03-03"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="b2b-ladder-report.json"'
    data = json.loads(response.content)
    assert data["entered"] == 60 and data["since"] == "2025-03-03" and data["converted"] == 1
    assert data["revenue"] == 290_000


def test_the_chart_is_an_svg_image_with_the_page_s_policy(staff):
    b2b_with_people()
    response = staff.get(PAGE + "chart.svg", {"by": "source"})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "default-src 'none'" in response["Content-Security-Policy"]
    root = ET.fromstring(response.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("width") == "100%"
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "60" in texts and "The pipeline leak checklist" in texts


def test_the_lint_findings_of_the_stored_version_are_listed(staff):
    linty = funnel_dict()
    linty["steps"][0]["ask"] = {"fields": ["email", "phone"]}
    load_funnel(sourced_from(linty))
    page = staff.get("/dashboard/funnels/clean/")
    assert page.status_code == 200
    findings = page.context["findings"]
    first = next(f for f in findings if f.rule == "YL001")
    assert first.severity == "error" and first.step == "guide" and first.line > 1
    html = page.content.decode()
    assert '<span class="severity error">error</span>' in html and "YL001" in html
    assert "Hint:" in html and "Lint findings for v1" in html


def test_hostile_funnel_text_is_escaped(staff):
    data = funnel_dict()
    data["name"] = HOSTILE
    data["steps"][1]["title"] = HOSTILE
    load_funnel(sourced_from(data))
    version = FunnelVersion.objects.get(funnel__key="clean")
    visitor = new_visitor("Mozilla/5.0", "https://example.com/", "", {"utm_source": HOSTILE})
    record(EventName.STEP_VIEWED, visitor, version, "guide", occurred_at=T)
    record(EventName.STEP_VIEWED, visitor, version, "checklist", occurred_at=T)
    for path in ("/dashboard/funnels/", "/dashboard/funnels/clean/?by=source"):
        html = staff.get(path).content.decode()
        assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- staff only ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/dashboard/funnels/", PAGE, PAGE + "chart.svg", PAGE + "export.csv", PAGE + "export.json"],
)
def test_every_funnel_page_sends_strangers_and_non_staff_to_the_admin_login(path):
    load_funnel(read_spec(EXAMPLES / "b2b-ladder.yaml"))
    member = Client()
    member.force_login(User.objects.create_user("member", password="pw-member-1234"))
    for client in (Client(), member):
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=/dashboard/funnels/")
