"""Follow-up emails under test: which version a lead gets, and what each version's sends did.

A lead sticks to one version of an email by a hash of the lead (never a cookie or a device), so
a resend, another device or another run gives the same version; the outbox sends each (lead,
email) pair once anyway. People are counted at send: a message accepted by the mail server.
Suppressed addresses are never sent to (their rows are skipped), and a lead whose every device
is a bot is left out. The statistics are the experiments app's (experiments.emails asks for
these counts through seams.EMAIL_COUNTS, registered in AutomationConfig.ready).
"""

from collections import Counter

from django.db.models import Exists, OuterRef

from yesladder.automation.models import Message, Suppression, email_hash
from yesladder.events import EventName
from yesladder.experiments.assignment import by_weight
from yesladder.funnels.spec.schema import FunnelSpec
from yesladder.leads.models import Visitor
from yesladder.tracking.models import Event

# What each sent message may have led to, in the order experiments.emails names them.
OUTCOMES = ("opened", "clicked", "next_rung", "unsubscribed")


def variant_for(spec: FunnelSpec, email_key: str, lead_id: int) -> str:
    """The version of the email this lead gets ("" when the email is not under test)."""
    email = spec.emails.get(email_key)
    if email is None or not email.variants:
        return ""
    seed = f"email:{spec.funnel}:{email_key}:{email.salt or ''}"
    return by_weight(seed, email.variants, f"l{lead_id}")


def counts(funnel_id: int, email_key: str) -> dict[str, Counter]:
    """Per version: the leads it was sent to, and how many of them opened it, clicked in it,
    climbed a rung of the funnel they had not climbed before it was sent, and unsubscribed
    from it."""
    bots = Visitor.objects.filter(lead=OuterRef("lead"), is_bot=True)
    people = Visitor.objects.filter(lead=OuterRef("lead"), is_bot=False)
    completed = Event.objects.filter(name=EventName.STEP_COMPLETED,
                                     funnel_version__funnel_id=funnel_id)  # fmt: skip
    # a step completed after the send that the lead had not completed before it
    before = completed.filter(lead=OuterRef("lead"), step_key=OuterRef("step_key"),
                              occurred_at__lte=OuterRef(OuterRef("sent_at")))  # fmt: skip
    climbed = completed.filter(lead=OuterRef("lead"), occurred_at__gt=OuterRef("sent_at")
                               ).exclude(Exists(before))  # fmt: skip
    sent = (
        Message.objects.filter(
            version__funnel_id=funnel_id,
            template=email_key,
            state=Message.State.SENT,
            lead__isnull=False,
        )  # fmt: skip
        .exclude(variant="")
        .exclude(Exists(bots) & ~Exists(people))
        .annotate(climbed=Exists(climbed))
        .values_list("variant", "to", "opened_at", "clicked_at", "climbed")
    )
    rows = list(sent)
    left = set(
        Suppression.objects.filter(
            reason=Suppression.Reason.UNSUBSCRIBED, detail=email_key,
            email_hash__in={email_hash(to) for _, to, *_ in rows},
        ).values_list("email_hash", flat=True)
    )  # fmt: skip
    found: dict[str, Counter] = {}
    for variant, to, opened, clicked, climbed in rows:
        mine = found.setdefault(variant, Counter())
        mine["sent"] += 1
        mine.update({"opened": opened is not None, "clicked": clicked is not None,
                     "next_rung": climbed, "unsubscribed": email_hash(to) in left})  # fmt: skip
    return found
