"""Emails per second from the outbox to a local SMTP server, and how late they leave.

    uv run python bench/outbox.py [--messages 2000] [--workers 1 2] [--rate 200]
        [--scenarios backlog steady] [--database-url postgres://...] [--markdown]
    uv run python bench/outbox.py --breakdown                    # time per phase, 1 worker
    uv run python bench/outbox.py --profile /tmp/worker.prof     # cProfile of `worker --once`

Starts a real SMTP server (aiosmtpd, on loopback, in a thread of this process) that notes when
each message arrives, by its Message-ID. Migrates a fresh database (the embedded SQLite in a
temporary data directory; --database-url for PostgreSQL, whose tables are emptied first) and
creates one confirmed lead per message, so every message is a marketing follow-up with its
unsubscribe link, two tracked links and the open pixel, as automations send them. Then, for each
number of workers and each scenario:

- **backlog**: N messages, all due at the same moment: throughput;
- **steady**: N messages due one after the other at --rate per second: how late they leave.

The messages are enqueued through `outbox.enqueue` (a Message row and its tracked links)
with due times far in the future, then `yesladder worker` processes are started (subprocesses,
the same environment, SMTP to the local server); once they are all idle, one UPDATE moves every
due time to the schedule, starting a second later (on PostgreSQL
the outbox tables are emptied with TRUNCATE before each row and vacuumed after that UPDATE: this
machine's PostgreSQL runs with autovacuum off, and dead tuples left by the set-up would slow the
worker's queries, which is not what is measured). The row ends when every
message has arrived and is marked sent. Delay is the arrival at the SMTP server minus the
message's due time; emails/s is the messages over the time from the first due time to the last
arrival (for steady, at most --rate). Duplicates are messages that arrived more than once;
lost, those that never arrived. CPU is per message sent, read from /proc: the worker processes,
the SMTP server's thread, and PostgreSQL's backends serving the workers; "others' CPU" is the
rest of the machine's busy time during the row, in cores (other people's work on a shared
machine shows here: figures taken while it is above ~0.2 are low).

--breakdown and --profile look inside one `worker --once` over a backlog of N messages: the
first times each phase with a wall clock (no profiler overhead), the second runs it under cProfile.
"""

import argparse
import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from yesladder.localserver import free_port

FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)  # where due times wait until the workers are up
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(<[^>\r\n]+>)", re.M | re.I)
BODY = """Hi {{first_name|there}},

Thanks for reading the guide. Teams like yours started with one small step:
[the 3-minute case study](https://example.com/case-study). When you are ready,
[book a 15-minute call](https://example.com/book) and we look at your numbers together.
"""
progress_console = Console(stderr=True, width=100)


class Inbox:
    """The SMTP server's handler: when each Message-ID arrived (more than once: a duplicate)."""

    def __init__(self):
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.received = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        now = time.time()
        found = MESSAGE_ID.search(envelope.content)
        with self.lock:
            self.arrivals[found[1].decode() if found else ""].append(now)
            self.received += 1
        return "250 OK"

    def reset(self) -> None:
        with self.lock:
            self.arrivals = defaultdict(list)
            self.received = 0

    def distinct(self) -> int:
        with self.lock:
            return len(self.arrivals)


def progress_bar(label: str) -> Progress:
    return Progress(
        TextColumn(f"  {label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=progress_console,
        transient=True,
    )


def smtp_server() -> tuple[object, Inbox, int]:
    from aiosmtpd.controller import Controller

    port = free_port()  # aiosmtpd checks its own port, so it needs a fixed one
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, inbox, port


def set_up_django(home: str, database_url: str, port: int) -> dict:
    """Settings for this process and the workers' environment."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        YESLADDER_HOME=home,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        DJANGO_SETTINGS_MODULE="yesladder.settings",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if database_url:
        call_command("flush", interactive=False, verbosity=0)  # a fresh start in a used database
    return env


def create_leads(count: int) -> list:
    from yesladder.leads.models import Lead

    Lead.objects.bulk_create(
        Lead(
            email=f"lead{i}@example.com",
            status=Lead.Status.CONFIRMED,
            profile={"first_name": f"Ada{i}"},
        )
        for i in range(count)
    )
    return list(Lead.objects.order_by("id"))


def outbox_tables() -> list[str]:
    from yesladder.automation.models import Link, Message

    return [model._meta.db_table for model in (Link, Message)]


def empty_outbox() -> None:
    """The outbox tables as new: TRUNCATE on PostgreSQL, so no row leaves dead tuples
    to the next (this machine's PostgreSQL runs with autovacuum off)."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(outbox_tables())} CASCADE")
        else:
            for table in outbox_tables():
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608 (our own table names)


def vacuum() -> None:
    """PostgreSQL: the dead tuples of enqueue and release gone and statistics fresh, as
    autovacuum would leave them on a server that has it on."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {', '.join(outbox_tables())}")


def enqueue(leads: list, run: str, rate: float | None) -> None:
    """One follow-up per lead, due at FAR (+ i/rate for a steady schedule)."""
    from django.db import transaction

    from yesladder.automation import compose, outbox

    with progress_bar("enqueue") as bar:
        job = bar.add_task("enqueue", total=len(leads))
        for start in range(0, len(leads), 200):
            with transaction.atomic():
                for i, lead in enumerate(leads[start : start + 200], start):
                    rendered = compose.render_text(
                        "Your next step, {{first_name}}", BODY, lead.profile
                    )
                    due = FAR + dt.timedelta(seconds=i / rate) if rate else FAR
                    outbox.enqueue(
                        outbox.Draft(
                            key=f"bench:{run}:{i}",
                            to=lead.email,
                            subject=rendered.subject,
                            text=rendered.text,
                            html=rendered.html,
                            template="bench",
                            marketing=True,
                        ),
                        lead=lead,
                        due_at=due,
                    )
            bar.update(job, completed=min(start + 200, len(leads)))


def release(lead_seconds: float) -> dt.datetime:
    """Every due time moved from FAR to now + lead_seconds; then,
    on PostgreSQL, VACUUM ANALYZE of the outbox tables (within the lead time)."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from yesladder.automation.models import Message

    start = timezone.now() + dt.timedelta(seconds=lead_seconds)
    shift = FAR - start
    with transaction.atomic():
        Message.objects.update(due_at=F("due_at") - shift)
    vacuum()
    if lead_seconds >= 1 and timezone.now() > start:
        progress_console.print("  [yellow]the vacuum took longer than the lead time")
    return start


def start_workers(env: dict, count: int, home: str) -> list[subprocess.Popen]:
    workers = []
    for n in range(count):
        log = open(Path(home) / f"worker{n}.log", "ab")  # noqa: SIM115 (the worker's whole life)
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "yesladder.cli", "worker"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        )
    for worker in workers:  # "yesladder worker … running" once its loop starts
        line = worker.stdout.readline()
        if b"running" not in line:
            sys.exit(f"a worker did not start: {line!r}; see {home}/worker*.log")
    time.sleep(1.5)  # past the first round (the tick) of each, so they are idle and polling
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def wait_for(inbox: Inbox, total: int, label: str, stall_seconds: float = 30) -> None:
    from yesladder.automation.models import Message

    with progress_bar(label) as bar:
        job = bar.add_task(label, total=total)
        seen, moved = 0, time.monotonic()
        while True:
            arrived = inbox.distinct()
            bar.update(job, completed=arrived)
            if arrived != seen:
                seen, moved = arrived, time.monotonic()
            if arrived >= total:
                break
            if time.monotonic() - moved > stall_seconds:
                progress_console.print(f"  [red]no progress for {stall_seconds:.0f} s; stopping")
                return
            time.sleep(0.1)
    deadline = time.monotonic() + 10  # arrival comes just before the worker marks it sent
    while time.monotonic() < deadline:
        if not Message.objects.exclude(state=Message.State.SENT).exists():
            break
        time.sleep(0.05)
    time.sleep(0.5)  # a late duplicate would arrive now


def cpu_seconds(stat_path: str) -> float:
    """User + system CPU of a process or thread, from /proc (Linux)."""
    try:
        fields = Path(stat_path).read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU busy time of the whole machine (all cores), from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class CPU:
    """CPU spent by the workers, the SMTP server's thread and PostgreSQL's backends for them,
    and by everything else on the machine ("others": other people's work shows here)."""

    def __init__(self, workers: list[subprocess.Popen], smtp_thread: threading.Thread):
        self.paths = {f"/proc/{w.pid}/stat": "workers" for w in workers}
        self.paths[f"/proc/self/task/{smtp_thread.native_id}/stat"] = "smtp"
        self.paths["/proc/self/stat"] = "bench"  # this whole process, the SMTP thread included
        self.before = self._read()
        self.began = time.monotonic()

    def _read(self) -> dict[str, float]:
        from django.db import connection

        paths = dict(self.paths)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = "
                    "current_database() AND pid <> pg_backend_pid()"
                )
                paths.update({f"/proc/{pid}/stat": "database" for (pid,) in cursor.fetchall()})
        return {path: cpu_seconds(path) for path in paths} | {
            "_who": paths,
            "_machine": machine_cpu_seconds(),
        }

    def spent(self) -> dict[str, float]:
        """CPU seconds of each, and "others" as cores busy on average over the row."""
        after = self._read()
        who = after.pop("_who")
        machine = after.pop("_machine") - self.before["_machine"]
        totals = {"workers": 0.0, "smtp": 0.0, "database": 0.0, "bench": 0.0}
        for path, seconds in after.items():
            totals[who[path]] += seconds - self.before.get(path, 0.0)
        ours = totals["workers"] + totals["database"] + totals["bench"]
        totals["others"] = max(0.0, machine - ours) / (time.monotonic() - self.began)
        return totals


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def results(inbox: Inbox, start: dt.datetime, cpu: dict[str, float]) -> dict:
    from yesladder.automation.models import Message

    rows = list(Message.objects.values_list("header_id", "due_at", "state"))
    delays, lost, last = [], 0, start.timestamp()
    with inbox.lock:
        arrivals = dict(inbox.arrivals)
    for header_id, due_at, _state in rows:
        times = arrivals.get(header_id)
        if not times:
            lost += 1
            continue
        delays.append(times[0] - due_at.timestamp())
        last = max(last, times[0])
    seconds = last - start.timestamp()
    return {
        "messages": len(rows),
        "seconds": seconds,
        "emails/s": len(delays) / seconds if seconds > 0 else 0.0,
        "p50": percentile(delays, 50),
        "p99": percentile(delays, 99),
        "duplicates": sum(1 for times in arrivals.values() if len(times) > 1),
        "lost": lost,
        "not sent": sum(1 for row in rows if row[2] != Message.State.SENT),
        "cpu": {who: seconds / max(len(delays), 1) * 1000 for who, seconds in cpu.items()},
        "others": cpu["others"],
    }


def backlog_due_now(leads: list) -> None:
    """A backlog, all due by the time this returns (`worker --once` stops at nothing due)."""
    from django.utils import timezone

    enqueue(leads, "once", None)
    start = release(0.1)
    time.sleep(max(0.0, (start - timezone.now()).total_seconds()))


def profile(env: dict, leads: list, output: str) -> None:
    """One `yesladder worker --once` under cProfile over a backlog; prints where the time goes."""
    import pstats

    backlog_due_now(leads)
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", output, "-m", "yesladder.cli", "worker", "--once"],
        env=env,
        check=True,
    )
    elapsed = time.perf_counter() - began
    print(f"worker --once: {len(leads)} messages in {elapsed:.1f} s (under cProfile)")
    stats = pstats.Stats(output)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)


PHASES = {  # (module, owner attribute or "", function): what each covers, per message
    "outbox.send_due (all of it)": ("yesladder.automation.outbox", "", "send_due"),
    "  claim_due (select, claim, read a batch: 1 transaction)": (
        "yesladder.automation.outbox",
        "",
        "claim_due",
    ),
    "  refusals (suppression, consent: 2 queries a batch)": (
        "yesladder.automation.outbox",
        "",
        "refusals",
    ),
    "  compose.build (two templates, MIME)": ("yesladder.automation.compose", "", "build"),
    "  SMTP hand-over (4 round trips)": ("yesladder.automation.outbox", "", "_hand_over"),
    "  mark sent (UPDATE, its own commit)": ("yesladder.automation.outbox", "", "_mark_sent"),
}


def breakdown_worker() -> None:
    """In a worker process: `worker --once` with a wall-clock timer around each phase."""
    import functools
    import importlib

    import django

    django.setup()
    spent: dict[str, float] = defaultdict(float)

    def timed(label, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - began

        return wrapper

    for label, (module_name, owner_name, name) in PHASES.items():
        owner = importlib.import_module(module_name)
        owner = getattr(owner, owner_name) if owner_name else owner
        wrapped = timed(label, getattr(owner, name))
        setattr(owner, name, wrapped)
    from yesladder.automation.worker import Loop

    began = time.perf_counter()
    done = Loop().until_idle()
    total = time.perf_counter() - began
    print(
        f"worker --once: {done} messages in {total:.2f} s = {done / total:.0f}/s, "
        f"{total / done * 1000:.2f} ms each"
    )
    print(f"{'phase':56} {'ms/message':>10} {'share':>6}")
    for label in PHASES:
        print(f"{label:56} {spent[label] / done * 1000:10.2f} {spent[label] / total:6.0%}")
    inner = sum(spent[label] for label in PHASES if not label.startswith(" "))
    print(
        f"{'the rest (worker loop, ORM outside these, Python)':56} "
        f"{(total - inner) / done * 1000:10.2f} {(total - inner) / total:6.0%}"
    )


def breakdown(env: dict, leads: list) -> None:
    backlog_due_now(leads)
    subprocess.run([sys.executable, __file__, "--worker-breakdown"], env=env, check=True)


def main() -> None:
    if sys.argv[1:] == ["--worker-breakdown"]:
        return breakdown_worker()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--scenarios", nargs="+", choices=["backlog", "steady"], default=["backlog", "steady"]
    )
    parser.add_argument("--rate", type=float, default=200, help="steady: messages due per second")
    parser.add_argument("--database-url", default="", help="PostgreSQL instead of SQLite")
    parser.add_argument("--markdown", action="store_true", help="the table as Markdown")
    parser.add_argument("--profile", metavar="FILE", help="cProfile one `worker --once` instead")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="time each phase of one `worker --once` over a backlog instead",
    )
    args = parser.parse_args()
    database = "PostgreSQL" if args.database_url else "SQLite"

    controller, inbox, port = smtp_server()
    home = tempfile.mkdtemp(prefix="yesladder-bench-outbox-")
    env = set_up_django(home, args.database_url, port)
    leads = create_leads(args.messages)
    progress_console.print(
        f"{database}, data in {home}, SMTP on 127.0.0.1:{port}, {args.messages:,} confirmed leads"
    )
    try:
        if args.breakdown:
            breakdown(env, leads)
        elif args.profile:
            profile(env, leads, args.profile)
        else:
            Console(width=180).print(measure(args, database, env, home, leads, controller, inbox))
    finally:
        controller.stop()
    shutil.rmtree(home, ignore_errors=True)  # kept when something failed: the workers' logs


def measure(args, database: str, env: dict, home: str, leads: list, controller, inbox) -> Table:
    table = Table(
        title=f"Outbox to SMTP ({args.messages:,} messages; steady: {args.rate:g}/s due)",
        box=box.MARKDOWN if args.markdown else box.ROUNDED,
    )
    for name in (
        "database",
        "workers",
        "scenario",
        "messages",
        "seconds",
        "emails/s",
        "delay p50 s",
        "delay p99 s",
        "duplicates",
        "lost",
        "CPU ms/msg workers",
        "SMTP",
        "PostgreSQL",
        "others' CPU (cores)",
    ):
        table.add_column(name, justify="left" if name in ("database", "scenario") else "right")
    run = 0
    for workers in args.workers:
        for scenario in args.scenarios:
            run += 1
            label = f"{database}, {workers} worker(s), {scenario}"
            progress_console.print(f"[bold]{label}")
            empty_outbox()
            inbox.reset()
            enqueue(leads, str(run), args.rate if scenario == "steady" else None)
            processes = start_workers(env, workers, home)
            try:
                cpu = CPU(processes, controller._thread)  # aiosmtpd's server thread
                start = release(1.0)
                wait_for(inbox, args.messages, "sent")
                spent = cpu.spent()
            finally:
                stop_workers(processes)
            r = results(inbox, start, spent)
            progress_console.print(
                f"  {r['emails/s']:,.0f} emails/s, delay p50 {r['p50']:.2f} s,"
                f" p99 {r['p99']:.2f} s, {r['duplicates']} duplicate(s), "
                f"{r['lost']} lost, {r['not sent']} not marked sent; CPU "
                f"ms/message: workers {r['cpu']['workers']:.2f}, SMTP server "
                f"{r['cpu']['smtp']:.2f}, PostgreSQL "
                f"{r['cpu']['database']:.2f}; other work on the machine: "
                f"{r['others']:.2f} cores"
            )
            table.add_row(
                database,
                str(workers),
                scenario,
                f"{r['messages']:,}",
                f"{r['seconds']:.1f}",
                f"{r['emails/s']:,.0f}",
                f"{r['p50']:.2f}",
                f"{r['p99']:.2f}",
                str(r["duplicates"]),
                str(r["lost"]),
                f"{r['cpu']['workers']:.1f}",
                f"{r['cpu']['smtp']:.1f}",
                f"{r['cpu']['database']:.1f}" if args.database_url else "-",
                f"{r['others']:.2f}",
            )
    return table


if __name__ == "__main__":
    main()
