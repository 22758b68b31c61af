"""The APR against an independent IRR over each payment's actual date, on every sandbox bank.

The oracle is written apart from ``api.services.pricing``: binary floating point, calendar
months from ``dateutil``, and a bisection on the annual rate instead of Newton's method on the
rate per period. Both must agree to within half a hundredth of a percentage point.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta

from api.banks.sandbox import SANDBOX_BANKS, SandboxBank
from api.services.pricing import apr_percent, lasts_too_long
from providers import (
    Customer,
    InstallmentPricing,
    ProviderContext,
    QuoteRequest,
    RepaymentType,
    ScheduledPayment,
)
from providers.pricing import standard_schedule

STARTS = [date(2026, 1, 31), date(2026, 2, 28), date(2026, 12, 7)]
HALF_A_HUNDREDTH = 0.005 + 1e-9


def oracle_years(start: date, due: date, count_months: bool) -> float:
    months = 0
    if count_months:
        while start + relativedelta(months=months + 1) <= due:
            months += 1
    return months / 12 + (due - (start + relativedelta(months=months))).days / 365


def oracle_apr(amount: Decimal, start: date, schedule) -> float:
    """The annual rate j with amount = Σ payment / (1 + j·τ)^(t/τ), τ the mean period."""
    times = [oracle_years(start, p.due_date, len(schedule) > 1) for p in schedule]
    flows = [float(p.principal + p.interest + p.fee) for p in schedule]
    tau = times[-1] / len(times)

    def present_value(j: float) -> float:
        return sum(f * (1 + j * tau) ** (-t / tau) for f, t in zip(flows, times, strict=True))

    low, high = 0.0, 1000.0
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if present_value(mid) > float(amount) else (low, mid)
    return (low + high) / 2 * 100


def periodic_irr_times_12(amount: Decimal, schedule) -> float:
    """The textbook figure of a regular monthly schedule: the monthly IRR × 12."""
    flows = [float(p.principal + p.interest + p.fee) for p in schedule]
    low, high = 0.0, 10.0
    for _ in range(200):
        r = (low + high) / 2
        pv = sum(f / (1 + r) ** k for k, f in enumerate(flows, 1))
        low, high = (r, high) if pv > float(amount) else (low, r)
    return (low + high) / 2 * 12 * 100


@pytest.fixture
async def banks(tmp_path):
    opened = {
        code: SandboxBank.from_data_file(
            code, ProviderContext(code, tmp_path, {"latency_ms": "0", "failure_rate": "0"})
        )
        for code in SANDBOX_BANKS
    }
    yield opened
    for bank in opened.values():
        await bank.aclose()


async def test_every_bank_type_tenor_and_amount_agrees_with_the_oracle(banks):
    checked = 0
    for code, bank in banks.items():
        for n in range(200):  # a customer with room to draw the bank's maximum
            customer = Customer("WECHAT", f"oracle-{n}")
            credit = (await bank.list_cards(customer))[0]
            offer = await bank.get_offer(customer, credit.card_ref)
            if offer.available_limit >= offer.max_amount:
                break
        tenors = [(RepaymentType.SINGLE_MONTH, 1, offer.min_amount)] + [
            (RepaymentType.INSTALLMENT, p.periods, max(offer.min_amount, p.min_amount or 0))
            for p in offer.installments
        ]
        for repayment_type, periods, low in tenors:
            for amount in (low, Decimal("1234.57"), offer.max_amount):
                for start in STARTS:
                    quote = await bank.quote(
                        QuoteRequest(customer, credit.card_ref, amount, "CNY", repayment_type,
                                     periods, start)
                    )
                    apr = apr_percent(amount, start, quote.schedule)
                    expected = oracle_apr(amount, start, quote.schedule)
                    assert abs(float(apr) - expected) <= HALF_A_HUNDREDTH, (
                        code, repayment_type, periods, amount, start, apr, expected
                    )
                    checked += 1
    assert checked >= 6 * 5 * 3 * 3  # six banks, five tenors or more, three amounts and days


@pytest.mark.parametrize("start", STARTS + [date(2027, 2, 4), date(2028, 2, 29)])
@pytest.mark.parametrize(
    ("periods", "rate"), [(3, "0.0045"), (6, "0.005"), (12, "0.006"), (24, "0.0075")]
)
def test_a_regular_monthly_schedule_is_the_monthly_irr_times_12(start, periods, rate):
    amount = Decimal("10000.00")
    schedule = standard_schedule(
        amount, RepaymentType.INSTALLMENT, periods, start,
        installment=InstallmentPricing(periods, Decimal(rate)),
    )
    apr = float(apr_percent(amount, start, schedule))
    assert abs(apr - periodic_irr_times_12(amount, schedule)) <= HALF_A_HUNDREDTH
    assert abs(apr - oracle_apr(amount, start, schedule)) <= HALF_A_HUNDREDTH


def monthly_terms(step: timedelta | relativedelta, periods: int = 12):
    """The 12 × 893.33 payments of product.md's worked example, on other dates."""
    start = date(2026, 3, 10)
    regular = standard_schedule(
        Decimal("10000.00"), RepaymentType.INSTALLMENT, periods, start,
        installment=InstallmentPricing(periods, Decimal("0.006")),
    )
    return start, tuple(
        ScheduledPayment(p.period, start + step * p.period, p.principal, p.interest, p.fee)
        for p in regular
    )


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (relativedelta(months=1), "13.03"),  # the worked example
        (timedelta(days=1), None),  # twelve payments a day apart: far dearer
        (relativedelta(months=3), None),  # quarterly over three years: far cheaper
        (timedelta(days=45), None),
    ],
    ids=["monthly", "daily", "quarterly", "45-days"],
)
def test_the_apr_follows_the_schedules_dates(step, expected):
    start, schedule = monthly_terms(step)
    apr = apr_percent(Decimal("10000.00"), start, schedule)
    assert abs(float(apr) - oracle_apr(Decimal("10000.00"), start, schedule)) <= HALF_A_HUNDREDTH
    if expected is not None:
        assert apr == Decimal(expected)
    elif step == timedelta(days=1):
        assert apr > Decimal("300")
    elif step == relativedelta(months=3):
        assert Decimal("3") < apr < Decimal("13.03")


def test_a_tenor_is_capped_at_five_years_by_duration():
    start, six_years = monthly_terms(relativedelta(months=6))  # 12 payments, 72 months
    assert lasts_too_long(start, six_years)
    start, five_years = monthly_terms(relativedelta(months=5))  # exactly 60 months
    assert not lasts_too_long(start, five_years)
    start, monthly = monthly_terms(relativedelta(months=1), periods=60)
    assert not lasts_too_long(start, monthly)
