"""The runtime seams that are lookups rather than reactions: a part low in the house asks, a
part above it answers, filled in its AppConfig.ready, so the asker never imports the answerer.
The reactions (who hears what the event log is told) are in the sibling `yesladder.reactions`;
together the two modules are every runtime seam of the house (docs/decisions.md, "The map").

| seam | asked by | filled by |
|---|---|---|
| STARTING_VERSION | tracking.journeys (a journey starts) | experiments.assignment.assign |
| VARIANT_NAMES | tracking.api (the variant a site shows) | experiments.assignment.variants_of |
| GUARDRAILS | experiments.results (harm per variant) | automation (unsubscribes, bounces) |
| EMAIL_COUNTS | experiments.emails (an email test) | automation.email_tests.counts |
| ENGINES | analytics.store (`--engine`) | warehouse (clickhouse) |
| JOBS | automation.worker (its round) | warehouse (shipping), operations, dashboard (imports) |

Like `reactions`, this module imports nothing of the apps.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Slot:
    """One answer, or none (then the asker does without: the ladder as written, no names)."""

    name: str
    filled: Callable[..., Any] | None = None

    def fill(self, answer: Callable[..., Any]) -> None:
        self.filled = answer


@dataclass(frozen=True)
class Job:
    """A periodic job of the worker: `every` seconds (or a function giving them, read at each
    round), `run` returns the work it did; `apart` for a job that waits on another server (it
    runs in a thread of its own, so a hung socket never holds up the mail)."""

    every: float | Callable[[], float]
    run: Callable[[], int]
    apart: bool = False


@dataclass
class Registry:
    """Answers by name (a guardrail, an engine, a job); adding one is one call in its app."""

    name: str
    kind: type | None = None  # what each entry must be, checked as it is added
    entries: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, entry: Any) -> None:
        if self.kind is not None and not isinstance(entry, self.kind):
            raise TypeError(f"{self.name}: {key!r} must be a {self.kind.__name__}, not {entry!r}")
        self.entries[key] = entry

    def get(self, key: str) -> Any | None:
        return self.entries.get(key)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return iter(list(self.entries.items()))


# (visitor, the funnel's current version) -> the version the visitor's new journey starts in.
# Filled by a writer (experiments exposes the person): called once per journey, as it starts.
STARTING_VERSION = Slot("starting version")
# [(journey id, its version id)] -> {journey id: (experiment, variant)} for those in one.
VARIANT_NAMES = Slot("variant names")
# name -> counter(lead ids) -> the lead ids among them that came to that harm.
GUARDRAILS = Registry("guardrail counters")
# (funnel id, email key) -> {variant: Counter(sent, opened, clicked, next_rung, unsubscribed)}.
EMAIL_COUNTS = Slot("email test counts")
# name -> analytics.store.Engine: an analytical engine beside the embedded one.
ENGINES = Registry("analytics engines")
# name -> Job.
JOBS = Registry("worker jobs", Job)

SEAMS = (STARTING_VERSION, VARIANT_NAMES, GUARDRAILS, EMAIL_COUNTS, ENGINES, JOBS)
