"""What experiments cost where they run: assignment on a page, and results on many people.

    uv run python bench/experiments_wiring.py [--people 1000000] [--calls 2000]

On a fresh embedded database (SQLite, in a temporary YESLADDER_HOME) with the B2B example and
its experiment loaded:

- assignment: the decision alone (the experiment's slice and the variant, by hash, from the
  per-process copy of the version's experiments) per call, and the whole first sight of a new
  visitor (the decision, the Exposure row and the experiment_exposed event through the event
  log's door, in one transaction), against the same journey start without experiments;
  returning visitors pay nothing (their journey already names their variant's version);
- results: `experiments.results.results` (the per-variant rollups, the guardrails, the
  statistics) on --people exposed people split 50/50, median of 5 runs; the rows are written
  in bulk, past the writers, so the rollups are made from them once (`experiments.rollup.rebuild`,
  what the migration does for experiments already running) and that is timed too.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup() -> None:
    os.environ["YESLADDER_HOME"] = tempfile.mkdtemp(prefix="yesladder-bench-")
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yesladder.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def per_call(run, calls: int) -> float:
    start = time.perf_counter()
    for i in range(calls):
        run(i)
    return (time.perf_counter() - start) / calls * 1000


def assignment(calls: int) -> None:
    from django.db import transaction

    from yesladder import seams
    from yesladder.experiments import assignment as a
    from yesladder.funnels.models import current_version
    from yesladder.leads.models import Visitor
    from yesladder.tracking import journeys

    base = current_version("b2b-ladder")
    spec = a.live(base)[0].spec
    decide = per_call(lambda i: a.pick(spec, f"v{i:032x}") and a.point("1:slices", str(i)), calls)
    visitors = Visitor.objects.bulk_create(
        [Visitor(user_agent="Mozilla/5.0") for _ in range(calls * 2)]
    )

    def start(chooser):
        def run(i):
            with transaction.atomic():
                visitor = visitors[i + (calls if chooser is None else 0)]
                visitor.first_request = True
                seams.STARTING_VERSION.fill(chooser)
                journeys.journey_for(visitor, "b2b-ladder")

        return run

    with_experiment = per_call(start(a.assign), calls)
    without = per_call(start(None), calls)
    print(f"assignment decision (hashes, cached experiments): {decide * 1000:.1f} µs per call")
    print(
        f"a new visitor's journey start: {without:.2f} ms without experiments, "
        f"{with_experiment:.2f} ms with the exposure recorded "
        f"(+{with_experiment - without:.2f} ms, once per person)"
    )


def results(people: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from yesladder.experiments.assignment import live
    from yesladder.experiments.results import results as read
    from yesladder.experiments.rollup import rebuild
    from yesladder.funnels.models import current_version

    base = current_version("b2b-ladder")
    current = live(base)[0]
    now = timezone.now().isoformat()
    started = time.perf_counter()
    # Exposures point at visitors; a million Visitor rows add nothing the reading touches.
    connection.disable_constraint_checking()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM experiments_exposure")
        for chunk in range(0, people, 50_000):
            exposures, progress = [], []
            for i in range(chunk, min(chunk + 50_000, people)):
                variant = current.spec.variants[i % 2].key
                version = current.versions[variant]
                visitor = f"{i:032x}"
                level = 5 if i % 37 == 0 else (2 if i % 3 == 0 else 1)
                exposures.append((current.row.pk, variant, version.pk, visitor, f"v{visitor}",
                                  True, now))  # fmt: skip
                progress.append((base.funnel_id, version.pk, f"v{visitor}", level,
                                 "[]", 0, 0, 0, False, False, False,
                                 99000 if level == 5 else 0, "ads" if i % 2 else "",
                                 "", "", "", "", "", "", "{}", now))  # fmt: skip
            cursor.executemany(
                "INSERT INTO experiments_exposure (experiment_id, variant, version_id, "
                "visitor_id, person, counted, exposed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                exposures,
            )
            cursor.executemany(
                "INSERT INTO analytics_progress (funnel_id, version_id, person, level, gaps, "
                "viewed, clicked, optional, opted_in, engaged, excluded, revenue, source, "
                "medium, campaign, last_source, last_medium, last_campaign, device, state, "
                "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s, %s, %s, %s, %s, %s)",
                progress,
            )
    connection.enable_constraint_checking()
    print(f"wrote {people:,} exposed people in {time.perf_counter() - started:.0f} s")
    started = time.perf_counter()
    with transaction.atomic():  # rows written in bulk pass no writer: count them once
        rebuild([current.row.pk])
    print(f"per-variant rollups made from the rows in {time.perf_counter() - started:.1f} s")
    times = []
    for _ in range(5):
        start = time.perf_counter()
        found = read("b2b-ladder", current.spec.key)
        times.append(time.perf_counter() - start)
    exposed = [v.exposed for v in found.variants]
    print(
        f"results on {sum(exposed):,} exposed people ({', '.join(map(str, exposed))}): "
        f"median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms "
        f"({found.sentence})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    setup()
    from django.core.management import call_command

    call_command("load", str(ROOT / "examples" / "b2b-ladder.yaml"), verbosity=0)
    print(f"python {sys.version.split()[0]}, SQLite (embedded default)")
    assignment(args.calls)
    results(args.people)


if __name__ == "__main__":
    main()
