"""Which store the checkpoint belongs to, and starting again safely.

Every shard keeps the store's identity (schema.IDENTITY): a store id made by the first `init`
and a generation. The checkpoint (in the primary database) records the identity it shipped to.
A shipper compares the two before it ships anything:

- the same: ship what is new;
- the store carries another identity (a new database, tables dropped and made again by
  `init`, another store behind the address): ship everything from the start, with a line
  saying so;
- the shards disagree (a shard restored from elsewhere, a shard made anew): start again from
  scratch, as `sync --from-scratch` does, with a line saying so.

`sync --from-scratch` is safe to interrupt at every step: it first records in the primary
database that a rebuild is under way (the checkpoint back at the start, the store unknown),
then drops the tables on each shard, makes them again with the next generation, and only then
records the new identity and forgets the erasures the drop made moot. Whoever ships next
(`sync`, the worker) finds the mark and does the rebuild again from its first step: dropping
twice is harmless, and nothing is ever "caught up" in between.
"""

import uuid
from functools import partial

from django.db import transaction

from yesladder.warehouse import schema
from yesladder.warehouse.client import WarehouseError, ask, connect, run, shards
from yesladder.warehouse.config import Settings
from yesladder.warehouse.models import Checkpoint, Erasure

EVENTS, IDENTITIES = "events", "identities"


def reached(step: str) -> None:
    """A point between two steps of a rebuild (the tests inject faults here)."""


# --- the identity on the shards --------------------------------------------------------------


def read(servers: list[Settings], create: bool = True) -> list[tuple[str, int] | None]:
    """Each shard's identity (store id, generation), None where it has none (its table made
    first when `create`)."""
    found = []
    for shard in servers:
        client = connect(shard, database=False)
        if create:
            run(client, shard, schema.IDENTITY.format(db=shard.database))
        elif not run(client, shard, "SELECT count() FROM system.tables WHERE database = %(db)s "
                     "AND name = 'store_identity'", {"db": shard.database})[0][0]:  # fmt: skip
            found.append(None)
            continue
        rows = run(client, shard,
                   f"SELECT store_id, generation FROM {shard.database}.store_identity "  # noqa: S608
                   "ORDER BY generation DESC, at DESC LIMIT 1")  # fmt: skip
        found.append((rows[0][0], int(rows[0][1])) if rows else None)
    return found


def write(servers: list[Settings], identity: tuple[str, int]) -> None:
    for shard in servers:
        client = connect(shard, database=False)
        run(client, shard, schema.IDENTITY.format(db=shard.database))
        run(client, shard, f"INSERT INTO {shard.database}.store_identity "  # noqa: S608
            "(store_id, generation, at) SELECT %(id)s, %(generation)s, now()",
            {"id": identity[0], "generation": identity[1]})  # fmt: skip


def named(identity: tuple[str, int] | None) -> str:
    return f"{identity[0]}:{identity[1]}" if identity else ""


def following(found: list[tuple[str, int] | None]) -> tuple[str, int]:
    """The next generation of the store the shards name (a new store when none does)."""
    known = [i for i in found if i]
    if not known:
        return uuid.uuid4().hex, 1
    newest = max(known, key=lambda i: i[1])
    return newest[0], newest[1] + 1


def recorded() -> str:
    """The identity the checkpoint shipped to ("" when none yet)."""
    mark = Checkpoint.objects.filter(stream=EVENTS).first()
    return mark.store if mark else ""


def mismatch(servers: list[Settings]) -> str:
    """Why the checkpoint does not describe this store ("" when it does), without changing
    anything: a rebuild under way, shards that disagree, another store or generation."""
    if pending():
        return ("a `sync --from-scratch` was interrupted: the next sync (or the worker) "
                "finishes it")  # fmt: skip
    found = read(servers, create=False)
    mark = Checkpoint.objects.filter(stream=EVENTS).first()
    fresh = mark is None or (not mark.store and not mark.position)
    if len({named(i) for i in found}) > 1:
        return (f"the shards do not carry one identity ({_listed(servers, found)}): the next "
                "sync starts again from scratch")  # fmt: skip
    if fresh or named(found[0]) == mark.store:
        return ""
    return (f"the store carries {named(found[0]) or 'no identity'}, the checkpoint was "
            f"shipped to {mark.store or 'a store without one'}: the next sync ships every "
            "event again from the start")  # fmt: skip


def _listed(servers: list[Settings], found: list) -> str:
    return ", ".join(
        f"{s.host}:{s.port} {named(i) or 'none'}" for s, i in zip(servers, found, strict=True)
    )


def settle(settings: Settings, servers: list[Settings]) -> str:
    """Make the checkpoint belong to the store the shards name before shipping (the caller
    holds the shipping turn): a line saying what was done when it did not already."""
    found = read(servers)
    if not any(found):  # made before identities (or by hand): this is its first
        write(servers, following(found))
        found = read(servers)
    if len({named(i) for i in found}) > 1:
        listed = _listed(servers, found)
        mark_rebuild()
        rebuild(settings)
        return (f"the shards did not carry one identity ({listed}): a shard restored from "
                "elsewhere or made anew; started again from scratch (tables dropped and made "
                "again), shipping every event from the start")  # fmt: skip
    mark = Checkpoint.objects.filter(stream=EVENTS).first()
    if mark is not None and mark.store == named(found[0]):
        return ""
    fresh = mark is None or (not mark.store and not mark.position)
    before = (mark.store if mark else "") or "no store recorded"
    record(found[0], reset=not fresh)
    if fresh:
        return ""
    return (f"the store at {settings.where()} is {named(found[0])}, not the one the checkpoint "
            f"was shipped to ({before}): a new database, tables made again, or another store; "
            "shipping every event again from the start")  # fmt: skip


# --- init ------------------------------------------------------------------------------------


def init(settings: Settings) -> list[str]:
    """Create the database and tables on every shard (again is harmless) and the store's
    identity: a new store the first time; the next generation when a data table had to be
    made again on a shard that was shipped to (its rows are gone: the next sync ships all)."""
    problem = ask(settings)
    if problem:
        raise WarehouseError(problem)
    servers = shards(settings)
    problems = [ask(shard, n + 1) for n, shard in enumerate(servers) if settings.cluster]
    if any(problems):
        raise WarehouseError("; ".join(p for p in problems if p))
    made_again = False
    for shard in servers:
        client = connect(shard, database=False)
        had = {r[0] for r in run(client, shard, "SELECT name FROM system.tables WHERE "
                                 "database = %(db)s", {"db": shard.database})}  # fmt: skip
        for statement in schema.statements(settings.database, settings.cluster):
            run(client, shard, statement)
        for statement in schema.added(
            settings.database, settings.cluster, partial(_has, client, shard)
        ):
            run(client, shard, statement)
        made_again |= "store_identity" in had and not {f"{t}_local" for t in schema.TABLES} <= had
    found = read(servers)
    if made_again or len({named(i) for i in found}) > 1 or not all(found):
        write(servers, following(found))
    return [f"{shard.host}:{shard.port}" for shard in servers]


def _has(client, shard: Settings, table: str, column: str) -> bool:
    return bool(run(client, shard, "SELECT count() FROM system.columns WHERE database = %(db)s "
                    "AND table = %(t)s AND name = %(c)s",
                    {"db": shard.database, "t": table, "c": column})[0][0])  # fmt: skip


# --- starting again --------------------------------------------------------------------------


def mark_rebuild() -> None:
    """The first step of `sync --from-scratch`, in the primary database: the checkpoint back at
    the start and a rebuild under way, so an interruption is finished by the next shipper."""
    with transaction.atomic():
        for stream in (EVENTS, IDENTITIES):
            Checkpoint.objects.get_or_create(stream=stream)
        Checkpoint.objects.filter(stream=EVENTS).update(position=0, store="", rebuild=True)
    reached("marked")


def pending() -> bool:
    return Checkpoint.objects.filter(stream=EVENTS, rebuild=True).exists()


def rebuild(settings: Settings) -> tuple[str, int]:
    """Drop the store's tables on every shard, make them again under the next generation, then
    record it (the caller holds the shipping turn; mark_rebuild came first)."""
    servers = shards(settings)
    before = read(servers)
    for number, shard in enumerate(servers, 1):
        client = connect(shard, database=False)
        for name in schema.TABLES:
            run(client, shard, f"DROP TABLE IF EXISTS {settings.database}.{name}")
            run(client, shard, f"DROP TABLE IF EXISTS {settings.database}.{name}_local")
        reached(f"dropped {number}")
    for shard in servers:
        client = connect(shard, database=False)
        for statement in schema.statements(settings.database, settings.cluster):
            run(client, shard, statement)
    reached("made")
    identity = following(before)
    write(servers, identity)
    reached("identity")
    record(identity, reset=True)
    reached("recorded")
    return identity


def record(identity: tuple[str, int], reset: bool) -> None:
    """The checkpoint belongs to this store from now on. `reset`: events are shipped from the
    first (identity changes not shipped yet stay: their stream goes on where it is, and every
    event is read again as it stands now). Erasures: after a rebuild the rows went with the
    tables; otherwise each is asked of every shard again."""
    with transaction.atomic():
        for stream in (EVENTS, IDENTITIES):
            Checkpoint.objects.get_or_create(stream=stream)
        if reset:
            Checkpoint.objects.filter(stream=EVENTS).update(position=0)
            if pending():
                Erasure.objects.all().delete()
            else:
                Erasure.objects.update(issued={})
        Checkpoint.objects.update(store=named(identity), rebuild=False, error="")
