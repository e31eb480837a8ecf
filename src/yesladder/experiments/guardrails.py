"""Who counts a guardrail: the parts that know about harm (automation keeps unsubscribes,
bounces and complaints) register a counter here in their AppConfig.ready, so experiments
reads them without importing a layer above its own."""

from collections.abc import Callable, Iterable

# name -> counter(lead ids) -> the lead ids among them that came to that harm
Counter = Callable[[Iterable[int]], set[int]]
_counters: dict[str, Counter] = {}


def register(name: str, counter: Counter) -> None:
    _counters[name] = counter


def harmed(name: str, leads: Iterable[int]) -> set[int] | None:
    """The leads that came to `name`; None when nothing counts that guardrail here."""
    counter = _counters.get(name)
    return counter(leads) if counter else None
