"""The ladder editor's live lint and the list's CSV export and import, timed (issue 30).

    uv run python bench/dashboard.py lint [--pauses 40]
    uv run python bench/dashboard.py export [--leads 100000]
    uv run python bench/dashboard.py import [--rows 100000]
    (each: [--database-url postgres://...]; default: SQLite in a fresh data directory)

- lint: `yesladder serve` with the examples loaded; headless Chromium (Debian's) signs an editor
  in, opens the largest example (b2b-ladder) and makes PAUSES changes, waiting for each check to
  be drawn. The editor measures each one itself (window.yesladderLintTimes: from the pause that
  sends the text to the findings, ladder, diff and previews drawn). Aim: p95 under 150 ms.
- export: LEADS leads, each with a profile, a consent, a standing and tags, bulk-made; then the
  CSV of all of them through the export the dashboard streams (exports.lines), to nowhere. The
  time, and the peak of Python's traced memory for a tenth of the list and for all of it: flat
  memory means the two peaks are close. Aim: under 10 s.
- import: a CSV of ROWS rows (one in a thousand bad) read, dry-run and imported (imports.read,
  plan, run) into an empty list, with a consent basis and a tag. Aim: under 60 s on SQLite.
"""

import argparse
import csv
import io
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-editor-pass-1"  # noqa: S105 (a throwaway account in a temporary directory)


def set_up(home: str, database_url: str) -> None:
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(YESLADDER_HOME=home, DJANGO_SETTINGS_MODULE="yesladder.settings",
                      YESLADDER_LOG_LEVEL="ERROR")  # fmt: skip
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if database_url:
        call_command("flush", "--no-input", verbosity=0)  # a fresh start in a used database


def lint(pauses: int, database_url: str) -> None:
    from playwright.sync_api import sync_playwright

    from yesladder.funnels.services import load_funnel
    from yesladder.funnels.spec import read_spec
    from yesladder.localserver import local_server
    from yesladder.team import roles

    load_funnel(read_spec(ROOT / "examples" / "b2b-ladder.yaml"))
    from django.contrib.auth.models import User

    editor = User.objects.create_user("bench", password=PASSWORD, is_staff=True)
    editor.groups.add(roles.group("editor"))
    env = {k: os.environ[k] for k in ("YESLADDER_HOME", "YESLADDER_LOG_LEVEL")}
    if database_url:
        env["DATABASE_URL"] = database_url
    with local_server(env, workers=1, threads=2) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=["--no-sandbox", "--disable-gpu"])  # fmt: skip
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/admin/login/?next=/dashboard/funnels/b2b-ladder/edit/")
        page.get_by_label("Username").fill("bench")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_selector(".cm-editor")
        for n in range(pauses):
            page.evaluate(
                """(n) => { const view = window.yesladderEditor;
                     const at = view.state.doc.toString().indexOf('title: ') + 7;
                     view.dispatch({selection: {anchor: at}}); view.focus(); }""", n)  # fmt: skip
            page.keyboard.type(f"x{n} ")
            page.wait_for_function("(n) => window.yesladderLintTimes.length > n", arg=n)
        times = sorted(page.evaluate("window.yesladderLintTimes"))
        browser.close()
    p95 = times[max(0, round(0.95 * len(times)) - 1)]
    print(f"lint feedback, b2b-ladder ({len(times)} pauses): median {statistics.median(times):.0f}"
          f" ms, p95 {p95:.0f} ms, max {times[-1]:.0f} ms")  # fmt: skip


def make_leads(count: int) -> None:
    from django.db import transaction

    from yesladder.automation.models import Standing
    from yesladder.funnels.models import Funnel
    from yesladder.funnels.services import load_funnel
    from yesladder.funnels.spec import read_spec
    from yesladder.leads.models import Consent, Lead

    load_funnel(read_spec(ROOT / "examples" / "b2b-ladder.yaml"))
    funnel = Funnel.objects.get(key="b2b-ladder")
    for start in range(0, count, 5000):
        with transaction.atomic():
            leads = Lead.objects.bulk_create(
                Lead(email=f"lead{n}@example.com", tags=["fair", "vip"] if n % 3 else ["fair"],
                     profile={"first_name": f"Lead {n}", "company": "=Acme"})
                for n in range(start, min(count, start + 5000))
            )  # fmt: skip
            Consent.objects.bulk_create(Consent(lead=lead, text="Signed up at the fair",
                                                page_url="https://example.com/f/", ip="203.0.113.9")
                                        for lead in leads)  # fmt: skip
            Standing.objects.bulk_create(Standing(lead=lead, funnel=funnel, score=n % 40,
                                                  segments=["non-buyers"])
                                         for n, lead in enumerate(leads))  # fmt: skip


def export(count: int) -> None:
    from yesladder.dashboard import exports
    from yesladder.dashboard.services import LeadSearch

    made = time.perf_counter()
    make_leads(count)
    print(f"made {count:,} leads in {time.perf_counter() - made:.1f} s")
    began = time.perf_counter()
    for _ in exports.lines(LeadSearch()):
        pass
    took = time.perf_counter() - began
    # Memory in a second pass: tracing every allocation slows Python several times over.
    tracemalloc.start()
    peak_at_a_tenth = 0.0
    for n, _ in enumerate(exports.lines(LeadSearch())):
        if n == count // 10:
            peak_at_a_tenth = tracemalloc.get_traced_memory()[1] / 2**20
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"export of {count:,} leads: {took:.1f} s; peak traced memory {peak_at_a_tenth:.1f} MB "
          f"after a tenth of them, {peak:.1f} MB after all")  # fmt: skip


def import_rows(count: int) -> None:
    from yesladder.dashboard import imports
    from yesladder.team.audit import Actor

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Email", "First name", "Company", "Tags"])
    for n in range(count):
        email = "not-an-email" if n % 1000 == 999 else f"person{n}@example.com"
        writer.writerow([email, f"Person {n}", "Acme", "fair; vip"])
    data = out.getvalue().encode()
    began = time.perf_counter()
    sheet = imports.read(data, "bench.csv")
    plan = imports.plan(sheet, imports.guess(sheet.header))
    checked = time.perf_counter()
    done = imports.run(plan, "Signed up at the fair", "bench", Actor("bench"))
    ended = time.perf_counter()
    print(f"import of {count:,} rows ({len(data) / 2**20:.1f} MB): read and dry run "
          f"{checked - began:.1f} s, import {ended - checked:.1f} s, in all {ended - began:.1f} s "
          f"({done.created:,} new, {done.refused:,} refused)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["lint", "export", "import"])
    parser.add_argument("--pauses", type=int, default=40)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="yesladder-bench-") as home:
        set_up(home, args.database_url)
        print(f"{args.what} on {'PostgreSQL' if args.database_url else 'SQLite'}, "
              f"Python {sys.version.split()[0]}, {os.cpu_count()} cores")  # fmt: skip
        if args.what == "lint":
            lint(args.pauses, args.database_url)
        elif args.what == "export":
            export(args.leads)
        else:
            import_rows(args.rows)


if __name__ == "__main__":
    main()
