"""Funnels defined at query time (`yesladder report FUNNEL --engine clickhouse --steps a,b,c
--window 7d`): any ordered list of the funnel's steps and event names, counted with the same
ordered-window semantics as the report, from ClickHouse. Everything given is checked here and
sent as a parameter."""

import datetime as dt
import re
from dataclasses import dataclass

from yesladder.analytics.report import percentile
from yesladder.events import EventName
from yesladder.funnels.models import Funnel, FunnelVersion
from yesladder.warehouse.queries import ARRIVALS, Plan

MAX_STEPS = 20
MAX_WINDOW = dt.timedelta(days=3650)
WINDOW = re.compile(r"^\s*(\d{1,9})\s*(s|m|min|h|d|w)\s*$")
UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
NAMES = sorted(e.value for e in EventName if e.value not in ARRIVALS)


class AdhocError(ValueError):
    """Input an ad-hoc funnel cannot use; the message names the option and the value."""


@dataclass(frozen=True)
class AdhocRung:
    name: str
    reached: int
    from_previous: float | None
    from_start: float
    median_seconds: int | None


def window(text: str) -> dt.timedelta:
    match = WINDOW.match(text or "")
    if not match:
        raise AdhocError(f"--window: expected a duration such as 30m, 48h, 7d or 2w, got "
                         f"{text!r}")  # fmt: skip
    found = dt.timedelta(seconds=int(match[1]) * UNITS[match[2]])
    if not dt.timedelta(0) < found <= MAX_WINDOW:
        raise AdhocError(f"--window: must be more than 0 and at most {MAX_WINDOW.days} days, "
                         f"got {text!r}")  # fmt: skip
    return found


def steps(text: str, funnel: Funnel) -> list[str]:
    """The ordered items: step keys of any version of the funnel, or event names."""
    items = [item.strip() for item in (text or "").split(",")]
    if len(items) < 2 or len(items) > MAX_STEPS or any(not item for item in items):
        raise AdhocError(f"--steps: give 2 to {MAX_STEPS} step keys or event names, separated "
                         f"by commas, got {text!r}")  # fmt: skip
    keys = _step_keys(funnel)
    for item in items:
        if item not in keys and item not in NAMES:
            raise AdhocError(f"--steps: {item!r} is neither a step of funnel {funnel.key!r} "
                             f"({', '.join(sorted(keys))}) nor an event name "
                             f"({', '.join(NAMES)})")  # fmt: skip
    if len(set(items)) != len(items):
        raise AdhocError(f"--steps: each step once, got {text!r}")
    return items


def _step_keys(funnel: Funnel) -> set[str]:
    return {s.key for v in FunnelVersion.objects.filter(funnel=funnel) for s in v.spec.steps}


def plan(funnel: Funnel, items: list[str], span: dt.timedelta) -> Plan:
    keys = _step_keys(funnel)
    found = Plan(funnel.pk, len(items))
    for version_id in FunnelVersion.objects.filter(funnel=funnel).values_list("pk", flat=True):
        found.windows[version_id] = int(span.total_seconds()) * 1_000_000
        for i, item in enumerate(items):
            if item in keys:
                found.arrivals[f"{version_id}:{item}"] = i
            else:
                found.named[f"{version_id}:#{item}"] = i
    return found


def rungs(items: list[str], levels: dict[int, int], gaps) -> list[AdhocRung]:
    reached = [sum(n for level, n in levels.items() if level > i) for i in range(len(items))]
    return [
        AdhocRung(item, reached[i], reached[i] / reached[i - 1] if i and reached[i - 1] else None,
                  reached[i] / reached[0] if reached[0] else 0.0,
                  percentile(gaps[i], 0.5) if i < len(gaps) else None)
        for i, item in enumerate(items)
    ]  # fmt: skip
