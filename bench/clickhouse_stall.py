"""Pages, opt-ins and the tracking API while the ClickHouse store stalls (THREAT 33).

    uv run python bench/clickhouse_stall.py [--seconds 10] [--threads 3]

Starts a two-shard cluster of Debian's clickhouse-server on loopback and `yesladder serve` on
the embedded default (SQLite) with its worker shipping every second (timeouts 1 s to connect,
1.5 s to answer), then drives entry pages, opt-ins and tracking API batches from a few threads
(tests/stall_load.py) in phases of `--seconds` each: no store set up, the store healthy,
shard 2 frozen with SIGSTOP, and the store's URL at ClickHouse's HTTP port (a server started
again on the same data for each setting). Prints a Markdown table of p50 / p99 / max per
phase; docs/scale.md keeps the figures.
A bounded loop, not a load test: the figures move with whatever else shares the machine.
"""

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stall_load import KINDS, Load, prepare  # noqa: E402

TIMEOUTS = {"YESLADDER_CLICKHOUSE_CONNECT_TIMEOUT": "1", "YESLADDER_CLICKHOUSE_TIMEOUT": "1.5",
            "YESLADDER_CLICKHOUSE_SHIP_SECONDS": "1"}  # fmt: skip


def row(phase: str, load: Load) -> None:
    for kind in KINDS:
        found = sorted(load.timings[kind])
        if not found:
            continue
        p50 = found[len(found) // 2] * 1000
        print(f"| {phase} | {kind} | {len(found)} | {p50:.0f} | {load.p99(kind) * 1000:.0f} | "
              f"{found[-1] * 1000:.0f} | {len(load.failed)} |", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yesladder.settings")
    import django

    django.setup()
    from yesladder.localserver import local_server
    from yesladder.warehouse import services
    from yesladder.warehouse.config import parse
    from yesladder.warehouse.localcluster import local_cluster, server_binary

    if server_binary() is None:
        sys.exit("clickhouse-server is not installed (apt-get install clickhouse-server)")
    print(f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.threads} threads, "
          f"{args.seconds:g} s per phase; SQLite")  # fmt: skip
    print("| phase | request | n | p50 ms | p99 ms | max ms | failed |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as root, local_cluster(Path(root) / "ch") as cluster:
        node, frozen = cluster.nodes
        url = f"clickhouse://127.0.0.1:{node.tcp_port}/stall"
        store = {"YESLADDER_CLICKHOUSE_URL": url, "YESLADDER_CLICKHOUSE_CLUSTER": cluster.name,
                 **TIMEOUTS}  # fmt: skip
        home = Path(root) / "home"
        env, served, key = prepare(home, store)
        services.init(parse(url, cluster.name))
        bare = {k: v for k, v in served.items() if "CLICKHOUSE" not in k}
        with local_server(bare) as base:
            Load(base, key).run(2, args.threads)  # warm
            row("no store", Load(base, key).run(args.seconds, args.threads))
        with local_server(served) as base:
            Load(base, key).run(2, args.threads)  # warm
            row("store healthy", Load(base, key).run(args.seconds, args.threads))
            os.kill(frozen.process.pid, signal.SIGSTOP)
            try:
                row("shard 2 frozen (SIGSTOP)", Load(base, key).run(args.seconds, args.threads))
            finally:
                os.kill(frozen.process.pid, signal.SIGCONT)
            time.sleep(3)
        served["YESLADDER_CLICKHOUSE_URL"] = f"clickhouse://127.0.0.1:{node.http_port}/stall"
        with local_server(served) as base:
            Load(base, key).run(2, args.threads)  # warm
            row("URL at the HTTP port", Load(base, key).run(args.seconds, args.threads))
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
