import random
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.table import Table

from yesladder import options
from yesladder.demo.simulate import (
    DEFAULT_CHANCE,
    OffSite,
    Plan,
    Stats,
    Visitor,
    benchmark_chances,
    crowd_progress,
    spread_starts,
)
from yesladder.funnels.models import Funnel
from yesladder.funnels.spec import SpecError, read_spec
from yesladder.tracking.services import move_back_in_time


class Command(BaseCommand):
    help = (
        "Send synthetic visitors through a funnel's real pages over HTTP (cookies, forms, "
        "UTM sources), each step with a chance of going on, spread over past days."
    )

    def add_arguments(self, parser):
        parser.add_argument("funnel", help="a loaded funnel's key, or a funnel YAML file")
        parser.add_argument("--visitors", type=options.whole(1, 500), default=500)
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the server's address")
        parser.add_argument(
            "--chance",
            action="append",
            default=[],
            metavar="[STEP=]P",
            help="chance of going on, 0-1: for every step (0.6 unless the spec's benchmarks "
            "say), or for one step as STEP=P; repeatable",
        )
        parser.add_argument(
            "--days", type=options.number(0, 30), default=30.0, help="spread over this many days"
        )
        parser.add_argument(
            "--concurrency", type=options.whole(1, 8), default=8, help="visitors at once"
        )
        parser.add_argument("--seed", type=int, default=None, help="repeatable crowd")

    def handle(self, *args, **options):
        console = Console(file=self.stdout)
        plan = self._plan(options)
        rng = random.Random(options["seed"])
        count = options["visitors"]
        if count < 1 or options["concurrency"] < 1:
            raise CommandError("--visitors and --concurrency must be at least 1")
        stats, shared, walked = Stats(), [], []
        started = time.perf_counter()
        with crowd_progress(console) as progress:
            task = progress.add_task(f"Visitors through {plan.spec.funnel}", total=count)
            with ThreadPoolExecutor(max_workers=options["concurrency"]) as pool:
                seeds = [rng.random() for _ in range(count)]
                futures = [
                    pool.submit(self._walk, plan, n, random.Random(seed), stats, shared)
                    for n, seed in enumerate(seeds)
                ]
                for future in as_completed(futures):
                    walked.append(future.result())
                    progress.advance(task)
            elapsed = time.perf_counter() - started
            spread = self._spread(walked, options["days"], rng, progress)
        _summary(console, plan, stats, count, elapsed, spread)
        if stats.errors:
            raise CommandError(f"the server answered with errors: {dict(stats.errors)}")

    def _plan(self, options) -> Plan:
        url = options["url"].rstrip("/")
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise CommandError(
                f"--url {url!r}: give the server's address, like http://127.0.0.1:8000"
            )
        spec = _spec(options["funnel"])
        given = [(*g.rpartition("=")[::2], g) for g in options["chance"]]
        overall = [_probability(g, value) for key, value, g in given if not key]
        # one chance for every step replaces the benchmarks; STEP=P overrides either
        chances = {} if overall else benchmark_chances(spec)
        for key, value, g in given:
            if key and spec.step(key) is None:
                keys = ", ".join(s.key for s in spec.steps)
                raise CommandError(f"--chance {g}: no step '{key}' in {spec.funnel} ({keys})")
            if key:
                chances[key] = _probability(g, value)
        default = overall[-1] if overall else DEFAULT_CHANCE
        return Plan(origin=url, spec=spec, chances=chances, default_chance=default)

    @staticmethod
    def _walk(plan, number, rng, stats, shared):
        begun = time.time()
        try:
            return begun, Visitor(plan, number, rng, stats, shared).walk()
        except (OffSite, OSError) as exc:  # one visitor's failure is counted, not fatal
            stats.add("errors", type(exc).__name__)
            return begun, None

    def _spread(self, walked, days, rng, progress) -> int | None:
        """Move each visitor's history back to a start time spread over `days`."""
        if days <= 0:
            return 0
        starts = spread_starts(len(walked), days, rng, time.time())
        task = progress.add_task(f"Spreading over {days:g} days", total=len(walked))
        moved = 0
        for (begun, visitor_id), start in zip(
            sorted(walked, key=lambda w: w[0]), starts, strict=True
        ):
            if visitor_id and move_back_in_time(visitor_id, timedelta(seconds=begun - start)):
                moved += 1
            elif visitor_id:
                return None  # the server keeps its data elsewhere: nothing to spread here
            progress.advance(task)
        return moved


def _spec(funnel: str):
    path = Path(funnel)
    if path.suffix in (".yaml", ".yml") or path.exists():
        try:
            return read_spec(path)
        except SpecError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from None
    stored = Funnel.objects.filter(key=funnel).first()
    version = stored.current_version() if stored else None
    if version is None:
        raise CommandError(f"no funnel '{funnel}' is loaded; give its YAML file or load it first")
    return version.spec


def _probability(given: str, value: str) -> float:
    try:
        chance = float(value)
    except ValueError:
        chance = -1.0
    if not 0 <= chance <= 1:
        raise CommandError(f"--chance {given}: the chance is a number from 0 to 1, like 0.6")
    return chance


def _summary(console, plan: Plan, stats: Stats, count: int, elapsed: float, spread) -> None:
    summary(console, plan, stats)
    latencies = sorted(stats.latencies) or [0.0]
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    rate = stats.requests / max(elapsed, 1e-9)
    console.print(
        f"{count} visitors ({stats.bots} known bots) in {elapsed:.1f} s: "
        f"{stats.requests} requests, {rate:.0f}/s, p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
    )
    if spread is None:
        console.print("[yellow]Not spread over days: the server's database is not this one.[/]")
    elif spread:
        console.print(f"History of {spread} visitors spread over the past days.")


def summary(console, plan: Plan, stats: Stats) -> None:
    """The crowd's walk through one funnel: a table by step, emails, downloads, sources."""
    table = Table(title=f"{plan.spec.name} ({plan.spec.funnel})")
    for column in ("step", "kind", "reached", "went on", "rate", "chance"):
        table.add_column(column, justify="left" if column in ("step", "kind") else "right")
    for step in plan.spec.steps:
        reached, went_on = stats.reached[step.key], stats.went_on[step.key]
        rate = f"{100 * went_on / reached:.0f}%" if reached else "-"
        note = " (not served yet)" if stats.stopped_unserved[step.key] else ""
        table.add_row(step.key, step.kind + note, str(reached), str(went_on), rate,
                      f"{plan.chance(step.key):.0%}")  # fmt: skip
    console.print(table)
    sources = ", ".join(f"{k} {v}" for k, v in stats.sources.most_common())
    console.print(f"{stats.leads} emails given, {stats.downloads} downloads. Sources: {sources}")
