"""Exposure across banks: one daily cap per person, whatever the bank or channel, and a
warning before a high-cost advance is accepted. On the sandbox banks, at production
defaults (20,000 CNY a day, 36 %), on SQLite and on PostgreSQL alike.

``sandbox:<name>`` is vouched for with the same real-name identity on both channels: the
WeChat and the Alipay user of one name are one person."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

from sqlmodel import func, select

from api import messages
from api.services.accounts import Accounts, person_key
from api.services.catalog import Channel
from db.models import User as UserRow
from db.models import Withdrawal
from tests.api.flow import User, accepted

CAP_ERROR = """... on AmountError { field personRemaining { amount currency }
  dailyRemaining { amount } }"""
QUOTE = (
    """mutation($input: CreateQuoteInput!) { createQuote(input: $input) { __typename
  ... on Quote { id apr highCost highCostWarning disclosure { version text }
    dataSharingConsent { version } createdAt }
  ... on Error { code message } """
    + CAP_ERROR
    + " } }"
)
CREATE = (
    """mutation($input: CreateWithdrawalInput!) { createWithdrawal(input: $input) {
  __typename ... on Withdrawal { id status } ... on Error { code message } """
    + CAP_ERROR
    + " } }"
)
CANCEL = "mutation($id: ID!) { cancelWithdrawal(id: $id) { ... on Withdrawal { status } } }"


async def count(app) -> int:
    async with app.state.services.db.read() as session:
        return (await session.exec(select(func.count()).select_from(Withdrawal))).one()


async def withdraw(user: User, quote: dict, key: str | None = None) -> dict:
    """createWithdrawal asking for the cap error's fields too."""
    _, debit = await user.cards()
    variables = {
        "input": {
            "quoteId": quote["id"],
            "debitCardId": debit[0]["id"],
            "purpose": "CONSUMPTION",
            **accepted(quote),
            "acceptedDisclosureVersion": quote["disclosure"]["version"],
            "idempotencyKey": key or str(uuid.uuid4()),
        }
    }
    return (await user.q(CREATE, variables))["data"]["createWithdrawal"]


async def quote(user: User, bank: str, amount: str) -> dict:
    made = await create_quote(user, bank, amount)
    assert made["__typename"] == "Quote", made
    return made


async def create_quote(user: User, bank: str, amount: str) -> dict:
    """A single-month quote at ``bank`` (one where the sandbox user holds a card)."""
    credit, _ = await user.cards()
    variables = {
        "input": {
            "bankCode": bank,
            "creditCardId": credit[bank]["id"],
            "amount": amount,
            "repaymentType": "SINGLE_MONTH",
            "periods": 1,
        }
    }
    return (await user.q(QUOTE, variables))["data"]["createQuote"]


async def test_one_person_shares_one_daily_cap_across_banks_and_channels(client, app):
    on_alipay = await User.sign_in(client, "cap-mei", "ALIPAY")
    on_wechat = await User.sign_in(client, "cap-mei", "WECHAT")
    first = await withdraw(on_alipay, await quote(on_alipay, "CEB", "9000.00"))
    second = await withdraw(on_wechat, await quote(on_wechat, "CEB", "9000.00"))
    assert first["__typename"] == second["__typename"] == "Withdrawal", (first, second)

    # 18,000 drawn by the person today: 2,000 left, at any bank, on either channel.
    for user, bank in ((on_alipay, "SPABANK"), (on_wechat, "SPABANK"), (on_alipay, "NBBANK")):
        refused = await create_quote(user, bank, "3000.00")
        assert refused["__typename"] == "AmountError", refused
        assert refused["code"] == "PERSON_DAILY_CAP_EXCEEDED" and refused["field"] == "amount"
        assert refused["personRemaining"] == {"amount": "2000.00", "currency": "CNY"}
        assert refused["message"] == messages.text(
            "PERSON_DAILY_CAP_EXCEEDED.remaining",
            "zh-CN",
            person_remaining=Decimal("2000.00"),
            person_daily_cap=Decimal("20000.00"),
        )
        assert "2000.00" in refused["message"] and "20000.00" in refused["message"]
    on_alipay.headers["Accept-Language"] = "en"
    refused = await create_quote(on_alipay, "SPABANK", "3000.00")
    assert refused["message"].startswith("The amount is above what you may still borrow today")
    # Up to what is left is fine.
    assert (await quote(on_alipay, "SPABANK", "2000.00"))["highCost"] is False

    # Someone else (another name) is another person: their day is untouched.
    other = await User.sign_in(client, "cap-nora", "ALIPAY")
    assert (await quote(other, "SPABANK", "3000.00"))["__typename"] == "Quote"


async def test_the_cap_is_checked_again_when_withdrawing_and_refuses_without_a_trace(client, app):
    alipay = await User.sign_in(client, "cap-olga", "ALIPAY")
    wechat = await User.sign_in(client, "cap-olga", "WECHAT")
    # Three quotes, each within the cap when made: 21,000 in all.
    q1 = await quote(alipay, "CEB", "9000.00")
    q2 = await quote(wechat, "CEB", "9000.00")
    q3 = await quote(alipay, "SPABANK", "3000.00")
    w1 = await withdraw(alipay, q1)
    assert (await withdraw(wechat, q2))["__typename"] == "Withdrawal"
    before = await count(app)
    key = str(uuid.uuid4())
    refused = await withdraw(alipay, q3, key)
    assert refused["__typename"] == "AmountError", refused
    assert refused["code"] == "PERSON_DAILY_CAP_EXCEEDED"
    assert refused["personRemaining"]["amount"] == "2000.00"
    assert await count(app) == before  # nothing written, nothing sent to the bank

    # A withdrawal that lends nothing (cancelled before verification) frees its room: the
    # same request, with the same key, now goes through.
    assert w1["status"] == "VERIFICATION_REQUIRED", w1
    cancelled = (await alipay.q(CANCEL, {"id": w1["id"]}))["data"]["cancelWithdrawal"]
    assert cancelled == {"status": "CANCELLED"}
    made = await withdraw(alipay, q3, key)
    assert made["__typename"] == "Withdrawal", made
    # And its retry answers as the first, though the person's room is used up by it.
    assert (await withdraw(alipay, q3, key))["id"] == made["id"]


async def test_two_withdrawals_at_two_banks_at_once_cannot_both_take_the_last_room(client, app):
    alipay = await User.sign_in(client, "cap-pia", "ALIPAY")
    wechat = await User.sign_in(client, "cap-pia", "WECHAT")
    assert (await withdraw(alipay, await quote(alipay, "CEB", "9000.00")))["id"]
    # 11,000 left; 9,000 and 3,000 at once, at two banks, from the two channels.
    a = await quote(wechat, "CEB", "9000.00")
    b = await quote(alipay, "SPABANK", "3000.00")
    before = await count(app)
    outcomes = await asyncio.gather(withdraw(wechat, a), withdraw(alipay, b))
    kinds = sorted(o["__typename"] for o in outcomes)
    assert kinds == ["AmountError", "Withdrawal"], outcomes
    refused = next(o for o in outcomes if o["__typename"] == "AmountError")
    assert refused["code"] == "PERSON_DAILY_CAP_EXCEEDED"
    assert refused["personRemaining"]["amount"] in ("2000.00", "8000.00")
    assert await count(app) == before + 1


async def test_the_cap_is_a_setting(start_app):
    client, _ = await start_app(person_daily_cap="5000.00")
    user = await User.sign_in(client, "cap-quinn")
    refused = await create_quote(user, "CEB", "5000.01")
    assert refused["code"] == "PERSON_DAILY_CAP_EXCEEDED", refused
    assert refused["personRemaining"]["amount"] == "5000.00"
    assert (await quote(user, "CEB", "5000.00"))["__typename"] == "Quote"


async def test_a_person_is_linked_by_real_name_then_union_id_and_never_loosened(app):
    db = app.state.services.db
    accounts = Accounts(db)
    plain, _ = await accounts.sign_in(Channel.WECHAT, "oLink1", None, is_sandbox=False)
    # A later sign-in with a union id links the user to it; one with a real-name identity
    # links more strongly; one that tells less keeps the strongest link.
    steps = [
        (dict(union_id=None), f"user:{plain.id}"),
        (dict(union_id="uLink"), "wechat-union:uLink"),
        (dict(union_id="uLink", real_name_id="rn-1"), "real-name:rn-1"),
        (dict(union_id="uLink"), "real-name:rn-1"),
        (dict(union_id=None), "real-name:rn-1"),
    ]
    for told, expected in steps:
        await accounts.sign_in(
            Channel.WECHAT, "oLink1", told["union_id"], is_sandbox=False,
            real_name_id=told.get("real_name_id"),
        )
        async with db.read() as session:
            key = (
                await session.exec(select(UserRow.person_key).where(UserRow.id == plain.id))
            ).one()
        assert key == expected, (told, key)
    # Alipay gives no union id of WeChat's: its union id links nothing.
    assert person_key(Channel.ALIPAY, "user_x", "uLink", None) == "user:user_x"
    assert person_key(Channel.WECHAT, "user_x", "uLink", None) == "wechat-union:uLink"


HIGH = """{ banks(channel: ALIPAY) { code offer { ... on CashAdvanceOffer { highCost
  repaymentOptions { repaymentType periods aprRange { highest } highCost highCostWarning } } } } }"""


async def test_a_high_cost_option_is_flagged_with_a_warning_before_acceptance(client):
    user = await User.sign_in(client, "cost-rui")
    body = await user.q(HIGH)
    assert "errors" not in body, body
    offers = {b["code"]: b["offer"] for b in body["data"]["banks"] if b["offer"]}
    assert {"CEB", "SPABANK", "NBBANK"} <= offers.keys()
    for code, offer in offers.items():
        for option in offer["repaymentOptions"]:
            high = Decimal(option["aprRange"]["highest"]) > 36
            assert option["highCost"] is high, (code, option)
            if high:
                warning = option["highCostWarning"]
                assert option["aprRange"]["highest"] in warning and "36" in warning
                assert warning.startswith("【高成本提示】")
            else:
                assert option["highCostWarning"] is None
        assert offer["highCost"] is any(o["highCost"] for o in offer["repaymentOptions"])
    # CEB's single month costs 139.92 % at 100 CNY (the minimum fee): high-cost.
    single = next(o for o in offers["CEB"]["repaymentOptions"] if o["periods"] == 1)
    assert single["highCost"] and single["aprRange"]["highest"] == "139.92"


async def test_a_high_cost_quote_warns_and_its_disclosure_says_so(client):
    user = await User.sign_in(client, "cost-sol")
    dear = await quote(user, "CEB", "100.00")
    assert dear["apr"] == "139.92" and dear["highCost"] is True
    warning = dear["highCostWarning"]
    assert "139.92" in warning and "36" in warning
    assert warning in dear["disclosure"]["text"].splitlines()  # accepted with the disclosure
    assert dear["disclosure"]["version"].endswith("+d3")
    cheap = await quote(user, "CEB", "10000.00")
    assert cheap["apr"] == "30.42" and cheap["highCost"] is False
    assert cheap["highCostWarning"] is None and "高成本" not in cheap["disclosure"]["text"]
    user.headers["Accept-Language"] = "en"
    english = await quote(user, "CEB", "100.00")
    assert english["highCostWarning"].startswith("[High cost]")
    assert english["highCostWarning"] in english["disclosure"]["text"]


async def test_the_high_cost_threshold_is_a_setting(start_app):
    client, _ = await start_app(high_cost_apr="150")
    user = await User.sign_in(client, "cost-tao")
    dear = await quote(user, "CEB", "100.00")
    assert dear["apr"] == "139.92" and dear["highCost"] is False
    assert "高成本" not in dear["disclosure"]["text"]
