"""A two-shard ClickHouse cluster of real `clickhouse-server` processes for the whole test
session, and a fresh database on it per test."""

import itertools
import json

import pytest

from yesladder.warehouse.config import parse
from yesladder.warehouse.localcluster import local_cluster, server_binary

_names = itertools.count(1)


@pytest.fixture(scope="session")
def clickhouse_cluster(tmp_path_factory):
    if server_binary() is None:
        pytest.skip("clickhouse-server is not installed (apt-get install clickhouse-server; "
                    ".ci/run does it)")  # fmt: skip
    with local_cluster(tmp_path_factory.mktemp("clickhouse")) as cluster:
        yield cluster


@pytest.fixture
def clickhouse(clickhouse_cluster, settings):
    """The store configured as a user would: the first shard's address and the cluster name;
    `yesladder clickhouse init` made its tables."""
    from yesladder.warehouse import services

    node = clickhouse_cluster.nodes[0]
    found = parse(f"clickhouse://127.0.0.1:{node.tcp_port}/t{next(_names)}",
                  clickhouse_cluster.name)  # fmt: skip
    settings.CLICKHOUSE = found
    services.init(found)
    return found


def on_current_clickhouse(settings, sql: str, params: dict) -> list[tuple]:
    """`sql` run on current ClickHouse (chdb, in process) over a copy of every row shipped to
    the store: the same query the cluster answered, on today's release."""
    chdb = pytest.importorskip("chdb.session")
    from clickhouse_driver import Client

    from yesladder.warehouse import schema
    from yesladder.warehouse.client import connect

    session = chdb.Session()
    offline = Client("localhost")
    source = connect(settings)
    for statement in schema.statements(settings.database, ""):
        session.query(statement)
    for name in schema.TABLES:
        rows = source.execute(f"SELECT * FROM {settings.database}.{name}")
        if not rows:
            continue
        values = ", ".join(offline.substitute_params("%(r)s", {"r": tuple(r)}, None)
                           for r in rows)  # fmt: skip
        session.query(f"INSERT INTO {settings.database}.{name}_local VALUES {values}")
    text = offline.substitute_params(sql, params, None)
    found = session.query(
        text + " SETTINGS optimize_move_to_prewhere = 0, "
        "output_format_json_quote_64bit_integers = 0",
        "JSONCompact",
    )
    return [tuple(row) for row in json.loads(str(found))["data"]]
