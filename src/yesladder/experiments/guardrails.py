"""Who counts a guardrail: the parts that know about harm (automation keeps unsubscribes,
bounces and complaints) add a counter to seams.GUARDRAILS in their AppConfig.ready, so
experiments reads them without importing a layer above its own."""

from collections.abc import Iterable

from yesladder import seams


def harmed(name: str, leads: Iterable[int]) -> set[int] | None:
    """The leads that came to `name`; None when nothing counts that guardrail here."""
    counter = seams.GUARDRAILS.get(name)
    return counter(leads) if counter else None
