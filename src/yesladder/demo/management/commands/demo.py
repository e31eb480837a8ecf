import os
import random
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from django.utils import timezone
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from yesladder import options
from yesladder.analytics.render import VERDICT_STYLE, duration, percent, spread
from yesladder.analytics.report import Report, build
from yesladder.automation.worker import Loop
from yesladder.database import migrate_embedded
from yesladder.demo import crowd, history
from yesladder.demo.simulate import OffSite, Stats, Visitor, buyer_cancels, crowd_progress
from yesladder.examples import example_files
from yesladder.funnels.models import Funnel
from yesladder.localserver import local_server
from yesladder.offers.links import cancel_token
from yesladder.team import roles
from yesladder.tracking.models import Journey

DEMO_USER = "demo"
DEMO_VIEWER = "viewer"
DEMO_SEED = 22
CROWD = 24  # visitors walking at once: the server's threads are never idle
# Threads per server process: more only queue for SQLite's one writer and take the GIL from it.
SERVER_THREADS = 4


class Command(BaseCommand):
    help = (
        "Everything in one command: load the example funnels, send a few thousand synthetic "
        "visitors through them, create a staff user and serve."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=options.PORT, default=8000)
        parser.add_argument(
            "--visitors",
            type=options.whole(0, 2000),
            default=2000,
            help="synthetic visitors over all funnels",
        )
        parser.add_argument("--days", type=options.number(0, 30), default=30.0,
                            help="spread over past days")  # fmt: skip
        parser.add_argument(
            "--no-serve", action="store_true", help="prepare the data, print the sign-in, stop"
        )

    def handle(self, *args, host, port, visitors, days, no_serve, **options):
        migrate_embedded()
        # A second run must not undo what was published in the dashboard since the first.
        call_command("load", *map(str, example_files()), keep_dashboard=True,
                     stdout=self.stdout)  # fmt: skip
        funnels = list(Funnel.objects.order_by("key"))
        if visitors > 0 and not Journey.objects.exists():
            self._simulate(funnels, visitors, days, served_at=f"http://{host}:{port}")
        password = self._staff_user(DEMO_USER, "owner")
        viewer_password = self._staff_user(DEMO_VIEWER, "viewer")
        base = f"http://{host}:{port}"
        self.stdout.write("\nThe demo is ready.")
        for funnel in funnels:
            self.stdout.write(f"  {funnel.name}: {base}/f/{funnel.key}/")
        self.stdout.write(f"  Dashboard: {base}/dashboard/  user {DEMO_USER}, password {password}")
        self.stdout.write(f"    (a viewer, who reads and changes nothing: user {DEMO_VIEWER}, "
                          f"password {viewer_password})")  # fmt: skip
        self.stdout.write(f"  Admin: {base}/admin/")
        self.stdout.write(
            f"  Emails (confirmations and follow-ups) are written to {settings.EMAIL_FILE_PATH}"
        )
        if not no_serve:
            # Offers take payments through the built-in test provider: no card, no real money.
            os.environ.setdefault("YESLADDER_PAYMENTS", "test")
            self.stdout.write(f"  Payments: {os.environ['YESLADDER_PAYMENTS']} provider")
            call_command("serve", host=host, port=port, stdout=self.stdout)

    def _simulate(self, funnels: list[Funnel], visitors: int, days: float, served_at: str):
        """A short-lived server for the synthetic crowd, trusting the addresses it sends, so
        the per-address limits see many visitors rather than one. Follow-ups its worker sends
        link to where the demo will be served, not to this server. The crowd of every funnel
        walks at once; then some trials are cancelled and the others run out, a few buyers ask
        for their money back, a few leads unsubscribe, and the history is spread over `days` as
        real traffic would be. What it shows is each funnel's ladder as the report counts it."""
        # The crowd buys through the built-in test provider, as the served demo sells.
        paying = os.environ.get("YESLADDER_PAYMENTS") or "test"
        # The emails its pages send (receipts, invites, confirmations) link to where the demo
        # will be served, not to this server's passing port.
        public = os.environ.get("YESLADDER_BASE_URL") or served_at
        trusting = {"YESLADDER_TRUSTED_PROXIES": "1", "YESLADDER_LOG_LEVEL": "ERROR",
                    "YESLADDER_SERVED_AT": served_at, "YESLADDER_PAYMENTS": paying,
                    "YESLADDER_BASE_URL": public}  # fmt: skip
        console = Console(file=self.stdout)
        rng = random.Random(DEMO_SEED)
        with crowd_progress(console) as progress:
            try:
                # No worker beside it: on SQLite its writes would make the pages' writers sleep
                # in SQLite's busy handler; the follow-ups go out right after the walk instead.
                with local_server(trusting, workers=2, threads=SERVER_THREADS,
                                  follow_ups=False) as base:  # fmt: skip
                    walked, stats = self._walk(funnels, visitors, base, progress)
                    os.environ.setdefault("YESLADDER_SERVED_AT", served_at)  # emails' links
                    # Cancelled by the buyers on the served pages, from their emails' link.
                    task = progress.add_task("Trials cancelled and ending, calls and seats "
                                             "marked, refunds",
                                             total=history.STEPS_AFTER_THE_WALK)  # fmt: skip
                    aftermath = history.after_the_walk(
                        rng, lambda: progress.advance(task),
                        lambda order: buyer_cancels(base, cancel_path(order)),
                    )  # fmt: skip
            except RuntimeError as exc:
                raise CommandError(f"demo: {exc}") from None
            task = progress.add_task("Sending the follow-ups", total=None)
            sent = Loop().until_idle()  # pieces of work: the bar shows them done, of themselves
            progress.update(task, completed=sent, total=max(sent, 1))
            history.read_mail(rng)  # the crowd opens and clicks some of what was sent
            task = progress.add_task(f"Spreading over {days:g} days", total=len(walked))
            history.spread(walked, days, rng, timezone.now(),
                           lambda n: progress.advance(task, n))  # fmt: skip
            task = progress.add_task("Counting the funnels", total=None)
            history.count_again(lambda done, total: progress.update(task, completed=done,
                                                                    total=total))  # fmt: skip
        for funnel in funnels:
            found = build(funnel.key)
            console.print(ladder(found))
            if found.tiers:
                console.print(tiers(found))
        console.print(after_words(aftermath))
        errors = sum((figures.errors for figures in stats), Counter())
        if errors:
            raise CommandError(f"demo: the server answered with errors: {dict(errors)}")

    def _walk(self, funnels, visitors: int, base: str, progress) -> tuple[list, list]:
        """Every funnel's share of the crowd, interleaved, CROWD visitors at a time."""
        specs = [f.current_version().spec for f in funnels]
        plans = [crowd.plan(spec, base) for spec in specs]
        stats, shared, tasks, order = [], [], [], []
        for n, plan in enumerate(plans):
            share = visitors // len(plans) + (1 if n < visitors % len(plans) else 0)
            stats.append(Stats())
            shared.append([])
            tasks.append(progress.add_task(f"Visitors through {plan.spec.funnel}", total=share))
            order += [n] * share
        rng = random.Random(DEMO_SEED)
        rng.shuffle(order)

        def walk(number: int, n: int, seed: float) -> str | None:
            try:
                return Visitor(plans[n], number, random.Random(seed), stats[n], shared[n]).walk()
            except (OffSite, OSError) as exc:  # one visitor's failure is counted, not fatal
                stats[n].add("errors", type(exc).__name__)
                return None
            finally:
                progress.advance(tasks[n])

        with ThreadPoolExecutor(max_workers=CROWD) as pool:
            jobs = [pool.submit(walk, number, n, rng.random()) for number, n in enumerate(order)]
            walked = [job.result() for job in jobs]
        return [w for w in walked if w], stats

    def _staff_user(self, username: str, role: str) -> str:
        """A demo account in `role` (the owner is also a superuser, for the admin), with a
        fresh password printed each run."""
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff, user.is_superuser = True, role == "owner"
        user.set_password(password)
        user.save()
        user.groups.set([roles.group(role)])
        return password


LADDER_COLUMNS = ("step", "reached", "from previous", "benchmark", "from start", "median to next")


def ladder(report: Report) -> Table:
    """One funnel's ladder as its report counts it, narrow enough for a terminal; the move
    into a rung is coloured by its verdict, as in `yesladder report`."""
    table = Table(title=f"{report.name} ({report.funnel}): {report.entered:,} people entered",
                  box=box.SIMPLE_HEAD, title_justify="left")  # fmt: skip
    table.add_column(LADDER_COLUMNS[0], no_wrap=True)  # a step's key is never cut short
    for column in LADDER_COLUMNS[1:]:
        table.add_column(column, justify="right")
    for rung in report.rungs:
        moved, style = percent(rung.from_previous), VERDICT_STYLE.get(rung.verdict)
        table.add_row(rung.key, f"{rung.reached:,}", f"[{style}]{moved}[/]" if style else moved,
                      spread(rung.benchmark), percent(rung.from_start),
                      duration(rung.median_seconds))  # fmt: skip
    return table


def tiers(report: Report) -> Table:
    """The assessment's tiers: how many people each holds and how many of them converted (the
    whole climb per tier: `yesladder report FUNNEL --by tier`)."""
    table = Table(title="By the assessment's tier", box=box.SIMPLE_HEAD, title_justify="left")
    for n, column in enumerate(("tier", "people", "converted", "conversion")):
        table.add_column(column, justify="right" if n else "left")
    for group in report.tiers:
        table.add_row(escape(group.name), f"{group.entered:,}", f"{group.converted:,}",
                      percent(group.conversion))  # fmt: skip
    return table


def cancel_path(order) -> str:
    """The Cancel link of the order's emails, on whatever host serves it."""
    return reverse("offers:cancel", args=[cancel_token(order)])


def after_words(done: history.Aftermath) -> str:
    return (
        f"After the walk: trials {done.trials}, cancelled in their first week {done.cancelled}; "
        f"later charges paid {done.charged}, declined {done.declined} (paid with a new card "
        f"{done.recovered}); calls attended {done.attended}, no-shows {done.no_shows}; webinar "
        f"seats attended {done.seats_attended}, replays sent to no-shows {done.replays}; other "
        f"refunds {done.refunded}; unsubscribes {done.unsubscribed}."
    )
