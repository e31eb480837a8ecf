"""The store's tables, on one server or on every shard of a cluster (pure SQL text).

Each shard keeps its own rows in `*_local` tables; with a cluster, `events` and `identities`
are Distributed tables over them, sharded by the person, so every row of one person (lead or
still anonymous visitor) lands on one shard and per-person funnels never cross shards.

Rows are replaced, never updated: ReplacingMergeTree keeps, per sort key, the row with the
highest `shipped` (a number that grows with every shipping), and queries read with FINAL, so a
batch shipped twice or a crash between insert and checkpoint counts once. When a visitor
becomes part of a lead after its events were shipped, its rows are shipped again under the
lead (to the lead's shard) and a tombstone (`deleted` = 1) replaces the visitor's old copy.
Experiment exposures (the denominator of results, one per visitor and experiment) travel
with their visitor's events, under the same person, so results join them on their shard.
"""

from collections.abc import Callable

EVENTS = """
CREATE TABLE IF NOT EXISTS {db}.events_local (
    funnel_id UInt32, person String, event_id UInt64, version_id UInt32,
    visitor String, name String, label String, step String,
    at UInt64,
    opted UInt8, engaged UInt8, revenue Int64,
    source String, medium String, campaign String,
    shipped UInt64, deleted UInt8, tier String
) ENGINE = ReplacingMergeTree(shipped) ORDER BY (funnel_id, person, event_id)
"""
# Columns added since the first release, which `init` adds to a store made before them (18.16
# has no ADD COLUMN IF NOT EXISTS): table, column, type. Rows shipped before keep the column's
# default until `sync --from-scratch` ships them again.
ADDED = (("events", "tier", "String"),)  # a scored quiz's tier (issue 32)
IDENTITIES = """
CREATE TABLE IF NOT EXISTS {db}.identities_local (
    person String, visitor String,
    created UInt64, source String, medium String, campaign String, device String,
    shipped UInt64, deleted UInt8
) ENGINE = ReplacingMergeTree(shipped) ORDER BY (person, visitor)
"""
EXPOSURES = """
CREATE TABLE IF NOT EXISTS {db}.exposures_local (
    experiment_id UInt32, person String, visitor String, variant String, version_id UInt32,
    counted UInt8, shipped UInt64, deleted UInt8
) ENGINE = ReplacingMergeTree(shipped) ORDER BY (experiment_id, person, visitor)
"""
DISTRIBUTED = """
CREATE TABLE IF NOT EXISTS {db}.{table} AS {db}.{table}_local
ENGINE = Distributed({cluster}, {db}, {table}_local, cityHash64(person))
"""
# The store's identity, on every shard: which store this is (an id made by the first `init`)
# and its generation (one more at every `sync --from-scratch` and whenever `init` has to make
# a data table anew). The checkpoint in the primary database records the identity it shipped
# to; a store that does not carry it is shipped from the start (warehouse.identity).
IDENTITY = """
CREATE TABLE IF NOT EXISTS {db}.store_identity (
    store_id String, generation UInt32, at DateTime
) ENGINE = MergeTree ORDER BY generation
"""
TABLES = ("events", "identities", "exposures")
EVENT_COLUMNS = ("funnel_id", "person", "event_id", "version_id", "visitor", "name", "label",
                 "step", "at", "opted", "engaged", "revenue", "source", "medium", "campaign",
                 "tier", "shipped", "deleted")  # fmt: skip
IDENTITY_COLUMNS = ("person", "visitor", "created", "source", "medium", "campaign", "device",
                    "shipped", "deleted")  # fmt: skip
EXPOSURE_COLUMNS = ("experiment_id", "person", "visitor", "variant", "version_id", "counted",
                    "shipped", "deleted")  # fmt: skip


def statements(db: str, cluster: str) -> list[str]:
    """What `init` runs on each server (names were checked by warehouse.config)."""
    found = [f"CREATE DATABASE IF NOT EXISTS {db}", EVENTS.format(db=db),
             IDENTITIES.format(db=db), EXPOSURES.format(db=db), IDENTITY.format(db=db)]  # fmt: skip
    if cluster:
        found += [DISTRIBUTED.format(db=db, table=t, cluster=cluster) for t in TABLES]
    return found


def added(db: str, cluster: str, has: Callable[[str, str], bool]) -> list[str]:
    """What `init` runs to add the columns a store made by an earlier release lacks (`has`
    says whether a table has a column)."""
    found = []
    for name, column, kind in ADDED:
        for table in [f"{name}_local", *([name] if cluster else [])]:
            if not has(table, column):
                found.append(f"ALTER TABLE {db}.{table} ADD COLUMN {column} {kind}")
    return found


def table(name: str, cluster: str) -> str:
    """What to read and write: the Distributed table on a cluster, else the local one."""
    return name if cluster else f"{name}_local"


def insert_sql(db: str, name: str, cluster: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {db}.{table(name, cluster)} ({', '.join(columns)}) VALUES"
