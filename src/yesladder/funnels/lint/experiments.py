"""Experiments: every variant keeps the conversion the experiment is judged on, the weights
share out all of it, and experiments on one funnel never claim the same people
(YL020-YL023), and a test is judged on a rung every variant has (YL033). Each variant's ladder
is also linted on its own with every other rule (`lint`).
"""

from collections.abc import Iterator

from yesladder.funnels.lint.core import ERROR, WARNING, Finding, Ladder, rule
from yesladder.funnels.spec import variant_sources
from yesladder.funnels.spec.experiments import Reached


@rule("YL020", "variant-without-macro", ERROR, "003",
      "An experiment variant's ladder lacks the control's macro conversion.")  # fmt: skip
def variant_without_macro(ladder: Ladder) -> Iterator[Finding]:
    macros = [s.key for s in ladder.macros]
    for variant in variant_sources(ladder.sourced):
        theirs = [s.key for s in variant.spec.steps if s.macro]
        if theirs != macros:
            experiment, key = variant.variant.split("/")
            e, v = _where(ladder, experiment, key)
            yield ladder.finding(
                None,
                f"variant {variant.variant} converts on {', '.join(theirs) or 'no step'}, "
                f"the ladder as written on {', '.join(macros) or 'no step'}",
                "every variant keeps the control's macro step (reorder, reword or reprice it, "
                "never remove it): the experiment compares that conversion",
                "experiments", e, "variants", v,
            )  # fmt: skip


@rule("YL021", "experiment-weights", ERROR, "003",
      "Variant weights that do not add up to 100, or a variant that weighs nothing.")  # fmt: skip
def experiment_weights(ladder: Ladder) -> Iterator[Finding]:
    for e, experiment in enumerate(ladder.spec.experiments):
        weights = [v.weight for v in experiment.variants]
        for v, variant in enumerate(experiment.variants):
            if variant.weight == 0:
                yield ladder.finding(
                    None,
                    f"variant {experiment.key}/{variant.key} has weight 0: nobody would see it",
                    "give it a share or remove it from the experiment",
                    "experiments", e, "variants", v, "weight",
                )  # fmt: skip
        if abs(sum(weights) - 100) > 1e-9:
            yield ladder.finding(
                None,
                f"the weights of experiment {experiment.key} add up to {sum(weights):g}, not 100",
                "weights are percentages of the experiment's people: make them add up to 100",
                "experiments", e, "variants",
            )  # fmt: skip


@rule("YL022", "overlapping-experiments", ERROR, "003",
      "Experiments on one funnel claim more than all of its new journeys.")  # fmt: skip
def overlapping_experiments(ladder: Ladder) -> Iterator[Finding]:
    experiments = ladder.spec.experiments
    total = sum(x.traffic for x in experiments)
    if len(experiments) > 1 and total > 100:
        yield ladder.finding(
            None,
            f"experiments {', '.join(x.key for x in experiments)} take {total:g}% of the "
            "funnel's new journeys together: they would overlap",
            "experiments on one funnel are mutually exclusive (each takes its own slice of "
            "people, in the order written): lower `traffic` so the slices add up to 100 at most",
            "experiments",
        )  # fmt: skip


@rule("YL023", "variant-without-changes", WARNING, "003",
      "A variant other than the control changes nothing: an A/A test.")  # fmt: skip
def variant_without_changes(ladder: Ladder) -> Iterator[Finding]:
    for e, experiment in enumerate(ladder.spec.experiments):
        for v, variant in enumerate(experiment.variants):
            if variant.key != experiment.control and not variant.changes():
                yield ladder.finding(
                    None,
                    f"variant {experiment.key}/{variant.key} is the same ladder as the control",
                    "give it an `order`, steps added, removed or replaced, or changed copy "
                    "(an A/A test on purpose can switch this rule off)",
                    "experiments", e, "variants", v,
                )  # fmt: skip


@rule("YL033", "metric-rung-missing", ERROR, "003",
      "An experiment is judged on a rung that a variant's ladder (or the ladder as written) "
      "lacks.")  # fmt: skip
def metric_rung_missing(ladder: Ladder) -> Iterator[Finding]:
    ladders = {"": [s.key for s in ladder.spec.steps]}
    for variant in variant_sources(ladder.sourced):
        ladders[variant.variant] = [s.key for s in variant.spec.steps]
    for e, experiment in enumerate(ladder.spec.experiments):
        for where, metric in _metrics(experiment):
            if not isinstance(metric, Reached):
                continue
            lacking = [name.split("/")[1] if name else "the ladder as written"
                       for name, keys in ladders.items()
                       if (not name or name.startswith(f"{experiment.key}/"))
                       and metric.reached not in keys]  # fmt: skip
            if lacking:
                yield ladder.finding(
                    None,
                    f"experiment {experiment.key} is judged on reaching {metric.reached}, which "
                    f"these ladders lack: {', '.join(lacking)}",
                    "judge it on a rung every variant keeps (a variant that removes the rung "
                    "could never reach it), or on the macro conversion",
                    "experiments", e, *where,
                )  # fmt: skip


def _metrics(experiment) -> Iterator[tuple[tuple, object]]:
    yield ("metric",), experiment.metric
    for i, metric in enumerate(experiment.secondary):
        yield ("secondary", i), metric


def _where(ladder: Ladder, experiment: str, variant: str) -> tuple[int, int]:
    e = next(i for i, x in enumerate(ladder.spec.experiments) if x.key == experiment)
    v = next(i for i, x in enumerate(ladder.spec.experiments[e].variants) if x.key == variant)
    return e, v
