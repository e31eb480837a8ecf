"""Follow-up emails under test: an email of a sequence with versions (`variants` in the spec's
`emails:`), each lead sticking to one, judged with the same statistics as a ladder experiment.

People are counted at send (automation counts the sends and what followed them, through
seams.EMAIL_COUNTS: experiments never imports automation): opens, clicks, the next rung
climbed after the send, and unsubscribes from it, the guardrail.
"""

from collections import Counter
from dataclasses import dataclass

from yesladder import seams
from yesladder.experiments import stats
from yesladder.experiments.results import Judged, ResultsError
from yesladder.funnels.models import Funnel
from yesladder.funnels.spec.automations import Email

# spec metric -> what the counts call it
MEASURED = {"clicks": "clicked", "opens": "opened", "next-rung": "next_rung"}
OPENS_CAVEAT = (
    "opens are a rough signal: mail clients that block images never report one, and mail "
    "scanners and privacy proxies (Apple Mail) open every message"
)


@dataclass(frozen=True)
class EmailVariant:
    key: str
    weight: float
    subject: str
    counts: Counter  # sent, opened, clicked, next_rung, unsubscribed


@dataclass
class EmailResults(Judged):
    funnel: str
    email: str
    variants: list[EmailVariant]  # control first
    analysis: stats.Analysis
    metric: str
    metrics: dict[str, list[stats.Totals]]
    min_conversions: int
    currency: str = ""
    remedy = "shipping the email as written makes it the only version"

    @property
    def name(self) -> str:
        return f"Email {self.email}"


def under_test(funnel: Funnel) -> dict[str, Email]:
    """The emails of the funnel's current version that have versions under test."""
    current = funnel.current_version()
    if current is None:
        return {}
    return {key: e for key, e in current.spec.emails.items() if e.variants}


def find(funnel_key: str, email_key: str) -> tuple[Funnel, Email]:
    funnel = Funnel.objects.filter(key=funnel_key).first()
    if funnel is None:
        raise ResultsError(f"no funnel called {funnel_key!r}")
    email = under_test(funnel).get(email_key)
    if email is None:
        raise ResultsError(f"funnel {funnel_key!r} has no experiment or email under test "
                           f"{email_key!r}")  # fmt: skip
    return funnel, email


def results(funnel_key: str, email_key: str) -> EmailResults:
    funnel, email = find(funnel_key, email_key)
    found = seams.EMAIL_COUNTS.filled(funnel.pk, email_key) if seams.EMAIL_COUNTS.filled else {}
    listed = [EmailVariant(v.key, v.weight, email.variant(v.key).subject,
                           found.get(v.key, Counter())) for v in email.variants]  # fmt: skip
    keys = [v.key for v in listed]

    def totals(outcome: str) -> list[stats.Totals]:
        return [stats.Totals.rate(v.counts["sent"], v.counts[outcome]) for v in listed]

    order = [email.metric, *(m for m in MEASURED if m != email.metric)]
    metrics = {name: totals(MEASURED[name]) for name in order}
    analysis = stats.analyse(
        keys, [v.weight for v in listed], metrics[email.metric],
        {"unsubscribes": totals("unsubscribed")},
        secondary={name: metrics[name] for name in order[1:]}, primary_name=email.metric,
        min_count=email.min_conversions,
    )  # fmt: skip
    return EmailResults(funnel.key, email_key, listed, analysis, email.metric, metrics,
                        email.min_conversions)  # fmt: skip
