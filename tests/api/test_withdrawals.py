"""Offers, quotes and withdrawals over HTTP, against the sandbox banks."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlmodel import func, select

from db.models import Quote, Withdrawal, WithdrawalEvent
from tests.api.flow import User
from tests.conftest import gql

OFFERS = """{ banks(channel: ALIPAY) { code usable offer {
  __typename
  ... on CashAdvanceOffer { bankCode availableLimit { amount currency } minAmount { amount }
      maxAmount { amount } dailyRemaining { amount } platformFee { amount }
      repaymentOptions { repaymentType periods apr representativeAmount { amount } } }
  ... on Error { code message } } } }"""


async def count(app, model) -> int:
    async with app.state.services.db.read() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def test_cards_come_from_the_banks(client):
    user = await User.sign_in(client, "alice")
    credit, debit = await user.cards()
    assert set(credit) == {"NBBANK", "CEB", "SPABANK"}  # usable on Alipay
    assert len(debit) == 1  # every sandbox bank reports the same own debit card
    for card in [*credit.values(), *debit]:
        assert len(card["last4"]) == 4 and card["maskedNumber"].endswith(card["last4"])
        assert card["maskedNumber"].count("*") == 12


async def test_offers_page(client):
    user = await User.sign_in(client, "alice")
    banks = (await user.q(OFFERS))["data"]["banks"]
    offers = {b["code"]: b["offer"] for b in banks}
    for code in ("NBBANK", "CEB", "SPABANK"):
        offer = offers[code]
        assert offer["__typename"] == "CashAdvanceOffer", offer
        assert offer["platformFee"]["amount"] == "0.00"
        assert Decimal(offer["minAmount"]["amount"]) <= Decimal(offer["maxAmount"]["amount"])
        kinds = {(o["repaymentType"], o["periods"]) for o in offer["repaymentOptions"]}
        assert ("SINGLE_MONTH", 1) in kinds and ("INSTALLMENT", 12) in kinds
    ceb12 = next(o for o in offers["CEB"]["repaymentOptions"] if o["periods"] == 12)
    assert ceb12["apr"] == "13.03"  # 0.6 % a month, product.md's worked example
    assert offers["HXBANK"]["__typename"] == "BankError"
    assert offers["HXBANK"]["code"] == "BANK_NOT_AVAILABLE"
    anonymous = (await user.client.post("/graphql", json={"query": OFFERS})).json()
    assert {b["offer"] is None for b in anonymous["data"]["banks"]} == {True}


def offer_calls(app) -> float:
    registry = app.state.metrics.registry
    return sum(
        registry.get_sample_value(
            "cardcash_provider_calls_total", {"bank": b, "method": "get_offer", "outcome": "ok"}
        )
        or 0
        for b in ("NBBANK", "CEB", "SPABANK")
    )


OFFER = "{ __typename ... on CashAdvanceOffer { bankCode availableLimit { amount } } ... on Error { code } }"


@pytest.mark.parametrize(
    "query",
    [
        q.replace("OFFER", OFFER)
        for q in (
            "{ banks(channel: ALIPAY) { code offer OFFER } }",
            "{ banks(channel: ALIPAY) { code ...B } } fragment B on Bank { offer OFFER }",
            "{ banks(channel: ALIPAY) { code ... on Bank { o: offer OFFER } } }",
            "query($yes: Boolean!) { banks(channel: ALIPAY) { code offer @include(if: $yes) OFFER } }",
            '{ banks(channel: ALIPAY) { code offer OFFER } bank(code: "CEB", channel: ALIPAY) { offer OFFER } }',
        )
    ],
    ids=["plain", "fragment", "inline-alias", "include", "with-bank"],
)
async def test_a_page_asks_each_bank_for_its_offer_once(client, app, query):
    user = await User.sign_in(client, "olga")
    await user.q(OFFERS)  # the first page also fetches the cards
    before = offer_calls(app)
    body = await user.q(query, {"yes": True})
    assert "errors" not in body, body
    offers = {b["code"]: b.get("offer") or b.get("o") for b in body["data"]["banks"]}
    assert offers["CEB"]["__typename"] == "CashAdvanceOffer"
    assert offers["HXBANK"]["code"] == "BANK_NOT_AVAILABLE"
    if "bank" in body["data"]:
        assert body["data"]["bank"]["offer"] == offers["CEB"]
    assert offer_calls(app) - before == 3  # the three usable banks, once each


@pytest.mark.parametrize(
    "query",
    [
        "query($no: Boolean!) { banks(channel: ALIPAY) { code offer @skip(if: $no) { __typename } } }",
        "{ banks(channel: ALIPAY) { code ...N } } fragment N on Bank { name ... on Bank { usable } }",
        "{ banks(channel: ALIPAY) { code ... @include(if: false) { offer { __typename } } } }",
    ],
    ids=["skip", "fragments", "literal-include"],
)
async def test_a_page_without_the_offer_asks_no_bank(client, app, query):
    user = await User.sign_in(client, "pat")
    await user.q(OFFERS)
    before = offer_calls(app)
    body = await user.q(query, {"no": True} if "$no" in query else None)
    assert all("offer" not in b for b in body["data"]["banks"]), body
    assert offer_calls(app) == before


async def test_a_refused_token_still_lists_the_banks(client):
    body = await gql(client, OFFERS, headers={"Authorization": "Bearer not-a-token"})
    banks = body["data"]["banks"]
    assert len(banks) >= 3 and all(b["offer"] is None for b in banks)
    assert {e["extensions"]["code"] for e in body["errors"]} == {"UNAUTHENTICATED"}
    assert len(body["errors"]) == len(banks)


async def test_quote_adds_up_and_discloses(client, app):
    user = await User.sign_in(client, "bob")
    quote = await user.quote("CEB", "10000.00", "INSTALLMENT", 12)
    assert quote["__typename"] == "Quote", quote
    assert quote["apr"] == "13.03" and quote["aprMethod"] == "IRR_ACTUAL_DATES_SIMPLE"
    schedule = quote["schedule"]
    assert len(schedule) == 12
    assert sum(Decimal(p["principal"]["amount"]) for p in schedule) == Decimal("10000.00")
    assert sum(Decimal(p["total"]["amount"]) for p in schedule) == Decimal(
        quote["totalRepayment"]["amount"]
    )
    # The installment's monthly charge is shown as interest (2022 notice), never as a fee.
    assert quote["totalInterest"]["amount"] == "720.00" and quote["totalFee"]["amount"] == "0.00"
    assert {p["fee"]["amount"] for p in schedule} == {"0.00"}
    assert schedule[0]["interest"]["amount"] == "60.00"
    assert quote["platformFee"]["amount"] == "0.00"
    text = quote["disclosure"]["text"]
    assert "13.03%" in text and "理性借贷" in text and "证券" in text
    assert "利息合计 720.00 元" in text and "手续费" not in text.split("【银行协议摘要】")[0]
    single = await user.quote("CEB", "1000.00", "SINGLE_MONTH", 1)
    assert Decimal(single["apr"]) > Decimal("18.25")
    assert await count(app, Quote) == 2


async def test_a_quote_the_process_forgot_is_read_back_whole(client, app):
    # As when the quote was made by another replica, or fell out of this one's memory.
    user = await User.sign_in(client, "quinn")
    made = await user.quote("CEB", "3000.00", "INSTALLMENT", 12)
    quotes = app.state.services.quotes
    remembered = quotes._recent.get(made["id"])
    quotes._recent.pop(made["id"])
    account = await app.state.services.accounts.get(remembered.user_id)
    assert await quotes.get(account, made["id"]) == remembered
    withdrawal = await user.withdraw(made)
    assert withdrawal["__typename"] == "Withdrawal" and withdrawal["quote"]["id"] == made["id"]


@pytest.mark.parametrize(
    ("amount", "periods", "code", "field"),
    [
        ("-5", 12, "VALIDATION", "amount"),
        ("0", 12, "VALIDATION", "amount"),
        ("12.345", 12, "VALIDATION", "amount"),
        ("lots", 12, "VALIDATION", "amount"),
        ("50.00", 12, "AMOUNT_OUT_OF_RANGE", None),
        ("99999999", 12, "AMOUNT_OUT_OF_RANGE", "amount"),
        # More digits than the decimal context holds: still a typed error, not a crash.
        ("1234567890123456789012345678901.5", 12, "AMOUNT_OUT_OF_RANGE", "amount"),
        ("3000.00", 7, "UNSUPPORTED_TENOR", None),
        ("3000.00", 0, "VALIDATION", "periods"),
    ],
)
async def test_bad_quotes_are_typed_and_change_nothing(client, app, amount, periods, code, field):
    user = await User.sign_in(client, "carol")
    quote = await user.quote("CEB", amount, "INSTALLMENT", periods)
    assert quote["code"] == code, quote
    if field:
        assert quote["field"] == field
    assert await count(app, Quote) == 0


async def test_quote_with_someone_elses_card(client):
    alice, mallory = await User.sign_in(client, "alice"), await User.sign_in(client, "mallory")
    alice_credit, _ = await alice.cards()
    stolen = await mallory.quote("CEB", card_id=alice_credit["CEB"]["id"])
    assert stolen["code"] == "CARD_NOT_FOUND"
    wrong_bank = await alice.quote("SPABANK", card_id=alice_credit["CEB"]["id"])
    assert wrong_bank["code"] == "CARD_NOT_FOUND"
    onboarding = await alice.quote("HXBANK", card_id=alice_credit["CEB"]["id"])
    assert onboarding["code"] == "BANK_NOT_AVAILABLE"


async def test_withdrawal_end_to_end(client, app):
    user = await User.sign_in(client, "dave")
    quote = await user.quote("CEB", "2000.00", "INSTALLMENT", 6)
    w = await user.withdraw(quote)
    assert w["__typename"] == "Withdrawal", w
    assert w["status"] == "VERIFICATION_REQUIRED", (
        w["failureCode"],
        w["failureReason"],
        w["events"],
    )
    assert w["amount"] == {"amount": "2000.00", "currency": "CNY"}
    assert w["acceptedDisclosureVersion"] == quote["disclosure"]["version"]
    assert w["quote"]["apr"] == quote["apr"] and w["bank"]["code"] == "CEB"
    confirmed = await user.confirm(w["id"])
    assert confirmed["status"] == "PROCESSING", confirmed
    done = await user.wait_for(w["id"], "SUCCEEDED")
    steps = [(e["fromStatus"], e["toStatus"], e["source"]) for e in done["events"]]
    assert steps[0] == (None, "PENDING", "USER")
    assert steps[1] == ("PENDING", "VERIFICATION_REQUIRED", "BANK")
    assert steps[2] == ("VERIFICATION_REQUIRED", "PROCESSING", "USER")
    assert steps[3][1] == "SUCCEEDED" and steps[3][2] in ("STATUS_SYNC", "CALLBACK")
    again = await user.confirm(w["id"])  # a retry after a lost answer
    assert again["status"] == "SUCCEEDED"

    offers = (await user.q(OFFERS))["data"]["banks"]
    ceb = next(b for b in offers if b["code"] == "CEB")["offer"]
    assert Decimal(ceb["dailyRemaining"]["amount"]) == Decimal("10000.00") - Decimal("2000.00")


async def test_idempotent_retries_and_key_reuse(client, app):
    user = await User.sign_in(client, "erin")
    quote = await user.quote("SPABANK", "1500.00", "SINGLE_MONTH", 1)
    first = await user.withdraw(quote, key="key-0000001")
    second = await user.withdraw(quote, key="key-0000001")
    assert second["id"] == first["id"] and second["__typename"] == "Withdrawal"
    reused = await user.withdraw(quote, key="key-0000001", purpose="TRAVEL")
    assert reused["code"] == "IDEMPOTENCY_KEY_REUSED" and reused["withdrawalId"] == first["id"]
    other_key = await user.withdraw(quote, key="key-0000002")
    assert other_key["code"] == "QUOTE_ALREADY_USED"
    assert await count(app, Withdrawal) == 1


async def test_a_retry_after_the_quote_expired_answers_as_the_first_time(client, app, monkeypatch):
    from datetime import datetime, timedelta

    import api.services.quotes

    user = await User.sign_in(client, "erin")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    first = await user.withdraw(quote, key="late-retry-1")
    assert first["__typename"] == "Withdrawal", first
    expires = datetime.fromisoformat(quote["expiresAt"])
    monkeypatch.setattr(api.services.quotes, "utcnow", lambda: expires + timedelta(seconds=1))
    again = await user.withdraw(quote, key="late-retry-1")
    assert again["__typename"] == "Withdrawal" and again["id"] == first["id"], again
    reused = await user.withdraw(quote, key="late-retry-1", purpose="TRAVEL")
    assert reused["code"] == "IDEMPOTENCY_KEY_REUSED" and reused["withdrawalId"] == first["id"]
    fresh = await user.withdraw(quote, key="late-retry-2")
    assert fresh["code"] == "QUOTE_EXPIRED"
    assert await count(app, Withdrawal) == 1


async def test_concurrent_identical_requests_make_one_withdrawal(client, app):
    user = await User.sign_in(client, "frank")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    _, debit = await user.cards()
    results = await asyncio.gather(
        *(user.withdraw(quote, key="same-key-123", debit_id=debit[0]["id"]) for _ in range(12))
    )
    assert {r["__typename"] for r in results} == {"Withdrawal"}, results
    assert len({r["id"] for r in results}) == 1
    assert await count(app, Withdrawal) == 1
    bank = app.state.services.registry.get("CEB")
    state = await bank.query_withdrawal(
        results[0]["id"], expected_amount=Decimal("1000.00"), expected_currency="CNY"
    )
    assert state.amount == Decimal("1000.00")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"accept": None}, "DISCLOSURE_NOT_ACCEPTED"),
        ({"accept": "someone-else+d1"}, "DISCLOSURE_NOT_ACCEPTED"),
        ({"key": "short"}, "VALIDATION"),
        ({"key": "k" * 129}, "VALIDATION"),
        ({"key": "has spaces in it"}, "VALIDATION"),
        ({"debit_id": "crd_aaaaaaaaaaaaaaaaaaaaaaaaaa"}, "CARD_NOT_FOUND"),
        ({"debit_id": "not-an-id"}, "CARD_NOT_FOUND"),
    ],
)
async def test_bad_withdrawals_are_typed_and_change_nothing(client, app, change, code):
    user = await User.sign_in(client, "gina")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    if change.get("accept", "quote") is None:
        change = {"accept": ""}
    result = await user.withdraw(quote, **change)
    assert result["code"] == code, result
    assert await count(app, Withdrawal) == 0 and await count(app, WithdrawalEvent) == 0


async def test_payout_only_to_own_debit_card(client, app):
    gina, hank = await User.sign_in(client, "gina"), await User.sign_in(client, "hank")
    _, hank_debit = await hank.cards()
    quote = await gina.quote("CEB", "1000.00", "INSTALLMENT", 3)
    result = await gina.withdraw(quote, debit_id=hank_debit[0]["id"])
    assert result["code"] == "CARD_NOT_FOUND"  # not even visible to gina
    assert await count(app, Withdrawal) == 0


async def test_foreign_and_expired_quotes(client, app, monkeypatch):
    from datetime import datetime, timedelta

    import api.services.quotes

    ivan, judy = await User.sign_in(client, "ivan"), await User.sign_in(client, "judy")
    quote = await ivan.quote("CEB", "1000.00", "INSTALLMENT", 3)
    assert (await judy.withdraw(quote))["code"] == "QUOTE_NOT_FOUND"
    expires = datetime.fromisoformat(quote["expiresAt"])
    monkeypatch.setattr(api.services.quotes, "utcnow", lambda: expires + timedelta(seconds=1))
    assert (await ivan.withdraw(quote))["code"] == "QUOTE_EXPIRED"
    assert await count(app, Withdrawal) == 0


async def test_wrong_codes_then_too_many(client, app):
    user = await User.sign_in(client, "kate")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    w = await user.withdraw(quote)
    bad = await user.confirm(w["id"], "000000")
    assert bad["code"] == "VERIFICATION_FAILED" and bad["attemptsLeft"] == 4
    assert (await user.confirm(w["id"], "abc"))["code"] == "VALIDATION"
    results = [await user.confirm(w["id"], "000000") for _ in range(2)]
    assert results[-1]["code"] == "TOO_MANY_ATTEMPTS"  # the sandbox bank locks at 3
    final = await user.get(w["id"])
    assert final["status"] == "FAILED" and final["failureCode"] == "TOO_MANY_ATTEMPTS"
    late = await user.confirm(w["id"], "123456")
    assert late["code"] == "INVALID_STATE" and late["currentStatus"] == "FAILED"


async def test_cancel_while_awaiting_verification(client, app):
    user = await User.sign_in(client, "leo")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    w = await user.withdraw(quote)
    cancel = """mutation($id: ID!) { cancelWithdrawal(id: $id) {
      __typename ... on Withdrawal { status } ... on Error { code } } }"""
    assert (await user.q(cancel, {"id": w["id"]}))["data"]["cancelWithdrawal"]["status"] == (
        "CANCELLED"
    )
    assert (await user.q(cancel, {"id": w["id"]}))["data"]["cancelWithdrawal"]["status"] == (
        "CANCELLED"
    )
    assert (await user.confirm(w["id"]))["code"] == "INVALID_STATE"


async def test_the_offers_page_shows_each_change_of_the_limits_at_once(client):
    user = await User.sign_in(client, "flora")

    async def ceb() -> dict:
        body = await user.q(OFFERS)
        assert "errors" not in body, body
        return next(b for b in body["data"]["banks"] if b["code"] == "CEB")["offer"]

    def limits(offer: dict) -> tuple[Decimal, Decimal]:
        return (
            Decimal(offer["availableLimit"]["amount"]),
            Decimal(offer["dailyRemaining"]["amount"]),
        )

    before = await ceb()
    assert await ceb() == before  # nothing changed: the same offer, shown again
    w = await user.withdraw(await user.quote("CEB", "1200.00", "INSTALLMENT", 3))
    after = await ceb()
    assert limits(after) == tuple(x - Decimal("1200.00") for x in limits(before))
    assert {k: v for k, v in after.items() if k not in ("availableLimit", "dailyRemaining")} == {
        k: v for k, v in before.items() if k not in ("availableLimit", "dailyRemaining")
    }
    assert await ceb() == after
    cancel = "mutation($id: ID!) { cancelWithdrawal(id: $id) { __typename } }"
    await user.q(cancel, {"id": w["id"]})
    assert await ceb() == before


async def test_withdrawals_are_private_and_paged(client, app):
    user, other = await User.sign_in(client, "mia"), await User.sign_in(client, "ned")
    ids = []
    for amount in ("100.00", "200.00", "300.00"):
        quote = await user.quote("CEB", amount, "SINGLE_MONTH", 1)
        ids.append((await user.withdraw(quote))["id"])
    assert await other.get(ids[0]) is None
    page = """query($after: String) { viewer { withdrawals(first: 2, after: $after) {
      edges { cursor node { id amount { amount } } } pageInfo { hasNextPage endCursor } } } }"""
    first = (await user.q(page))["data"]["viewer"]["withdrawals"]
    assert [e["node"]["id"] for e in first["edges"]] == ids[::-1][:2]
    assert first["pageInfo"]["hasNextPage"] is True
    second = (await user.q(page, {"after": first["pageInfo"]["endCursor"]}))["data"]["viewer"]
    assert [e["node"]["id"] for e in second["withdrawals"]["edges"]] == [ids[0]]
    assert second["withdrawals"]["pageInfo"]["hasNextPage"] is False
    theirs = (await other.q(page))["data"]["viewer"]["withdrawals"]["edges"]
    assert theirs == []
    too_big = await user.q("{ viewer { withdrawals(first: 500) { edges { cursor } } } }")
    assert "between 1 and 50" in too_big["errors"][0]["extensions"]["detail"]


async def test_paging_is_exact_when_withdrawals_share_a_timestamp(client, app):
    from sqlalchemy import update

    user = await User.sign_in(client, "olive")
    ids = []
    for amount in ("100.00", "200.00", "300.00"):
        quote = await user.quote("CEB", amount, "SINGLE_MONTH", 1)
        ids.append((await user.withdraw(quote))["id"])
    async with app.state.services.db.write() as session:
        first_time = (await session.get(Withdrawal, ids[0])).created_at
        await session.exec(
            update(Withdrawal).where(Withdrawal.id.in_(ids)).values(created_at=first_time)
        )
    page = """query($after: String) { viewer { withdrawals(first: 1, after: $after) {
      edges { node { id } } pageInfo { endCursor hasNextPage } } } }"""
    seen, after = [], None
    for _ in range(4):
        body = (await user.q(page, {"after": after}))["data"]["viewer"]["withdrawals"]
        seen += [e["node"]["id"] for e in body["edges"]]
        after = body["pageInfo"]["endCursor"]
        if not body["pageInfo"]["hasNextPage"]:
            break
    assert seen == sorted(ids, reverse=True)  # newest first, ties by id, none lost or repeated
