"""A clock tests move by hand, for code that takes a ``clock: Callable[[], float]``."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """Returns ``now`` when called; ``advance(seconds)`` moves it forward (never on its own)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass (at least 0)."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self.now += seconds
