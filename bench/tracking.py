"""Events per second and latency of the tracking API (`/v1/track`, `/v1/batch`).

    uv run python bench/tracking.py [--seconds 10] [--batch 1 100] [--connections 16 64]
        [--workers 1 2] [--threads 4] [--database-url postgres://...]

Starts `yesladder serve` on a fresh data directory with the b2b-ladder example loaded and a
write key, then drives it with wrk (Debian package `wrk`, a C load generator, so the client costs
little of the two cores it shares with the server). Every message has a new random message id
(UUID v4, as the libraries make them); the anonymous ids cycle through 10,000 visitors; one
message in 20 is a step action (`step_viewed` of b2b-ladder's guide), so journeys are kept
current along the way. The site's own budget is
lifted for the run (YESLADDER_API_EVENTS_PER_SECOND); each visitor's budget stays as shipped.
With --database-url the server writes to that PostgreSQL database (its tables are created).
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from yesladder.localserver import local_server

ROOT = Path(__file__).resolve().parent.parent
VISITORS = 10_000  # the anonymous ids the messages go through (SCRIPT's modulus)

# wrk's Lua: each message a new random message id, as Segment's libraries make them (UUID v4:
# random keys cost the unique index a page write each, where ordered ones would share pages).
SCRIPT = r"""
local counter, thread_id = 0, 0
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  thread_id = id
  math.randomseed(os.time() * 100 + id)
  batch = tonumber(args[1])
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = args[2]
end
local function uuid4()
  return string.format("%08x-%04x-4%03x-%04x-%04x%08x", math.random(0, 0xffffffff),
    math.random(0, 0xffff), math.random(0, 0xfff), math.random(0x8000, 0xbfff),
    math.random(0, 0xffff), math.random(0, 0xffffffff))
end
local function message(n)
  local visitor = (thread_id * 7919 + (counter * batch + n) * 7) % 10000  -- 10,000 over the threads
  local ids = string.format('"messageId":"%s","anonymousId":"v%d"', uuid4(), visitor)
  if n % 20 == 0 then
    return '{"type":"track","event":"step_viewed",' .. ids ..
      ',"properties":{"funnel":"b2b-ladder","step":"guide"}}'
  end
  return '{"type":"track","event":"Scrolled",' .. ids .. ',"properties":{"depth":50}}'
end
function request()
  counter = counter + 1
  if batch == 1 then
    return wrk.format(nil, "/v1/track", nil, message(counter))
  end
  local parts = {}
  for n = 1, batch do parts[n] = message(n) end
  return wrk.format(nil, "/v1/batch", nil, '{"batch":[' .. table.concat(parts, ",") .. ']}')
end
"""


def cli(env: dict, *args) -> str:
    done = subprocess.run([sys.executable, "-m", "yesladder.cli", *args], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout


def prepare(home: str, database_url: str) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(YESLADDER_HOME=home, YESLADDER_API_EVENTS_PER_SECOND="10000000",
               YESLADDER_API_BURST="10000000")  # fmt: skip
    if database_url:
        env["DATABASE_URL"] = database_url
        cli(env, "migrate")
        cli(env, "flush", "--no-input")  # a fresh start in a database used before
    cli(env, "load", str(ROOT / "examples" / "b2b-ladder.yaml"))
    key = cli(env, "writekey", "create", "bench").split("Write key for bench: ")[1].split()[0]
    return env, key


def meet_visitors(base: str, key: str) -> None:
    """Every visitor's first page view, before the clock starts: most events on a site come from
    visitors it has seen before (their first one costs a visitor row; `--new-visitors` times
    that instead)."""
    import base64
    import json
    import urllib.request

    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    for start in range(0, VISITORS, 100):
        batch = [{"type": "page", "name": "Home", "anonymousId": f"v{n}",
                  "messageId": f"first-{n}"} for n in range(start, start + 100)]  # fmt: skip
        request = urllib.request.Request(
            base + "/v1/batch", json.dumps({"batch": batch}).encode(),
            {"Content-Type": "application/json", "Authorization": auth},
        )  # fmt: skip
        urllib.request.urlopen(request, timeout=60).close()  # noqa: S310 (loopback, http)


def run_wrk(base: str, key: str, batch: int, connections: int, seconds: int) -> dict:
    import base64

    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(SCRIPT)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name,
         base, "--", str(batch), auth],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests/s": rps,
        "events/s": rps * batch,
        "p50": _latency(out, "50%"),
        "p99": _latency(out, "99%"),
        "non-2xx": int(errors.group(1)) if errors else 0,
        "socket errors": socket_errors.group(1) if socket_errors else "",
    }


def _latency(out: str, which: str) -> float:
    value, unit = re.search(rf"{which}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=4, help="threads per worker process")
    parser.add_argument("--database-url", default="", help="PostgreSQL instead of SQLite")
    parser.add_argument("--new-visitors", action="store_true",
                        help="do not show the server the visitors first: the timed messages "
                        "make them (a visitor's first event, the dearest)")  # fmt: skip
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/tracking.py needs wrk: apt-get install wrk")
    database = "PostgreSQL" if args.database_url else "SQLite"
    print("| database | workers | batch | connections | requests/s | events/s | p50 ms | p99 ms"
          " | non-2xx |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as home:
            env, key = prepare(home, args.database_url)
            serve_env = {k: env[k] for k in env if k.startswith(("YESLADDER_", "DATABASE_URL"))}
            with local_server(serve_env, workers=workers, threads=args.threads) as base:
                if not args.new_visitors:
                    meet_visitors(base, key)
                for batch in args.batch:
                    for connections in args.connections:
                        r = run_wrk(base, key, batch, connections, args.seconds)
                        print(f"| {database} | {workers} | {batch} | {connections} | "
                              f"{r['requests/s']:,.0f} | {r['events/s']:,.0f} | {r['p50']:.1f} | "
                              f"{r['p99']:.1f} | {r['non-2xx']} {r['socket errors']} |",
                              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
