"""The `yesladder` command.

`lint` and `init` work on files only and start without Django (fast, no data directory
touched); every other command is a Django management command run with yesladder's settings.
"""

import argparse
import json
import os
import re
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from yesladder import __version__

USAGE = f"""yesladder {__version__}: build, serve, measure and improve micro-commitment funnels.

Start here:
  yesladder demo                   load the examples, simulate visitors, create a staff user,
                                   serve on http://127.0.0.1:8000 (--port, --visitors)
Funnel files:
  yesladder init DIR               scaffold a funnel project with a commented funnel.yaml
  yesladder lint FILE|DIR...       audit funnels against the micro-commitment rules
                                   (--format json, --ladder, --rules, --disable YL004)
Database (the embedded default needs no set-up; DATABASE_URL selects PostgreSQL):
  yesladder load FILE...           validate and store funnels; a changed file makes a new version
  yesladder export FUNNEL          write a stored version back to a file (--version N); `load`
                                   refuses a file older than a dashboard edit (--force)
  yesladder funnels                list stored funnels and their versions
  yesladder serve                  serve pages and admin (production server; --port, --workers)
  yesladder simulate FUNNEL        synthetic visitors through the real pages over HTTP
                                   (--visitors N --url URL --chance [STEP=]P --days D)
  yesladder writekey create SITE   a write key for a site's tracking snippet or API
                                   (--origin URL; also: list, revoke KEY, origins SITE)
  yesladder charges                charge the instalments and phases that are due (cron-safe)
Analytics:
  yesladder report FUNNEL          where the ladder leaks, why, what to fix first (--since D
                                   --until D --by source|medium|campaign|vendor|version|
                                   cohort|device --touch first|last --format text|json|csv
                                   --chart FILE.png|FILE.svg)
  yesladder costs import FILE      traffic costs per source and day (also: add, list)
  yesladder recount [FUNNEL]       rebuild report rows from the event log
Follow-ups (automations, the outbox, CRM webhooks):
  yesladder worker                 send the outbox, run timed automations, deliver webhooks,
                                   collect due charges (--once for cron; `serve` starts
                                   one itself on the embedded default)
  yesladder hooks add URL          subscribe a CRM to lead and step events (--topic T;
                                   also: list, remove ID, deliveries [--dead])
  yesladder bounce FILE...         read bounce reports (.eml; - for stdin), suppress addresses
Running an installation (docs/deploy.md):
  yesladder check --deploy         production checks, each with what to do (--format json)
  yesladder backup                 a consistent backup while the site serves (--to DIR)
  yesladder restore FILE           into an empty database and data directory, checked
  yesladder deploy systemd|caddy   write the systemd units, environment file, Caddyfile
  yesladder migrate                create or update the database tables
  yesladder createsuperuser        create a staff account for the dashboard and admin

Every Django management command works too: `yesladder help` lists them.
"""

EXIT_OK, EXIT_ERRORS, EXIT_INVALID = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return EXIT_OK
    if argv[0] in ("--version", "version"):
        print(f"yesladder {__version__}")
        return EXIT_OK
    if argv[0] == "lint":
        return lint_command(argv[1:])
    if argv[0] == "init":
        return init_command(argv[1:])
    return django_command(argv)


def django_command(argv: list[str]) -> int:
    """A Django management command with yesladder's settings. A bad setting, a bad option or a
    database that does not answer is one line on stderr (what, and an example of a good value)
    and a non-zero exit, never a traceback; YESLADDER_DEBUG=1 shows the traceback."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yesladder.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import DatabaseError

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 (reads the settings: every variable is checked)
    except ImproperlyConfigured as exc:
        print(f"yesladder: {exc}", file=sys.stderr)
        return EXIT_INVALID
    _one_line_option_errors()
    try:
        execute_from_command_line(["yesladder", *argv])
    except DatabaseError as exc:
        if settings.DEBUG:
            raise
        print(f"yesladder: the database did not answer: {_first_line(exc)}"
              f"{_hint(exc)}", file=sys.stderr)  # fmt: skip
        return EXIT_ERRORS
    except KeyboardInterrupt:
        print("yesladder: interrupted", file=sys.stderr)
        return 130
    return EXIT_OK


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _hint(exc: BaseException) -> str:
    if "locked" in str(exc):
        return ("; another process held SQLite's write lock longer than "
                "YESLADDER_SQLITE_TIMEOUT seconds: try again, or raise it, e.g. "
                "YESLADDER_SQLITE_TIMEOUT=60")  # fmt: skip
    return "; check DATABASE_URL and that the database runs (`yesladder migrate` makes its tables)"


def _one_line_option_errors() -> None:
    """A bad option of a management command is one line, naming the option (argparse prints
    the whole usage first; `--help` still shows it)."""
    from django.core.management.base import CommandError, CommandParser

    def error(parser: CommandParser, message: str):
        if not getattr(parser, "called_from_command_line", False):
            raise CommandError(f"Error: {message}")
        parser.exit(EXIT_INVALID, f"{parser.prog}: {message} (see {parser.prog} --help)\n")

    CommandParser.error = error


class OneLineParser(argparse.ArgumentParser):
    """A bad option is one line naming it (`--help` shows the usage)."""

    def error(self, message: str):
        self.exit(EXIT_INVALID, f"{self.prog}: {message} (see {self.prog} --help)\n")


# --- lint ------------------------------------------------------------------------------------


def lint_command(argv: list[str]) -> int:
    from yesladder.funnels import lint
    from yesladder.funnels.spec import SpecError, read_spec
    from yesladder.funnels.spec.files import missing_files

    parser = OneLineParser(
        prog="yesladder lint", description="Audit funnel specs against the ladder rules."
    )
    parser.add_argument("paths", nargs="*", type=Path, help="funnel YAML files or folders")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    parser.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="RULE",
        help="switch a rule off for this run (repeatable, e.g. YL004)",
    )
    parser.add_argument(
        "--ladder", action="store_true", help="also show each step's commitment cost"
    )
    parser.add_argument("--rules", action="store_true", help="list the rules and exit")
    args = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    if args.rules:
        _print_rules(console, lint.RULES)
        return EXIT_OK
    unknown = [r for r in args.disable if r not in lint.RULES]
    if unknown or not args.paths:
        parser.error(
            f"unknown rule id(s): {', '.join(unknown)}"
            if unknown
            else "give at least one funnel file or folder"
        )

    findings, problems, ladders = [], [], []
    for path in _spec_files(args.paths):
        try:
            sourced = read_spec(path)
            lint.check_settings(sourced)
        except SpecError as exc:
            problems += exc.problems
            continue
        problems += missing_files(sourced)
        findings += lint.lint(sourced, disable=args.disable)
        ladders.append(sourced)

    if args.format == "json":
        rows = [f.as_dict() for f in findings] + [_problem_row(p) for p in problems]
        print(json.dumps(rows, indent=2))
    else:
        _print_text(console, findings, problems, ladders, args.ladder)
    if problems:
        return EXIT_INVALID
    return EXIT_ERRORS if any(f.severity == lint.ERROR for f in findings) else EXIT_OK


def _spec_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        else:
            files.append(path)
    return files


def _problem_row(problem) -> dict:
    return {"rule": "spec", "severity": "error", "funnel": None, "step": None,
            "line": problem.line, "message": f"{problem.field}: {problem.message}"
            if problem.field else problem.message,
            "hint": "fix the spec; see docs/funnel-spec.md", "file": problem.file}  # fmt: skip


def _print_text(console: Console, findings, problems, ladders, show_ladder: bool) -> None:
    style = {"error": "bold red", "warning": "yellow"}
    for problem in problems:
        console.print(f"{problem} [red](invalid funnel spec)[/]", markup=True)
    for f in findings:
        step = f" [step {f.step}]" if f.step else ""
        console.print(f"{f.file}:{f.line}: {f.rule} ", end="", markup=False)
        console.print(f.severity, style=style[f.severity], end="")
        console.print(f"{step} {f.message}", markup=False)
        console.print(f"    hint: {f.hint}", style="dim", markup=False)
    if show_ladder:
        for sourced in ladders:
            _print_ladder(console, sourced)
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    files = len(ladders) + len({p.file for p in problems} - {s.file for s in ladders})
    summary = (f"{files} file{'s' * (files != 1)}: {errors} error{'s' * (errors != 1)}, "
               f"{warnings} warning{'s' * (warnings != 1)}")  # fmt: skip
    if problems:
        summary += f", {len(problems)} spec problem{'s' * (len(problems) != 1)}"
    clean = not (errors or problems)
    console.print(summary, style="green" if clean and not warnings else None, markup=False)


def _print_ladder(console: Console, sourced) -> None:
    from yesladder.funnels.lint import climb

    table = Table(
        title=f"{sourced.spec.funnel}: commitment cost along the ladder", title_justify="left"
    )
    for column in ("step", "kind", "effort s", "new fields", "money", "time", "cost", "jump"):
        table.add_column(column, justify="right" if column not in ("step", "kind") else "left")
    for rung in climb(sourced):
        table.add_row(
            rung.step + (" (macro)" if rung.macro else ""),
            rung.kind,
            str(rung.effort_seconds),
            ", ".join(rung.new_fields) or "-",
            f"{rung.money:.1f}",
            f"{rung.time:.1f}",
            f"{rung.total:.1f}",
            f"{rung.jump:+.1f}",
        )
    console.print(table)


def _print_rules(console: Console, rules) -> None:
    table = Table(title="Ladder rules (docs/lint-rules.md)", title_justify="left")
    for column in ("id", "name", "severity", "seed", "what it finds"):
        table.add_column(column)
    for r in rules.values():
        table.add_row(r.id, r.name, r.severity, r.seed, r.summary)
    console.print(table)


# --- init ------------------------------------------------------------------------------------


def init_command(argv: list[str]) -> int:
    from importlib.resources import files

    parser = OneLineParser(
        prog="yesladder init", description="Scaffold a funnel project that passes the linter."
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    target: Path = args.directory
    key = re.sub(r"[^a-z0-9]+", "-", target.resolve().name.lower()).strip("-") or "my-funnel"
    scaffold = files("yesladder") / "scaffold"
    written = []
    for name in ("funnel.yaml", "guide.md", "checklist.md"):
        dest = target / name
        if dest.exists() and not args.force:
            print(f"yesladder init: {dest} exists; use --force to overwrite", file=sys.stderr)
            return EXIT_INVALID
        written.append((dest, (scaffold / name).read_text().replace("__KEY__", key)))
    target.mkdir(parents=True, exist_ok=True)
    for dest, text in written:
        dest.write_text(text)
    print(f"Created a funnel project in {target}/ (funnel '{key}'). Next:")
    print(f"  yesladder lint {target / 'funnel.yaml'}    # audit the ladder")
    print(f"  yesladder load {target / 'funnel.yaml'}    # store it")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
