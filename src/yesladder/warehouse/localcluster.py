"""A ClickHouse cluster of our own on loopback, for tests and benchmarks: one
`clickhouse-server` process per shard, each with its own config, ports and data directory
under a temporary folder, and a `remote_servers` cluster naming them all. Nothing is started
as a system service."""

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from yesladder.localserver import free_port

CLUSTER = "yesladder_test"
MEMORY = 4_000_000_000  # bytes a query may take on one server
USERS = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>{memory}</max_memory_usage>
    <max_bytes_before_external_group_by>{spill}</max_bytes_before_external_group_by>
  </default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
"""


def server_binary() -> str | None:
    """Debian's package installs the server as /usr/sbin/clickhouse-server, off most PATHs."""
    return shutil.which("clickhouse-server") or (
        "/usr/sbin/clickhouse-server" if Path("/usr/sbin/clickhouse-server").exists() else None
    )


@dataclass
class Node:
    tcp_port: int
    http_port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"clickhouse://127.0.0.1:{self.tcp_port}/yesladder"


@dataclass
class LocalCluster:
    nodes: list[Node] = field(default_factory=list)
    name: str = CLUSTER

    def stop(self, index: int) -> None:
        node = self.nodes[index]
        if node.process is not None:
            node.process.terminate()
            node.process.wait(timeout=60)
            node.process = None

    def start(self, index: int, timeout: float = 60) -> None:
        node = self.nodes[index]
        binary = server_binary()
        log = (node.directory / "stdout.log").open("ab")
        node.process = subprocess.Popen(  # noqa: S603 (the installed server, our own config)
            [binary, f"--config-file={node.directory / 'config.xml'}"],
            cwd=node.directory, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        _wait_for(node, timeout)


def _config(node: Node, shards: list[Node], name: str) -> str:
    replicas = "".join(
        f"<shard><replica><host>127.0.0.1</host><port>{s.tcp_port}</port></replica></shard>"
        for s in shards
    )
    d = node.directory
    return f"""<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/server.log</log><errorlog>{d}/error.log</errorlog>
    <size>10M</size><count>1</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{node.tcp_port}</tcp_port>
  <http_port>{node.http_port}</http_port>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <remote_servers><{name}>{replicas}</{name}></remote_servers>
</yandex>
"""


def _wait_for(node: Node, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.process is not None and node.process.poll() is not None:
            raise RuntimeError(f"clickhouse-server on port {node.tcp_port} exited; see "
                               f"{node.directory}/error.log")  # fmt: skip
        try:
            socket.create_connection(("127.0.0.1", node.tcp_port), 0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"clickhouse-server on port {node.tcp_port} did not start in {timeout} s")


@contextmanager
def local_cluster(root: Path, shards: int = 2, name: str = CLUSTER, memory: int = MEMORY
                  ) -> Iterator[LocalCluster]:  # fmt: skip
    """Start `shards` servers (one shard each) under `root`; stop them on exit. A query may
    take `memory` bytes on each; a GROUP BY past half of it goes on in files on disk."""
    if server_binary() is None:
        raise RuntimeError("clickhouse-server is not installed")
    nodes = []
    for i in range(shards):
        directory = root / f"shard{i + 1}"
        directory.mkdir(parents=True)
        nodes.append(Node(free_port(), free_port(), directory))
    cluster = LocalCluster(nodes, name)
    for node in nodes:
        (node.directory / "config.xml").write_text(_config(node, nodes, name))
        (node.directory / "users.xml").write_text(USERS.format(memory=memory, spill=memory // 2))
    try:
        for i in range(shards):
            cluster.start(i)
        yield cluster
    finally:
        for i in range(shards):
            cluster.stop(i)
