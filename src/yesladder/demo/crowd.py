"""How the demo's synthetic crowd behaves, so its ladders look like the benchmarks say
ladders do: on each rung the chance of going on is the middle of the range the report judges
the next rung by (the spec's own, else seed 003's), and a share of the crowd leaves a card
that the later charges of a trial are declined on."""

from yesladder.analytics import verdicts
from yesladder.demo.simulate import Plan
from yesladder.funnels.spec.schema import FunnelSpec

CLOSES = 0.45  # the last rung has no range: a bit under half of those who reach it take it
DECLINES = 0.1  # of the crowd: a card the test provider declines at the first full payment


def chances(spec: FunnelSpec) -> dict[str, float]:
    """By step key: the chance of going on from that rung of the ladder."""
    ladder = spec.ladder()
    found = {ladder[-1].key: CLOSES}
    for position, (step, following) in enumerate(zip(ladder, ladder[1:], strict=False), 1):
        expected = verdicts.benchmark(spec, position, following.key)
        if expected:
            found[step.key] = sum(expected) / 2
    return found


def plan(spec: FunnelSpec, origin: str) -> Plan:
    return Plan(origin=origin, spec=spec, chances=chances(spec), declines=DECLINES)
