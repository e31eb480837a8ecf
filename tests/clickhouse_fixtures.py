"""A two-shard ClickHouse cluster of real `clickhouse-server` processes for the whole test
session, and a fresh database on it per test."""

import itertools

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
