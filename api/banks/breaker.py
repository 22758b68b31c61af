"""A circuit breaker for the calls to one bank.

When a bank keeps failing (timeouts, outages, broken answers), calling it again only makes
users wait for the same failure and adds load to a bank that is struggling. The breaker counts
consecutive failures; after ``failure_threshold`` of them it *opens* and refuses calls at once.
After ``cool_down`` seconds it turns *half-open* and lets exactly one probe call through: the
probe's success closes it, its failure opens it again for another cool-down.

Business answers (a decline, a limit exceeded, a wrong verification code) mean the bank is up
and working, so they count as successes here; see :func:`api.banks.guard.counts_as_failure`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    """Where a circuit breaker stands."""

    CLOSED = "closed"
    """Calls go through; consecutive failures are being counted."""
    OPEN = "open"
    """Calls are refused until the cool-down has passed."""
    HALF_OPEN = "half_open"
    """One probe call is allowed through to find out whether the bank is back."""


class CircuitBreaker:
    """Consecutive-failure circuit breaker with a single half-open probe.

    The breaker is not thread-safe but needs no lock under asyncio: its methods never await.
    ``clock`` is a monotonic clock in seconds, injectable so tests need not sleep.

    Example::

        breaker = CircuitBreaker(failure_threshold=3, cool_down=30.0)
        probe = breaker.admit()          # None when refused
        if probe is not None:
            ...                          # make the call, then exactly one of:
            breaker.record_success(probe) / breaker.record_failure(probe) / breaker.release(probe)
    """

    def __init__(
        self,
        *,
        failure_threshold: int,
        cool_down: float,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cool_down < 0:
            raise ValueError("cool_down must not be negative")
        self._threshold = failure_threshold
        self._cool_down = cool_down
        self._clock = clock
        self._on_change = on_change
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cool-down has passed reads as half-open."""
        if self._state is BreakerState.OPEN and self._cool_down_over():
            self._set(BreakerState.HALF_OPEN)
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures counted since the last success."""
        return self._failures

    def admit(self) -> Admission | None:
        """Ask to make a call. Returns an admission ticket, or None when the call is refused.

        In half-open state only the first caller gets a ticket (the probe); others are refused
        until the probe has reported back.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return Admission(probe=False)
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return Admission(probe=True)
        return None

    def record_success(self, admission: Admission) -> None:
        """The admitted call reached the bank and got an answer."""
        self._finish(admission)
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._set(BreakerState.CLOSED)

    def record_failure(self, admission: Admission) -> None:
        """The admitted call failed in a way that says the bank is not working."""
        self._finish(admission)
        self._failures += 1
        # A failed probe (or any failure while half-open) re-opens at once; while closed it
        # takes ``failure_threshold`` failures in a row.
        probing = admission.probe or self._state is BreakerState.HALF_OPEN
        if probing or (self._state is BreakerState.CLOSED and self._failures >= self._threshold):
            self._open()

    def release(self, admission: Admission) -> None:
        """The admitted call said nothing about the bank (cancelled, never sent): forget it."""
        self._finish(admission)

    def _finish(self, admission: Admission) -> None:
        if admission.probe:
            self._probe_in_flight = False

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._set(BreakerState.OPEN)

    def _cool_down_over(self) -> bool:
        return self._clock() - self._opened_at >= self._cool_down

    def _set(self, state: BreakerState) -> None:
        if state is self._state:
            return
        self._state = state
        if self._on_change is not None:
            self._on_change(state)


class Admission:
    """A ticket to make one call; says whether the call is the half-open probe."""

    __slots__ = ("probe",)

    def __init__(self, *, probe: bool) -> None:
        self.probe = probe

    def __repr__(self) -> str:
        return f"Admission(probe={self.probe})"
