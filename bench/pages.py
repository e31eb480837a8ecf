"""Requests per second and latency of the visitor's pages, against a static file of the same server.

    uv run python bench/pages.py [--seconds 8] [--workers 2] [--connections 16 64]
        [--pages entry next optin answer] [--database-url postgres://...]

Starts `yesladder serve` on a fresh data directory with the example funnels loaded (with
--database-url, on that PostgreSQL database, emptied first), then drives it from loopback with
wrk (Debian package `wrk`, a C load generator: an asyncio client would share the two cores
and cap the figure), keep-alive HTTP/1.1, 2 threads:

- **entry**: `GET /f/b2b-ladder/`, each request a new visitor (no cookie): a visitor, a journey
  and a `step_viewed` event are written before the guide is answered;
- **next**: `GET /f/b2b-ladder/checklist/`, a returning visitor (one of 2,000 met before the
  clock starts) on its next step: the journey is read and a `step_viewed` event written;
- **optin**: `POST /f/solo-ad/`, each a new visitor giving a new email from its own address:
  a visitor, a journey, a lead, a consent record, three events, the per-address counter, and
  the double opt-in confirmation email queued;
- **answer**: `POST /f/b2b-ladder/assessment/`, a returning visitor answering a quiz question:
  the journey's answers, an `answered` event and the per-address counter;
- **static**: `GET /static/yesladder/ladder.css` from the same server in the same run, so each
  page's share of what the server can answer at all (its ratio) is a figure the noise of a
  shared machine moves little.

Prints a Markdown table; docs/benchmarks.md keeps the figures.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from yesladder.localserver import local_server

ROOT = Path(__file__).resolve().parent.parent
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
RETURNING = 2_000  # visitors met before the clock starts, for `next` and `answer`

# wrk's Lua: args are the page, the CSRF cookie and token, and the file of visitor ids.
SCRIPT = r"""
local counter, ids, page, cookie, token = 0, {}, "", "", ""
local threads = {}
function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  page, cookie, token = args[1], args[2], args[3]
  if args[4] ~= "" then for line in io.lines(args[4]) do table.insert(ids, line) end end
  math.randomseed(os.time() * 100 + id)
  wrk.headers["User-Agent"] = "UA"
end
local function address()
  return string.format("10.%d.%d.%d", math.random(0, 255), math.random(0, 255),
    math.random(1, 254))
end
local function visitor()
  return ids[math.random(1, #ids)]
end
function request()
  counter = counter + 1
  if page == "entry" then
    return wrk.format("GET", "/f/b2b-ladder/")
  elseif page == "static" then
    return wrk.format("GET", "/static/yesladder/ladder.css")
  elseif page == "next" then
    return wrk.format("GET", "/f/b2b-ladder/checklist/",
      {["Cookie"] = "yl_vid=" .. visitor()})
  end
  local headers = {["Content-Type"] = "application/x-www-form-urlencoded",
                   ["X-Forwarded-For"] = address()}
  if page == "optin" then
    headers["Cookie"] = "csrftoken=" .. cookie
    local body = string.format("csrfmiddlewaretoken=%s&email=b%d.%d.%d%%40example.test",
      token, id, counter, math.random(0, 999999999))
    return wrk.format("POST", "/f/solo-ad/", headers, body)
  end
  headers["Cookie"] = "csrftoken=" .. cookie .. "; yl_vid=" .. visitor()
  local options = {"minutes", "same-day", "days"}
  local body = string.format(
    "csrfmiddlewaretoken=%s&action=answer&question=follow-up&option=%s",
    token, options[math.random(1, 3)])
  return wrk.format("POST", "/f/b2b-ladder/assessment/", headers, body)
end
""".replace('"UA"', f'"{UA}"')

PATHS = {"entry": "entry GET", "next": "next step GET", "optin": "opt-in POST",
         "answer": "quiz answer POST", "static": "static file"}  # fmt: skip


def cli(env: dict, *args) -> str:
    done = subprocess.run([sys.executable, "-m", "yesladder.cli", *args], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    return done.stdout


def prepare(home: str, database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(YESLADDER_HOME=home, YESLADDER_TRUSTED_PROXIES="1", YESLADDER_LOG_LEVEL="ERROR")
    if database_url:
        env["DATABASE_URL"] = database_url
        cli(env, "migrate")
        cli(env, "flush", "--no-input")  # a fresh start in a database used before
    cli(env, "load", *(str(ROOT / "examples" / f) for f in ("b2b-ladder.yaml", "solo-ad.yaml")))
    return env


def _get(url: str, cookie: str = "") -> tuple[str, str]:
    headers = {"User-Agent": UA, **({"Cookie": cookie} if cookie else {})}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:  # noqa: S310
        return " ".join(answer.headers.get_all("Set-Cookie") or []), answer.read().decode()


def csrf_pair(base: str) -> tuple[str, str]:
    """One CSRF cookie and a form token for it; Django accepts the pair for every POST."""
    cookies, html = _get(base + "/f/solo-ad/")
    cookie = re.search(r"csrftoken=([^;]+)", cookies).group(1)
    return cookie, re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def meet_visitors(base: str, count: int) -> list[str]:
    """Visitors who saw the guide before the clock starts: the returning visitors."""

    def one(_) -> str:
        return re.search(r"yl_vid=([^;]+)", _get(base + "/f/b2b-ladder/")[0]).group(1)

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def run_wrk(base: str, page: str, connections: int, seconds: float, extra: list[str]) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(SCRIPT)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", script.name,
             base, "--", page, *extra],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    finally:
        os.unlink(script.name)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _latency(out, "50%"),
        "p99": _latency(out, "99%"),
        "errors": (
            int(errors.group(1)) if errors else 0,
            socket_errors.group(1) if socket_errors else "",
        ),
    }


def _latency(out: str, which: str) -> float:
    value, unit = re.search(rf"{which}\s+([\d.]+)(us|ms|s)", out).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process")
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--pages", nargs="+", choices=[p for p in PATHS if p != "static"],
                        default=["entry", "next", "optin", "answer"])  # fmt: skip
    parser.add_argument("--database-url", default="", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/pages.py needs wrk: apt-get install wrk")
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{os.cpu_count()} cores shared with wrk; {args.seconds:g} s per row; {database}")
    print("| database | workers | page | connections | requests/s | p50 ms | p99 ms | errors |"
          " ÷ static |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|---:|---|---:|")
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as home:
            env = prepare(home, args.database_url)
            serve_env = {k: env[k] for k in env if k.startswith(("YESLADDER_", "DATABASE_URL"))}
            with (
                local_server(serve_env, workers=workers, threads=args.threads) as base,
                tempfile.NamedTemporaryFile("w", suffix=".txt") as ids,
            ):
                ids.write("\n".join(meet_visitors(base, RETURNING)))
                ids.flush()
                cookie, token = csrf_pair(base)
                for connections in args.connections:
                    static = run_wrk(base, "static", connections, args.seconds, ["", "", ""])
                    _row(database, workers, "static", connections, static, static["rps"])
                    for page in args.pages:
                        result = run_wrk(base, page, connections, args.seconds,
                                         [cookie, token, ids.name])  # fmt: skip
                        _row(database, workers, page, connections, result, static["rps"])


def _row(database: str, workers: int, page: str, connections: int, r: dict, static: float):
    errors = f"{r['errors'][0]} {r['errors'][1]}".strip()
    print(
        f"| {database} | {workers} | {PATHS[page]} | {connections} | {r['rps']:,.0f} | "
        f"{r['p50']:.1f} | {r['p99']:.1f} | {errors} | {r['rps'] / static:.2f} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
