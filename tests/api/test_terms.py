"""What a user is shown before borrowing: the highest rate, cost as interest, honest dates."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta

from api import messages
from providers import ScheduledPayment
from tests.api.flow import User
from tests.services.test_apr_oracle import oracle_apr

OPTIONS = """{ banks(channel: ALIPAY) { code offer { ... on CashAdvanceOffer {
  minAmount { amount } maxAmount { amount }
  repaymentOptions { repaymentType periods apr aprMethod representativeAmount { amount }
    aprRange { lowest lowestAt { amount } highest highestAt { amount }
               minAmount { amount } maxAmount { amount } } } } } } }"""


async def options(user: User) -> dict[tuple[str, str, int], dict]:
    body = await user.q(OPTIONS)
    assert "errors" not in body, body
    return {
        (b["code"], o["repaymentType"], o["periods"]): o
        for b in body["data"]["banks"]
        if b["offer"]
        for o in b["offer"]["repaymentOptions"]
    }


async def test_each_option_shows_its_highest_rate_and_where(client):
    user = await User.sign_in(client, "hana")
    found = await options(user)
    single = found[("CEB", "SINGLE_MONTH", 1)]
    # 10 CNY minimum fee on 100 CNY for CEB's 30 days: far above the 30.42 % at 10,000.
    assert single["aprRange"]["highest"] == "139.92"
    assert single["aprRange"]["highestAt"]["amount"] == "100.00"
    assert single["aprRange"]["lowest"] == "30.42" == single["apr"]
    assert single["aprMethod"] == "IRR_ACTUAL_DATES_SIMPLE"
    # CEB's installments start at 500.00: the range starts there too.
    three = found[("CEB", "INSTALLMENT", 3)]
    assert three["aprRange"]["minAmount"]["amount"] == "500.00"
    assert Decimal(three["aprRange"]["lowest"]) <= Decimal(three["aprRange"]["highest"])
    for (_, _, _), option in found.items():
        r = option["aprRange"]
        assert Decimal(r["lowest"]) <= Decimal(option["apr"]) <= Decimal(r["highest"])
        for at in (r["lowestAt"], r["highestAt"]):
            assert Decimal(r["minAmount"]["amount"]) <= Decimal(at["amount"])
            assert Decimal(at["amount"]) <= Decimal(r["maxAmount"]["amount"])


@pytest.mark.parametrize("bank", ["NBBANK", "CEB", "SPABANK"])
async def test_the_offer_and_the_quote_agree_at_both_ends(client, bank):
    """One product, one APR: the offer is priced with the bank's own day count and bounds."""
    user = await User.sign_in(client, "ines")
    for (code, kind, periods), option in (await options(user)).items():
        if code != bank:
            continue
        r = option["aprRange"]
        for apr, at in ((r["highest"], r["highestAt"]), (r["lowest"], r["lowestAt"])):
            quote = await user.quote(bank, at["amount"], kind, periods)
            if quote["__typename"] != "Quote":
                assert quote["code"] == "LIMIT_EXCEEDED", quote  # more than this user's limit
                continue
            assert quote["apr"] == apr, (kind, periods, at, quote["apr"], apr)


async def test_installment_cost_is_shown_as_interest(client):
    user = await User.sign_in(client, "jack")
    quote = await user.quote("SPABANK", "6000.00", "INSTALLMENT", 6)
    assert quote["__typename"] == "Quote", quote
    assert {p["fee"]["amount"] for p in quote["schedule"]} == {"0.00"}
    assert quote["totalFee"]["amount"] == "0.00"
    interest = sum(Decimal(p["interest"]["amount"]) for p in quote["schedule"])
    assert interest > 0 and quote["totalInterest"]["amount"] == f"{interest:.2f}"
    assert f"利息合计 {interest:.2f} 元" in quote["disclosure"]["text"]
    single = await user.quote("SPABANK", "6000.00", "SINGLE_MONTH", 1)
    assert single["totalFee"]["amount"] == "60.00"  # a cash-advance fee stays a fee


async def test_an_installment_below_the_banks_minimum_is_refused(client):
    user = await User.sign_in(client, "kim")
    quote = await user.quote("SPABANK", "999.99", "INSTALLMENT", 3)
    assert quote["code"] == "AMOUNT_OUT_OF_RANGE", quote
    assert quote["field"] == "amount"
    assert (await user.quote("SPABANK", "1000.00", "INSTALLMENT", 3))["__typename"] == "Quote"
    assert (await user.quote("SPABANK", "999.99", "SINGLE_MONTH", 1))["__typename"] == "Quote"


def redated(bank, step):
    """Make the bank quote its own installments on other due dates."""
    original = bank.quote

    async def quote(request):
        result = await original(request)
        schedule = tuple(
            ScheduledPayment(
                p.period, request.start_date + step * p.period, p.principal, p.interest, p.fee
            )
            for p in result.schedule
        )
        return replace(result, schedule=schedule)

    bank.quote = quote


@pytest.mark.parametrize(
    "step", [timedelta(days=1), relativedelta(months=3)], ids=["daily", "quarterly"]
)
async def test_the_quotes_apr_follows_the_banks_dates(client, app, step):
    redated(app.state.services.registry.get("CEB").provider, step)
    user = await User.sign_in(client, "lena")
    quote = await user.quote("CEB", "10000.00", "INSTALLMENT", 12)
    assert quote["__typename"] == "Quote", quote
    assert quote["apr"] != "13.03"
    start = date.fromisoformat(quote["schedule"][0]["dueDate"]) - step
    schedule = [
        ScheduledPayment(
            p["period"], date.fromisoformat(p["dueDate"]), Decimal(p["principal"]["amount"]),
            Decimal(p["interest"]["amount"]), Decimal(p["fee"]["amount"]),
        )
        for p in quote["schedule"]
    ]
    assert abs(float(quote["apr"]) - oracle_apr(Decimal("10000.00"), start, schedule)) <= 0.005


async def test_a_schedule_longer_than_five_years_is_refused(client, app):
    redated(app.state.services.registry.get("CEB").provider, relativedelta(months=6))
    user = await User.sign_in(client, "mona")
    quote = await user.quote("CEB", "10000.00", "INSTALLMENT", 12)  # 12 payments, 6 years
    assert quote["code"] == "UNSUPPORTED_TENOR", quote
    assert quote["message"] == messages.text("UNSUPPORTED_TENOR.over_five_years")
