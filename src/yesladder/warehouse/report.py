"""What `yesladder report --engine clickhouse` needs from the store, with every failure as a
CommandError that says what to do."""

import json

from django.conf import settings
from django.core.management.base import CommandError

from yesladder.funnels.models import Funnel
from yesladder.warehouse import adhoc, identity, services
from yesladder.warehouse.client import WarehouseError, check
from yesladder.warehouse.store import ClickHouseStore


class CheckedStore(ClickHouseStore):
    """The store whose failures reach the command as CommandError (never a traceback)."""

    def _run(self, sql, params):
        try:
            return super()._run(sql, params)
        except WarehouseError as exc:
            raise CommandError(f"--engine clickhouse: {exc}") from None


def store_or_error() -> tuple[ClickHouseStore, str]:
    """The store and a note when it is behind the event log (the report is then older)."""
    if settings.CLICKHOUSE is None:
        raise CommandError("--engine clickhouse: no store configured (set "
                           "YESLADDER_CLICKHOUSE_URL; docs/scale.md)")  # fmt: skip
    servers, problems = check(settings.CLICKHOUSE)  # every shard first, each within the timeout
    if problems:
        raise CommandError("--engine clickhouse: " + "\n".join(problems))
    other = identity.mismatch(servers)
    now = services.status()
    note = ""
    if other:
        note = f"note: the ClickHouse store may not hold the event log: {other}\n"
    elif not now.caught_up:
        note = f"note: the ClickHouse store is {now.lag()}; `yesladder clickhouse sync`\n"
    return CheckedStore(settings.CLICKHOUSE), note


def adhoc_text(store: ClickHouseStore, funnel_key: str, steps: str, window: str,
               form: str) -> str:  # fmt: skip
    funnel = Funnel.objects.filter(key=funnel_key).first()
    if funnel is None:
        raise CommandError(f"no funnel called {funnel_key!r}")
    try:
        items, span = adhoc.steps(steps, funnel), adhoc.window(window)
    except adhoc.AdhocError as exc:
        raise CommandError(str(exc)) from None
    found = store.adhoc(funnel, items, span)
    if form == "json":
        return json.dumps([r.__dict__ for r in found], indent=2) + "\n"
    lines = [
        f"Ad-hoc funnel of {funnel.key} within {window}:",
        f"{'step':<24} {'reached':>9} {'from prev':>10} {'from start':>11} {'median':>9}",
    ]
    for r in found:
        previous = f"{r.from_previous:.1%}" if r.from_previous is not None else "-"
        median = f"{r.median_seconds:,} s" if r.median_seconds is not None else "-"
        lines.append(f"{r.name:<24} {r.reached:>9,} {previous:>10} {r.from_start:>11.1%} "
                     f"{median:>9}")  # fmt: skip
    return "\n".join(lines) + "\n"
