import json

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.table import Table

from yesladder import options
from yesladder.analytics.store import engine
from yesladder.experiments import emails, services, stats
from yesladder.experiments.planning import candidates, uplift_to_find
from yesladder.experiments.results import Judged, Results, ResultsError, find, results
from yesladder.funnels.models import Funnel
from yesladder.team.audit import Actor


def _percent(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


def _bayes(c: stats.Comparison | None) -> stats.Bayesian | None:
    return c.bayesian if c is not None else None


def _uplift(b: stats.Bayesian | None) -> str:
    return f"{b.uplift_interval[0]:+.1%} to {b.uplift_interval[1]:+.1%}" if b else ""


def _interval(c: stats.Comparison | None) -> list[float] | None:
    if c is None or c.bayesian is None:
        return None
    return [round(x, 6) for x in c.bayesian.uplift_interval]


def as_json(r: Results) -> dict:
    """The names outside tests read: per variant key, exposed, converted, rate,
    chance_to_beat_control, expected_loss, uplift_interval; srm_p_value and decision."""
    by_key = {c.variant: c for c in r.analysis.primary}
    revenue = {c.variant: c for c in r.revenue}
    variants = []
    for v in r.variants:
        c = by_key.get(v.key)
        variants.append({
            "key": v.key, "control": v is r.variants[0], "weight": v.weight,
            "exposed": v.exposed, "converted": v.converted, "rate": v.rate,
            "chance_to_beat_control": b.chance_to_beat_control if (b := _bayes(c)) else None,
            "expected_loss": b.expected_loss if b else None,
            "uplift_interval": _interval(c),
            "p_value": c.p_value_adjusted if c else None,
            "revenue": v.revenue, "revenue_per_person": v.revenue / v.exposed if v.exposed else 0,
            "revenue_chance_to_beat_control": (rb.chance_to_beat_control
                                               if (rb := _bayes(revenue.get(v.key))) else None),
            "days_to_convert": v.days_to_convert,
            "rungs": [{"step": k, "reached": n}
                      for (k, _), n in zip(v.ladder, v.reached, strict=True)],
            "guardrails": v.harmed,
            "sources": {s: {"exposed": e, "converted": c_} for s, (e, c_) in v.sources.items()},
        })  # fmt: skip
    for i in range(len(r.variants)):
        variants[i]["metric"] = _metric(r, r.metric, i)
        variants[i]["secondary"] = {name: _metric(r, name, i) for name in r.secondary}
    d = r.analysis.decision
    return {
        "funnel": r.funnel, "experiment": r.experiment.key, "state": r.experiment.state,
        "version": r.experiment.version.number, "srm_p_value": r.analysis.srm.p_value,
        "srm_flagged": r.analysis.srm.flagged,
        "metric": r.metric, "secondary": list(r.secondary),
        "min_conversions": r.min_conversions,
        "likely_worse": list(r.analysis.likely_worse),
        "weights": [{"from": p.started_at.isoformat(), "weights": p.weights}
                    for p in r.periods],
        "decision": {"verdict": str(d.verdict), "variant": d.variant, "metric": d.metric,
                     "days_left": d.days_left, "sentence": r.sentence,
                     "waiting": dict(d.waiting), "days_to_minimum": d.days_to_minimum},
        "variants": variants,
    }  # fmt: skip


# What an email test counts per version, at send.
COUNTED = ("sent", "opened", "clicked", "next_rung", "unsubscribed")


def email_json(r: emails.EmailResults) -> dict:
    """An email test with the names of a ladder experiment's where they mean the same."""
    d = r.analysis.decision
    variants = [
        {"key": v.key, "control": i == 0, "weight": v.weight, "subject": v.subject,
         **{c: v.counts[c] for c in COUNTED}, "metric": _metric(r, r.metric, i),
         "secondary": {name: _metric(r, name, i) for name in r.secondary}}
        for i, v in enumerate(r.variants)
    ]  # fmt: skip
    return {
        "funnel": r.funnel, "email": r.email, "kind": "email", "metric": r.metric,
        "secondary": list(r.secondary), "min_conversions": r.min_conversions,
        "opens_caveat": emails.OPENS_CAVEAT, "srm_p_value": r.analysis.srm.p_value,
        "srm_flagged": r.analysis.srm.flagged, "likely_worse": list(r.analysis.likely_worse),
        "decision": {"verdict": str(d.verdict), "variant": d.variant, "metric": d.metric,
                     "sentence": r.sentence, "waiting": dict(d.waiting)},
        "variants": variants,
    }  # fmt: skip


def _metric(r: Judged, name: str, i: int) -> dict:
    """One variant on one metric: its sum and mean per exposed person, and against control
    (the p-value Holm-adjusted as the decision reads it)."""
    totals = r.metrics[name][i]
    c = r.comparisons(name).get(r.variants[i].key)
    b = _bayes(c)
    return {"name": name, "sum": totals.sum, "mean": totals.mean,
            "chance_to_beat_control": b.chance_to_beat_control if b else None,
            "expected_loss": b.expected_loss if b else None,
            "uplift_interval": _interval(c),
            "p_value": c.p_value_adjusted if c else None}  # fmt: skip


class Command(BaseCommand):
    help = "Experiments on whole ladders: list, results, plan, stop, ship."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="every experiment and its state")
        for name, text in (
            ("results", "the results and the decision"),
            ("plan", "how many people and days it takes"),
            ("stop", "expose nobody more; new journeys walk one variant"),
            ("ship", "make a variant's ladder the funnel's next version"),
        ):
            p = sub.add_parser(name, help=text)
            p.add_argument("funnel")
            p.add_argument("experiment")
            if name == "results":
                p.add_argument("--format", choices=["text", "json"], default="text")
                p.add_argument("--engine", choices=["embedded", "clickhouse"],
                               default="embedded", help="where exposures and conversions are "
                               "counted (docs/scale.md)")  # fmt: skip
            if name == "plan":
                p.add_argument(
                    "--daily",
                    type=options.number(0, 200, above=True),
                    help="people a day into the funnel",
                )
                p.add_argument(
                    "--uplift",
                    type=options.number(0, 1000, above=True),
                    help="the smallest relative uplift worth finding, percent (default: the "
                    "plan's, else 10)",
                )
            if name in ("stop", "ship"):
                p.add_argument(
                    "variant",
                    nargs="?" if name == "stop" else None,
                    help="the variant everyone new walks (stop: the control)",
                )
        # fmt: skip

    def handle(self, *args, **options):
        console = Console(file=self.stdout, highlight=False, width=160)
        try:
            getattr(self, "do_" + options["action"])(console, options)
        except (ResultsError, ValueError) as exc:
            raise CommandError(str(exc)) from None

    def do_list(self, console, options):
        table = Table("funnel", "version", "experiment", "name", "state", "variants")
        for x in services.listed():
            spec = x.version.spec.experiment(x.key)
            table.add_row(x.funnel.key, f"v{x.version.number}", x.key, x.name, x.state,
                          ", ".join(f"{v.key} {v.weight:g}%" for v in spec.variants))  # fmt: skip
        for funnel in Funnel.objects.all():
            for key, email in emails.under_test(funnel).items():
                weights = ", ".join(f"{v.key} {v.weight:g}%" for v in email.variants)
                table.add_row(funnel.key, f"v{funnel.current_version().number}", key,
                              f"email {key} (on {email.metric})", "running", weights)  # fmt: skip
        console.print(table)

    def do_results(self, console, options):
        if self._email_test(options):
            self._email_results(console, options)
            return
        r = results(options["funnel"], options["experiment"], store=self._store(options))
        if options["format"] == "json":
            self.stdout.write(json.dumps(as_json(r), indent=2))
            return
        srm = r.analysis.srm
        console.print(f"[bold]{r.name}[/] ({r.funnel} v{r.experiment.version.number}, "
                      f"{r.experiment.state})")  # fmt: skip
        if srm.flagged:
            console.print(f"[bold red]Sample-ratio mismatch (p = {srm.p_value:.2g}): the split "
                          "is broken; read nothing below until it is explained.[/]")  # fmt: skip
        table = Table("variant", "exposed", "converted", "rate", "chance to beat control",
                      "uplift (95% interval)", "revenue/person", *r.guardrails)  # fmt: skip
        by_key = {c.variant: c for c in r.analysis.primary}
        for v in r.variants:
            c = by_key.get(v.key)
            b = c.bayesian if c else None
            table.add_row(
                v.key + (" (control)" if v is r.variants[0] else ""), str(v.exposed),
                str(v.converted), _percent(v.rate),
                _percent(b.chance_to_beat_control) if b else "", _uplift(b),
                f"{v.revenue / v.exposed / 100:.2f}" if v.exposed else "–",
                *(str(v.harmed.get(g, 0)) for g in r.guardrails),
            )  # fmt: skip
        console.print(table)
        console.print(self._metrics(r))
        for warning in r.likely_worse():
            console.print(f"[bold]{warning}[/]: yesladder experiment stop {r.funnel} "
                          f"{r.experiment.key}")  # fmt: skip
        console.print(f"Decision: {r.sentence}")

    def _email_test(self, options) -> bool:
        """Whether the key names an email under test rather than a ladder experiment."""
        try:
            find(options["funnel"], options["experiment"])
        except ResultsError:
            funnel = Funnel.objects.filter(key=options["funnel"]).first()
            return funnel is not None and options["experiment"] in emails.under_test(funnel)
        return False

    def _email_results(self, console, options):
        r = emails.results(options["funnel"], options["experiment"])
        if options["format"] == "json":
            self.stdout.write(json.dumps(email_json(r), indent=2))
            return
        console.print(f"[bold]{r.name}[/] ({r.funnel}), judged on {r.metric}")
        table = Table("variant", "weight", "subject", *COUNTED)
        for v in r.variants:
            table.add_row(v.key + (" (control)" if v is r.variants[0] else ""), f"{v.weight:g}%",
                          v.subject, *(str(v.counts[c]) for c in COUNTED))  # fmt: skip
        console.print(table)
        console.print(self._metrics(r))
        console.print(f"Note: {emails.OPENS_CAVEAT}.")
        for warning in r.likely_worse():
            console.print(f"[bold]{warning}[/]: yesladder experiment ship {r.funnel} {r.email} "
                          f"{r.variants[0].key}")  # fmt: skip
        console.print(f"Decision: {r.sentence}")

    def _metrics(self, r: Judged) -> Table:
        """Every metric, the primary first: each variant's figure and, against control, the
        chance to beat it, the uplift and the always-valid p-value (Holm-adjusted)."""
        table = Table("metric", "variant", "value", "chance to beat control",
                      "uplift (95% interval)", "p (always valid)",
                      title=f"Judged on {r.metric}; the others are secondary")  # fmt: skip
        for name in r.metrics:
            compared = r.comparisons(name)
            for v, totals in zip(r.variants, r.metrics[name], strict=True):
                c = compared.get(v.key)
                b = _bayes(c)
                table.add_row(name, v.key, r.shown(name, totals),
                              _percent(b.chance_to_beat_control) if b else "", _uplift(b),
                              f"{c.p_value_adjusted:.3g}" if c else "")  # fmt: skip
        return table

    def _store(self, options):
        """The engine's store (None: the per-variant rollups); a note when it is behind."""
        if options["engine"] == "embedded":
            return None
        try:
            store, note = engine(options["engine"]).open()
        except LookupError as exc:
            raise CommandError(str(exc)) from None
        if note:
            self.stderr.write(note, ending="")
        return store

    def do_plan(self, console, options):
        _, current = find(options["funnel"], options["experiment"])
        spec = current.spec
        daily = options["daily"] or (spec.plan.daily if spec.plan else None)
        if spec.plan is not None and daily:
            p = stats.plan(spec.plan.baseline / 100, spec.plan.uplift / 100, daily,
                           len(spec.variants), share=spec.traffic / 100)  # fmt: skip
            console.print(f"{spec.name}: {p.people_per_variant:,} people per variant, "
                          f"{p.total_people:,} in all, about {p.days} days at {daily:g} a day "
                          f"({spec.traffic:g}% in the experiment); a test read only once would "
                          f"need {p.fixed_horizon_people_per_variant:,} per variant")  # fmt: skip
        r = results(options["funnel"], options["experiment"], people_per_day=daily)
        uplift = options["uplift"] or uplift_to_find(r)
        if not r.people_per_day:
            raise CommandError(
                "--daily: people a day into the funnel (nobody is exposed yet to measure it, "
                "and the spec has no `plan: {daily: N}`)"
            )
        baseline = spec.plan.baseline / 100 if spec.plan else None
        console.print(self._candidates(r, uplift, baseline))

    def _candidates(self, r: Results, uplift: float, baseline: float | None) -> Table:
        table = Table("metric", "control's rate", "people per variant", "days",
                      title=f"Each metric, to find +{uplift:g}% at {r.people_per_day:,.0f} "
                      "people a day in the experiment (the control's rates so far)")  # fmt: skip
        for c in candidates(r, uplift / 100, baseline):
            table.add_row(c.metric + (" (judged on)" if c.metric == r.metric else ""),
                          _percent(c.baseline), f"{c.people_per_variant:,}" if c.days else "–",
                          str(c.days) if c.days else "no rate yet, or past 100 %")  # fmt: skip
        return table

    def do_stop(self, console, options):
        row = services.stop(options["funnel"], options["experiment"], options["variant"],
                   by=Actor.terminal())  # fmt: skip
        console.print(f"Stopped {row.key}. {services.what_stopping_does(row.sends_to)}")

    def do_ship(self, console, options):
        funnel, key, variant = options["funnel"], options["experiment"], options["variant"]
        if self._email_test(options):
            version = services.ship_email(funnel, key, variant, by=Actor.terminal())
            said = services.what_shipping_an_email_does(key, variant, version.number)
            console.print(f"Shipped {variant} of the email {key}. {said}")
            return
        version = services.ship(funnel, key, variant, by=Actor.terminal())
        said = services.what_shipping_does(variant, version.number)
        console.print(f"Shipped {variant} of {key}. {said}")
