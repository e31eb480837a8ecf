"""Who reacts to what the event log and the lead records are told, in which order and when.

Writers announce a moment (`announce(RECORDED, events=...)`) and never know who listens; the
parts that react register in their AppConfig.ready, once, with an order. Adding a reactor is
one registration and no edit to any writer. This module sits at the bottom of the house: it
imports nothing of the apps, so every part may use it.

Two kinds of reactor:
- **in the transaction** (the default): called at once, inside the writer's transaction, in
  ascending `order`. What must never be seen apart from the event goes here: per-person progress
  and rollups (a report never sees an event without its progress), and decisions that are
  themselves rows (an enrollment, an outbox message, a webhook delivery), which commit with the
  event or not at all.
- **after commit**: handed to `transaction.on_commit`, in the same order, so nothing is sent or
  called out for a write that was rolled back, and no lock is held while it runs.

The moments, with what they carry (keyword arguments):

| moment | when | carries |
|---|---|---|
| RECORDED | new events are in the log, as written | events |
| SETTLED | a writer's new events once its identities are settled (stitching done) | events |
| STITCHED | a visitor's history joined a lead | visitor, events (that were anonymous), joined |
| REWRITTEN | a visitor's history was rewritten (moved in time) | visitor |
| ERASED | a lead is being erased (its rows still there, gone at commit) | lead, visitors, events |
| LEAD_CREATED | a lead is new (its profile filled) | lead |
| LEAD_UPDATED | a lead's profile changed | lead, changed |
| PROGRESS_MOVED | people's Progress rows changed standing (analytics) | moves: (before, after) |
| PROGRESS_RECOUNTED | Progress rows about to be counted again | funnel_key (None: all) |

STITCHED's `joined` is False when the lead was the visitor's already (identified again).
ERASED's `events` are the ids of the lead's events made on devices now another lead's.

A single recorded event is RECORDED then SETTLED at once. Inside a request
(`tracking.services.reacting_together`: pages, the tracking API's batch, payments, bookings)
every writer's events go the same way, each heard once: RECORDED as written, STITCHED if the
request stitches (after its events so far were heard; it carries only the visitor's earlier
events), SETTLED at the request's end with the leads the stitches gave them.

The runtime seams that are lookups rather than moments live beside this module, in
`yesladder.seams`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.db import transaction

RECORDED = "recorded"
SETTLED = "settled"
STITCHED = "stitched"
REWRITTEN = "rewritten"
ERASED = "erased"
LEAD_CREATED = "lead created"
LEAD_UPDATED = "lead updated"
PROGRESS_MOVED = "progress moved"
PROGRESS_RECOUNTED = "progress recounted"
MOMENTS = (RECORDED, SETTLED, STITCHED, REWRITTEN, ERASED, LEAD_CREATED, LEAD_UPDATED,
           PROGRESS_MOVED, PROGRESS_RECOUNTED)  # fmt: skip


@dataclass(frozen=True)
class Reactor:
    moment: str
    name: str  # dotted path of the callable, for the map and for errors
    order: int
    react: Callable[..., None]
    after_commit: bool = False


_reactors: dict[str, tuple[Reactor, ...]] = {moment: () for moment in MOMENTS}


def register(moment: str, react: Callable[..., None], *, order: int, after_commit=False) -> None:
    """Call `react(**what)` at every `announce(moment, **what)`. Registering the same callable
    twice for a moment is a no-op (AppConfig.ready may run more than once in tests)."""
    if moment not in _reactors:
        raise ValueError(f"unknown moment {moment!r}; one of {', '.join(MOMENTS)}")
    name = f"{react.__module__}.{react.__qualname__}"
    if any(r.name == name for r in _reactors[moment]):
        return
    reactor = Reactor(moment, name, order, react, after_commit)
    _reactors[moment] = tuple(sorted((*_reactors[moment], reactor), key=lambda r: r.order))


def announce(moment: str, **what) -> None:
    for reactor in _reactors[moment]:
        if reactor.after_commit:
            transaction.on_commit(partial(reactor.react, **what))
        else:
            reactor.react(**what)


def reactors(moment: str) -> tuple[Reactor, ...]:
    """Who reacts to `moment`, in order (for the map in the docs and its test)."""
    return _reactors[moment]
