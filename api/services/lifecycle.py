"""The withdrawal state machine: which status may follow which, and who may say so."""

from __future__ import annotations

from enum import StrEnum

from providers import WithdrawalState


class Status(StrEnum):
    """A withdrawal's status in cardcash.

    ``PENDING`` is cardcash's own first state: recorded, and being handed to the bank, whose
    answer is not known yet. Every other status is the bank's.
    """

    PENDING = "PENDING"
    VERIFICATION_REQUIRED = "VERIFICATION_REQUIRED"
    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @classmethod
    def of(cls, state: WithdrawalState) -> Status:
        return cls(state.value)

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


class Source(StrEnum):
    """Who caused a status change."""

    USER = "USER"
    BANK = "BANK"
    CALLBACK = "CALLBACK"
    STATUS_SYNC = "STATUS_SYNC"


TERMINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})

#: Forward moves only. A terminal status has no successor.
NEXT: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset(Status) - {Status.PENDING},
    Status.VERIFICATION_REQUIRED: frozenset(
        {Status.PROCESSING, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED}
    ),
    Status.PROCESSING: frozenset({Status.SUCCEEDED, Status.FAILED}),
    Status.SUCCEEDED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
}


def can_move(current: Status, target: Status) -> bool:
    """True when ``target`` may follow ``current``."""
    return target in NEXT[current]
