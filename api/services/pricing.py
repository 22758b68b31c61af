"""Honest pricing: the annualized rate from a schedule's cash flows, and schedule checks.

The APR covers every cost, fees included, relative to the money actually received: the
internal rate of return of (+amount at the start, −each payment at its due date), per period,
times the periods in a year — the "simple" annualization (not compounded), as the 2021 PBOC
announcement asks. Whatever a bank states, cardcash computes it from the schedule itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from providers import RepaymentType, ScheduledPayment

APR_METHOD = "IRR_SIMPLE"
"""Internal rate of return per period × periods per year, as a percentage."""

_ZERO = Decimal(0)
_ONE = Decimal(1)
_TOLERANCE = Decimal("1e-20")


def irr(amount: Decimal, payments: Sequence[Decimal]) -> Decimal:
    """The rate ``r`` per period with ``amount = Σ payments[k] / (1 + r)^(k+1)``.

    Newton's method from a good start; the present value is convex and decreasing in ``r``
    for positive payments, so it converges in a handful of steps. Falls back to bisection.
    """
    if amount <= 0 or not payments or any(p < 0 for p in payments):
        raise ValueError("irr needs a positive amount and non-negative payments")
    with localcontext() as ctx:
        ctx.prec = 40
        total = sum(payments, _ZERO)
        if total == amount:
            return _ZERO  # an advance that costs nothing
        rate = (total / amount - _ONE) / len(payments)  # a simple-interest guess
        for _ in range(60):
            discount, value, slope = _ONE / (_ONE + rate), _ZERO, _ZERO
            factor = _ONE
            for k, payment in enumerate(payments, 1):
                factor *= discount
                value += payment * factor
                slope -= k * payment * factor * discount
            step = (value - amount) / slope
            rate -= step
            if abs(step) < _TOLERANCE:
                return rate
        low, high = _ZERO, _ONE  # pragma: no cover - Newton converges for these flows
        for _ in range(200):  # pragma: no cover
            mid = (low + high) / 2
            pv = sum(p / (_ONE + mid) ** k for k, p in enumerate(payments, 1))
            low, high = (mid, high) if pv > amount else (low, mid)
        return (low + high) / 2  # pragma: no cover


def periods_per_year(
    repayment_type: RepaymentType, start: date, schedule: Sequence[ScheduledPayment]
) -> Decimal:
    """12 for monthly installments; ``365 / days`` for a single-month advance of ``days``."""
    if repayment_type is RepaymentType.INSTALLMENT:
        return Decimal(12)
    days = (schedule[-1].due_date - start).days
    return Decimal(365) / Decimal(days)


def apr_percent(
    amount: Decimal,
    repayment_type: RepaymentType,
    start: date,
    schedule: Sequence[ScheduledPayment],
) -> Decimal:
    """The APR as a percentage with two decimals, rounded half up ("13.03")."""
    rate = irr(amount, [p.total for p in schedule])
    with localcontext() as ctx:
        ctx.prec = 40
        value = rate * periods_per_year(repayment_type, start, schedule) * 100
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Totals:
    principal: Decimal
    interest: Decimal
    fee: Decimal

    @property
    def repayment(self) -> Decimal:
        return self.principal + self.interest + self.fee


def totals(schedule: Sequence[ScheduledPayment]) -> Totals:
    return Totals(
        sum((p.principal for p in schedule), _ZERO),
        sum((p.interest for p in schedule), _ZERO),
        sum((p.fee for p in schedule), _ZERO),
    )


def _is_money(value: object) -> bool:
    return (
        isinstance(value, Decimal)
        and value.is_finite()
        and value >= 0
        and value == value.quantize(Decimal("0.01"))
    )


def schedule_problem(
    amount: Decimal, periods: int, start: date, schedule: Sequence[ScheduledPayment]
) -> str | None:
    """Why a bank's schedule cannot be shown, or None when it adds up."""
    if len(schedule) != periods:
        return f"{len(schedule)} payments for {periods} periods"
    previous = start
    for expected, payment in enumerate(schedule, 1):
        if not isinstance(payment, ScheduledPayment) or payment.period != expected:
            return "payments out of order"
        if not all(_is_money(v) for v in (payment.principal, payment.interest, payment.fee)):
            return "a payment is not a non-negative Decimal with two decimals"
        if not isinstance(payment.due_date, date) or payment.due_date <= previous:
            return "due dates do not follow each other"
        previous = payment.due_date
    if totals(schedule).principal != amount:
        return "principals do not add up to the amount"
    return None
