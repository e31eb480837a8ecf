"""How far one person climbed one ladder: the ordered-window funnel, as a pure function.

The semantics are ClickHouse's `windowFunnel(window)` in its default mode, so any count can be
checked against it (docs/analytics.md): hits are taken in (time, rung) order; a hit on the first
rung starts a chain; a hit on rung k extends the latest-started chain that reached rung k-1 if it
comes no later than `window` after that chain's start; the level is the highest rung any chain
reached. Times are integers (microseconds since the epoch) so equal instants compare exactly.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

Chain = tuple[int, ...]  # when the chain reached each rung, from its start


@dataclass(frozen=True, order=True)
class Hit:
    at: int  # microseconds since the epoch
    rung: int  # 0-based position in the ladder


@dataclass
class Climb:
    """The state of one person's climb, kept up to date one hit at a time."""

    rungs: int
    window: int  # microseconds
    # chains[k]: the latest-started chain that reached rung k (a later start leaves more of
    # the window for the rungs above, which is why windowFunnel keeps only that one).
    chains: list[Chain | None] = field(default_factory=list)
    best: Chain = ()  # the first chain to reach the highest rung reached: its times
    last: Hit | None = None

    def __post_init__(self) -> None:
        if not self.chains:
            self.chains = [None] * self.rungs

    @property
    def level(self) -> int:
        return len(self.best)

    def accepts(self, hit: Hit) -> bool:
        """A hit can be added in place only if nothing already added comes after it."""
        return self.last is None or hit >= self.last

    def add(self, hit: Hit) -> bool:
        """Add a hit in order; returns whether the climb's result (`best`) changed."""
        if not self.accepts(hit):
            raise ValueError("hits must be added in (time, rung) order; recount instead")
        self.last = hit
        chain = self._extend(hit)
        if chain is None or len(chain) <= len(self.best):
            return False
        self.best = chain
        return True

    def _extend(self, hit: Hit) -> Chain | None:
        k = hit.rung
        if k == 0:
            self.chains[0] = (hit.at,)
            return self.chains[0]
        below = self.chains[k - 1]
        if below is None or hit.at - below[0] > self.window:
            return None
        here = self.chains[k]
        if here is None or here[0] < below[0]:  # the same start already got here earlier
            self.chains[k] = (*below, hit.at)
        return self.chains[k]

    def gaps(self) -> list[int]:
        """Microseconds from each rung of the best chain to the next."""
        return [b - a for a, b in zip(self.best, self.best[1:], strict=False)]

    def to_state(self) -> dict:
        return {
            "chains": [list(c) if c else None for c in self.chains],
            "best": list(self.best),
            "last": [self.last.at, self.last.rung] if self.last else None,
        }

    @classmethod
    def from_state(cls, rungs: int, window: int, state: dict) -> "Climb":
        chains = [tuple(c) if c else None for c in state.get("chains") or []]
        if len(chains) != rungs:  # written for another ladder: start again
            return cls(rungs, window)
        last = state.get("last")
        return cls(rungs, window, chains, tuple(state.get("best") or ()),
                   Hit(*last) if last else None)  # fmt: skip


def climb(hits: Iterable[Hit], rungs: int, window: int) -> Climb:
    """The whole climb from every hit, in any order."""
    result = Climb(rungs, window)
    for hit in sorted(hits):
        result.add(hit)
    return result


def within(start: int, window: int, times: Iterable[int]) -> bool:
    """Whether anything happened inside the window that opens at `start` (optional rungs and
    exclusions are judged against the chain that took the person furthest)."""
    return any(start <= at <= start + window for at in times)
