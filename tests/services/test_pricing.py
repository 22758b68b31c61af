"""APR from cash flows against product.md's worked examples, and schedules that add up."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.services.pricing import apr_percent, irr, schedule_problem, totals
from providers import InstallmentPricing, RepaymentType, ScheduledPayment, SingleMonthPricing
from providers.pricing import standard_schedule

START = date(2026, 3, 10)


def installment(amount: str, periods: int, rate: str) -> tuple[ScheduledPayment, ...]:
    return standard_schedule(
        Decimal(amount),
        RepaymentType.INSTALLMENT,
        periods,
        START,
        installment=InstallmentPricing(periods, Decimal(rate)),
    )


def test_worked_example_12_periods():
    schedule = installment("10000.00", 12, "0.006")
    assert schedule[0].total == Decimal("893.33")
    assert totals(schedule).fee == Decimal("720.00")
    rate = irr(Decimal("10000.00"), [p.total for p in schedule])
    assert rate.quantize(Decimal("0.000001")) == Decimal("0.010862")
    apr = apr_percent(Decimal("10000.00"), START, schedule)
    assert apr == Decimal("13.03")
    assert apr != Decimal("7.20")  # the misleading "0.6% × 12"


@pytest.mark.parametrize(
    ("periods", "rate", "expected"),
    [(6, "0.005", "10.21"), (24, "0.0075", "16.43"), (3, "0.0045", "8.08")],
)
def test_more_worked_examples(periods, rate, expected):
    schedule = installment("10000.00", periods, rate)
    assert apr_percent(Decimal("10000.00"), START, schedule) == Decimal(
        expected
    )


def test_single_month_thirty_days():
    pricing = SingleMonthPricing(Decimal("0.0005"), Decimal("0.01"), Decimal("10.00"))
    start = date(2026, 4, 1)  # April has 30 days
    schedule = standard_schedule(
        Decimal("10000.00"), RepaymentType.SINGLE_MONTH, 1, start, single_month=pricing
    )
    assert (schedule[0].interest, schedule[0].fee) == (Decimal("150.00"), Decimal("100.00"))
    assert apr_percent(Decimal("10000.00"), start, schedule) == Decimal(
        "30.42"
    )


def test_single_month_minimum_fee_shows_in_the_apr():
    pricing = SingleMonthPricing(Decimal("0.0005"), Decimal("0.01"), Decimal("10.00"))
    start = date(2026, 4, 1)
    schedule = standard_schedule(
        Decimal("100.00"), RepaymentType.SINGLE_MONTH, 1, start, single_month=pricing
    )
    assert schedule[0].fee == Decimal("10.00")  # 1% would be 1.00
    assert apr_percent(Decimal("100.00"), start, schedule) > Decimal(
        "130"
    )


amounts = st.integers(min_value=10_000, max_value=5_000_000).map(lambda c: Decimal(c) / 100)
tenors = st.sampled_from([3, 6, 12, 24])
rates = st.integers(min_value=0, max_value=150).map(lambda r: Decimal(r) / 10_000)


@settings(max_examples=200, deadline=None)
@given(amount=amounts, periods=tenors, rate=rates, offset=st.integers(0, 3000))
def test_installment_schedules_add_up(amount, periods, rate, offset):
    start = date(2024, 1, 1) + timedelta(days=offset)
    schedule = standard_schedule(
        amount,
        RepaymentType.INSTALLMENT,
        periods,
        start,
        installment=InstallmentPricing(periods, rate),
    )
    assert schedule_problem(amount, periods, start, schedule) is None
    t = totals(schedule)
    assert t.principal == amount
    assert t.repayment == sum(p.total for p in schedule)
    assert t.fee == sum(p.fee for p in schedule)
    assert all(p.principal.as_tuple().exponent == -2 for p in schedule)
    assert max(p.principal for p in schedule) - min(p.principal for p in schedule) < Decimal("0.25")
    apr = apr_percent(amount, start, schedule)
    assert apr >= (rate * 12 * 100).quantize(Decimal("0.01"))  # never below the nominal rate


@settings(max_examples=100, deadline=None)
@given(amount=amounts, offset=st.integers(0, 3000))
def test_single_month_schedules_add_up(amount, offset):
    start = date(2024, 1, 1) + timedelta(days=offset)
    pricing = SingleMonthPricing(Decimal("0.0005"), Decimal("0.01"), Decimal("10.00"))
    schedule = standard_schedule(amount, RepaymentType.SINGLE_MONTH, 1, start, single_month=pricing)
    assert schedule_problem(amount, 1, start, schedule) is None
    assert 28 <= (schedule[0].due_date - start).days <= 31
    assert apr_percent(amount, start, schedule) > Decimal("18.25")


def test_schedule_problems_are_named():
    good = installment("1000.00", 3, "0.006")
    assert schedule_problem(Decimal("1000.00"), 6, START, good) == "3 payments for 6 periods"
    short = good[:2] + (
        ScheduledPayment(3, good[2].due_date, good[2].principal - 1, Decimal(0), good[2].fee),
    )
    assert schedule_problem(Decimal("1000.00"), 3, START, short) == (
        "principals do not add up to the amount"
    )
    floaty = good[:2] + (
        ScheduledPayment(3, good[2].due_date, 333.34, Decimal(0), good[2].fee),  # type: ignore[arg-type]
    )
    assert "Decimal" in schedule_problem(Decimal("1000.00"), 3, START, floaty)
