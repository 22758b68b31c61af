"""The common-practice repayment schedule, for plugins whose bank prices the usual way.

A plugin may call :func:`standard_schedule` from its ``quote`` method, or build its own
schedule; cardcash checks any schedule (principals add up to the amount) and computes the
annualized rate from it either way.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from providers.types import InstallmentPricing, RepaymentType, ScheduledPayment, SingleMonthPricing

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """Round to cents, half up (the rounding banks use for amounts shown to holders)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def add_months(start: date, months: int) -> date:
    """The same day ``months`` later, or the last day of that month when it is shorter."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def standard_schedule(
    amount: Decimal,
    repayment_type: RepaymentType,
    periods: int,
    start_date: date,
    *,
    single_month: SingleMonthPricing | None = None,
    installment: InstallmentPricing | None = None,
) -> tuple[ScheduledPayment, ...]:
    """The schedule of a cash advance priced the common way.

    Single month: the amount plus ``daily rate × days`` interest and a fee of
    ``max(amount × fee rate, minimum fee)``, due ``term_days`` after ``start_date`` (one
    calendar month when the pricing has no day count).

    Installments: equal principal per period (cents left over go to the last period), plus a
    monthly fee of ``amount × monthly fee rate`` on the original principal, no interest.

    Example::

        >>> s = standard_schedule(Decimal("10000.00"), RepaymentType.INSTALLMENT, 12,
        ...     date(2026, 1, 15), installment=InstallmentPricing(12, Decimal("0.006")))
        >>> s[0].total, s[-1].principal
        (Decimal('893.33'), Decimal('833.37'))
    """
    if amount <= 0:
        raise ValueError("amount must be positive")
    if repayment_type is RepaymentType.SINGLE_MONTH:
        if single_month is None or periods != 1:
            raise ValueError("a single-month schedule needs single-month pricing and periods=1")
        if single_month.term_days is None:
            due = add_months(start_date, 1)
        else:
            due = start_date + timedelta(days=single_month.term_days)
        days = (due - start_date).days
        interest = money(amount * single_month.daily_interest_rate * days)
        fee = max(money(amount * single_month.fee_rate), single_month.min_fee)
        return (ScheduledPayment(1, due, amount, interest, fee),)
    if installment is None or installment.periods != periods or periods < 2:
        raise ValueError("an installment schedule needs the pricing of its tenor")
    base = (amount / periods).quantize(CENT, rounding=ROUND_DOWN)
    fee = money(amount * installment.monthly_fee_rate)
    payments = []
    for k in range(1, periods + 1):
        principal = base if k < periods else amount - base * (periods - 1)
        payments.append(
            ScheduledPayment(k, add_months(start_date, k), principal, Decimal("0.00"), fee)
        )
    return tuple(payments)
