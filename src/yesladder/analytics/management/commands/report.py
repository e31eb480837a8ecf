import json
import shutil
import sys

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from yesladder import options
from yesladder.analytics import chart, render
from yesladder.analytics.render import VERDICT_STYLE
from yesladder.analytics.report import Report, ReportError, build
from yesladder.analytics.store import DIMENSIONS, Engine
from yesladder.analytics.store import engine as engine_called


class Command(BaseCommand):
    help = "Where one funnel's ladder leaks, why, and what to fix first."

    def add_arguments(self, parser):
        parser.add_argument("funnel", help="the funnel's key")
        parser.add_argument(
            "--since", type=options.day, help="people who entered on or after this day"
        )
        parser.add_argument("--until", type=options.day, help="... and on or before this day (UTC)")
        parser.add_argument("--by", choices=list(DIMENSIONS), help="a breakdown")
        parser.add_argument(
            "--touch",
            choices=["first", "last"],
            default="first",
            help="credit a person to their first or their last visit's source",
        )
        parser.add_argument(
            "--only-version",
            type=options.whole(1, 2),
            dest="funnel_version",
            metavar="N",
            help="one version's number (default: every version)",
        )
        parser.add_argument("--format", choices=["text", "json", "csv"], default="text")
        parser.add_argument("--engine", choices=["embedded", "clickhouse"], default="embedded",
                            help="where the numbers come from (docs/scale.md)")  # fmt: skip
        parser.add_argument("--steps", metavar="A,B,C", help="with --engine clickhouse: an "
                            "ad-hoc funnel over these steps or event names, in order")  # fmt: skip
        parser.add_argument("--window", default="14d", help="the ad-hoc funnel's window "
                            "(default 14d)")  # fmt: skip
        parser.add_argument("--chart", metavar="FILE", help="also write the funnel chart "
                            "(.png or .svg)")  # fmt: skip

    def handle(self, *args, **options):
        store = engine(options, self.stderr)
        if options["steps"]:
            self.stdout.write(adhoc(options, store), ending="")
            return
        try:
            report = build(options["funnel"], options["funnel_version"], options["since"],
                           options["until"], options["by"], options["touch"], store)  # fmt: skip
            if options["chart"]:
                chart.write(render.chart(report), options["chart"])
        except (ReportError, ValueError, OSError) as exc:
            raise CommandError(str(exc)) from None
        if options["format"] == "json":
            self.stdout.write(json.dumps(render.to_json(report), indent=2))
        elif options["format"] == "csv":
            self.stdout.write(render.to_csv(report), ending="")
        else:
            show(report, Console(file=self.stdout, highlight=False, width=wide()))
        if options["chart"] and options["format"] == "text":
            self.stdout.write(f"Chart written to {options['chart']}")


def engine(options, err):
    """The store the numbers come from; another engine says when it is behind the event log."""
    if options["engine"] == "embedded":
        if options["steps"]:
            raise CommandError("--steps: ad-hoc funnels need --engine clickhouse")
        return None
    store, note = _engine(options).open()
    if note:
        err.write(note)
    return store


def adhoc(options, store) -> str:
    return _engine(options).adhoc(store, options["funnel"], options["steps"], options["window"],
                                  options["format"])  # fmt: skip


def _engine(options) -> Engine:
    try:
        return engine_called(options["engine"])
    except LookupError as exc:
        raise CommandError(str(exc)) from None


def wide() -> int:
    """The terminal's width; piped into a file, wide enough that no cell is cut short."""
    columns = shutil.get_terminal_size((0, 0)).columns
    return columns if sys.stdout.isatty() and columns else 200


def show(report: Report, console: Console) -> None:
    console.print(f"[bold]{report.name}[/] ({report.funnel}) · {render.headline(report)}",
                  markup=True)  # fmt: skip
    console.print(_rungs(report))
    if report.sides:
        console.print(
            "Optional steps: "
            + "; ".join(
                f"{s.title}: {s.people:,} ({render.percent(s.share)})" for s in report.sides
            )
        )
    console.print(_metrics(report))
    _diagnosis(report, console)
    _what_if(report, console)
    if report.tiers:
        console.print(_table("Tiers of the scored quiz", render.tier_columns(report),
                             [render.tier_row(report, g) for g in report.tiers]))  # fmt: skip
    if report.groups:
        console.print(_groups(report))


def _rungs(report: Report) -> Table:
    table = Table(title="The ladder, rung by rung", title_justify="left")
    for column in render.RUNG_COLUMNS[1:]:
        table.add_column(column, justify="left" if column == "title" else "right")
    for rung in report.rungs:
        row = [str(v if not isinstance(v, int) else f"{v:,}")
               for v in render.rung_row(report, rung)[1:]]  # fmt: skip
        style = VERDICT_STYLE.get(rung.verdict)
        row[5] = f"[{style}]{row[5]}[/]" if style else row[5]
        table.add_row(*[_plain(v) if i != 5 else v for i, v in enumerate(row)])
    return table


def _plain(value: str) -> str:
    return escape(value)


def _metrics(report: Report) -> Table:
    return _table("The seeds' metrics", render.METRIC_COLUMNS,
                  [render.metric_row(m) for m in report.metrics])  # fmt: skip


def _table(title: str, columns, rows) -> Table:
    """Words in the first column on the left, numbers on the right; every cell escaped."""
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="right" if i else "left")
    for row in rows:
        table.add_row(*[_plain(f"{v:,}" if isinstance(v, int) else str(v)) for v in row])
    return table


def _diagnosis(report: Report, console: Console) -> None:
    if not report.diagnoses:
        console.print(f"Diagnosis: {render.NO_DIAGNOSIS}")
        return
    console.print("[bold]Diagnosis[/]", markup=True)
    for d in report.diagnoses:
        console.print(f"- {_plain(d.why)}\n  Fix: {_plain(d.suggestion)}", markup=True)


def _what_if(report: Report, console: Console) -> None:
    if not report.what_ifs:
        return
    table = _table("What-if: one move better, the others as now", render.WHAT_IF_COLUMNS,
                   [render.what_if_row(report, w) for w in report.what_ifs])  # fmt: skip
    console.print(table)
    if report.bottleneck:
        console.print(f"[bold]{_plain(render.bottleneck(report))}[/]", markup=True)


def _groups(report: Report) -> Table:
    return _table(f"By {report.by} ({report.touch} touch)", render.group_columns(report),
                  [render.group_row(report, g) for g in report.groups])  # fmt: skip
