"""Honest pricing: the annualized rate from a schedule's cash flows and dates, and checks.

The APR covers every cost, fees included, relative to the money actually received: the
internal rate of return of (+amount at the start, −each payment on its due date), per period,
times the periods in a year — the "simple" annualization (not compounded) of the PBOC's
announcement 2021 No. 3. Whatever a bank states, cardcash computes it from the schedule itself,
on the schedule's own dates (see :func:`apr_percent`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

from providers import ScheduledPayment
from providers.pricing import add_months

APR_METHOD = "IRR_ACTUAL_DATES_SIMPLE"
"""IRR over each payment's actual date, per mean period × periods per year, as a percentage."""

#: The 2022 credit-card notice caps an installment's tenor at five years.
MAX_TENOR_MONTHS = 60

_ZERO = Decimal(0)
_ONE = Decimal(1)
_TOLERANCE = Decimal("1e-20")


def whole_months(start: date, due: date) -> int:
    """The number of whole calendar months from ``start`` to ``due`` (month ends clamp)."""
    months = (due.year - start.year) * 12 + due.month - start.month
    while months > 0 and add_months(start, months) > due:
        months -= 1
    return max(months, 0)


def years_after(start: date, due: date, *, months_count: bool) -> Fraction:
    """The time from ``start`` to ``due`` in years, exactly: each whole calendar month 1/12
    (when ``months_count``), every other day 1/365."""
    months = whole_months(start, due) if months_count else 0
    days = (due - add_months(start, months)).days
    return Fraction(months, 12) + Fraction(days, 365)


def irr(amount: Decimal, payments: Sequence[Decimal], times: Sequence[Decimal] | None = None):
    """The rate ``r`` per period with ``amount = Σ payments[k] / (1 + r)^times[k]``.

    ``times`` are in periods (1, 2, 3… when omitted). Newton's method from a simple-interest
    guess; the present value is convex and decreasing in ``r`` for positive payments, so it
    converges in a handful of steps. Falls back to bisection.
    """
    if amount <= 0 or not payments or any(p < 0 for p in payments):
        raise ValueError("irr needs a positive amount and non-negative payments")
    with localcontext() as ctx:
        ctx.prec = 40
        if times is None:
            times = [Decimal(k) for k in range(1, len(payments) + 1)]
        total = sum(payments, _ZERO)
        if total == amount:
            return _ZERO  # an advance that costs nothing
        whole = all(t == t.to_integral_value() for t in times)

        def value_and_slope(rate: Decimal) -> tuple[Decimal, Decimal]:
            value, slope = _ZERO, _ZERO
            if whole:  # powers by multiplication: the common monthly schedule, quickly
                discount, factor, previous = _ONE / (_ONE + rate), _ONE, 0
                for t, payment in zip(times, payments, strict=True):
                    for _ in range(int(t) - previous):
                        factor *= discount
                    previous = int(t)
                    value += payment * factor
                    slope -= t * payment * factor * discount
                return value, slope
            log_discount = -(_ONE + rate).ln()
            for t, payment in zip(times, payments, strict=True):
                factor = (t * log_discount).exp()
                value += payment * factor
                slope -= t * payment * factor / (_ONE + rate)
            return value, slope

        rate = (total / amount - _ONE) / max(times[-1], Decimal("0.01"))
        for _ in range(80):
            value, slope = value_and_slope(rate)
            step = (value - amount) / slope
            rate -= step
            if rate <= -_ONE:  # pragma: no cover - overshoot: restart from the bisection
                break
            if abs(step) < _TOLERANCE:
                return rate
        low, high = _ZERO, _ONE  # pragma: no cover - Newton converges for these flows
        while value_and_slope(high)[0] > amount:  # pragma: no cover
            high *= 2
        for _ in range(200):  # pragma: no cover
            mid = (low + high) / 2
            low, high = (mid, high) if value_and_slope(mid)[0] > amount else (low, mid)
        return (low + high) / 2  # pragma: no cover


def _decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def apr_percent(amount: Decimal, start: date, schedule: Sequence[ScheduledPayment]) -> Decimal:
    """The APR of ``schedule`` as a percentage with two decimals, rounded half up ("13.03").

    On the schedule's actual dates: each payment's time from ``start`` in years, where an
    installment schedule counts each whole calendar month as 1/12 year and every other day as
    1/365, and a single payment (which accrues interest by the day) counts its days / 365. The
    period is the mean interval (the last payment's time / the number of payments); the APR
    is the IRR per period × periods per year. A regular monthly schedule thus gives the
    monthly IRR × 12 (10,000 CNY, 12 × 0.6 % → 13.03 %), 30 days of a single month its cost
    × 365 / 30, and 12 payments a day apart the daily IRR × 365.
    """
    months_count = len(schedule) > 1
    with localcontext() as ctx:
        ctx.prec = 40
        years = [years_after(start, p.due_date, months_count=months_count) for p in schedule]
        period = years[-1] / len(schedule)
        times = [_decimal(t / period) for t in years]
        rate = irr(amount, [p.total for p in schedule], times)
        value = rate / _decimal(period) * 100
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


def lasts_too_long(start: date, schedule: Sequence[ScheduledPayment]) -> bool:
    """True when the last payment falls more than five years after ``start`` (the 2022
    notice's cap on a tenor, by duration: twelve payments over six years pass it)."""
    return bool(schedule) and schedule[-1].due_date > add_months(start, MAX_TENOR_MONTHS)


def presented(schedule: Sequence[ScheduledPayment]) -> tuple[ScheduledPayment, ...]:
    """The schedule as the holder is shown it: an installment's cost of funds is interest.

    Banks call an installment's monthly charge a fee (手续费); the 2022 credit-card notice
    requires the cost of funds of an installment to be shown as interest (利息), so each
    payment's fee is added to its interest. A single payment keeps its daily interest and its
    cash-advance fee apart, as the bank's agreement states them.
    """
    if len(schedule) < 2:
        return tuple(schedule)
    return tuple(
        ScheduledPayment(p.period, p.due_date, p.principal, p.interest + p.fee, _ZERO * p.fee)
        for p in schedule
    )
