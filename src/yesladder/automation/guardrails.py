"""The experiment guardrails automation knows: which leads unsubscribed, bounced or complained
(the suppression list), registered with experiments in AutomationConfig.ready."""

from collections.abc import Iterable

from yesladder.automation.models import Suppression, email_hash
from yesladder.leads.models import Lead

REASONS = {
    "unsubscribes": [Suppression.Reason.UNSUBSCRIBED],
    "bounces": [Suppression.Reason.HARD_BOUNCE, Suppression.Reason.SOFT_BOUNCES],
    "complaints": [Suppression.Reason.COMPLAINT],
}
CHUNK = 500


def counter(name: str):
    def harmed(leads: Iterable[int]) -> set[int]:
        ids, found = list(leads), set()
        for start in range(0, len(ids), CHUNK):
            hashes = {
                email_hash(email): pk
                for pk, email in Lead.objects.filter(pk__in=ids[start : start + CHUNK]).values_list(
                    "pk", "email"
                )
            }
            suppressed = Suppression.objects.filter(
                email_hash__in=hashes, reason__in=REASONS[name]
            ).values_list("email_hash", flat=True)
            found |= {hashes[h] for h in suppressed}
        return found

    harmed.__qualname__ = f"harmed_by_{name}"
    return harmed
