"""The conformance tests every bank provider plugin must pass.

Subclass :class:`ConformanceSuite` in a test module and provide the ``bank_provider`` fixture
(see :mod:`providers.testkit.plugin` for the other fixtures)::

    import pytest_asyncio
    from providers.testkit import ConformanceSuite

    class TestMyBank(ConformanceSuite):
        @pytest_asyncio.fixture
        async def bank_provider(self, tmp_path):
            provider = create_provider(ProviderContext("MYBANK", tmp_path, {}))
            yield provider
            await provider.aclose()

Every call the suite makes must finish within ``bank_call_timeout`` and may raise only
:class:`~providers.ProviderError`; a test fails with the first rule a provider breaks.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from providers.base import BankProvider
from providers.errors import ProviderErrorCode
from providers.integrity import check_offer, check_quote
from providers.registry import PluginRefused, check_sdk_compatible
from providers.scrub import contains_card_number
from providers.testkit.harness import Harness, tampered, two_decimals
from providers.types import (
    TERMINAL_STATES,
    CallbackEvent,
    CardInfo,
    CardKind,
    ConfirmWithdrawal,
    Customer,
    Health,
    QuoteRequest,
    RepaymentType,
    WithdrawalState,
)

E = ProviderErrorCode


class ConformanceSuite:
    """Conformance tests for a bank provider; subclass it as ``Test<Bank>`` to run them."""

    pytestmark = [pytest.mark.asyncio, pytest.mark.cardcash_conformance]

    @pytest.fixture
    def bank(
        self,
        bank_provider: BankProvider,
        bank_customer: Customer,
        other_bank_customer: Customer,
        bank_verification_code: str,
        bank_call_timeout: float,
        bank_settlement_timeout: float,
    ) -> Harness:
        """The provider under test, driven through the checks of :class:`Harness`."""
        return Harness(
            bank_provider, bank_customer, other_bank_customer, bank_verification_code,
            bank_call_timeout, bank_settlement_timeout,
        )

    # -- identity -----------------------------------------------------------------------

    async def test_provider_declares_code_name_and_a_compatible_sdk(self, bank: Harness):
        provider = bank.provider
        assert isinstance(provider, BankProvider)
        assert isinstance(provider.code, str) and provider.code, "code must be set"
        assert isinstance(provider.name, str) and provider.name, "name must be set"
        try:
            check_sdk_compatible(provider.code, provider.sdk_version)
        except PluginRefused as refusal:
            pytest.fail(str(refusal), pytrace=False)

    async def test_health_is_reported(self, bank: Harness):
        health = await bank.call("health", bank.provider.health())
        assert isinstance(health, Health) and isinstance(health.ok, bool)

    # -- cards --------------------------------------------------------------------------

    async def test_cards_are_masked(self, bank: Harness):
        cards = await bank.call("list_cards", bank.provider.list_cards(bank.customer))
        assert isinstance(cards, list), "list_cards must return a list"
        assert {c.kind for c in cards} >= {CardKind.CREDIT, CardKind.DEBIT}, (
            "bank_customer must have a credit card and a debit card"
        )
        for card in cards:
            assert isinstance(card, CardInfo) and isinstance(card.kind, CardKind)
            assert len(card.last4) == 4 and card.last4.isdigit(), f"last4 is {card.last4!r}"
            assert not contains_card_number(repr(card)), "a full card number is in a CardInfo"

    async def test_cards_are_stable(self, bank: Harness):
        first = await bank.call("list_cards", bank.provider.list_cards(bank.customer))
        again = await bank.call("list_cards", bank.provider.list_cards(bank.customer))
        assert [c.card_ref for c in first] == [c.card_ref for c in again]

    async def test_same_holder_is_true_only_for_the_holders_own_debit_card(self, bank: Harness):
        credit, debit = await bank.cards()
        _, others_debit = await bank.cards(bank.other_customer)
        own = await bank.call("verify_same_holder", bank.provider.verify_same_holder(
            bank.customer, credit.card_ref, debit.card_ref))
        assert own is True
        other = await bank.call("verify_same_holder", bank.provider.verify_same_holder(
            bank.customer, credit.card_ref, others_debit.card_ref))
        assert other is False

    # -- offer and quote ----------------------------------------------------------------

    async def test_offer_amounts_are_decimal_with_two_decimals(self, bank: Harness):
        credit, _ = await bank.cards()
        offer = check_offer(await bank.offer(credit), credit.card_ref)
        for name in ("credit_limit", "available_limit", "min_amount", "max_amount",
                     "daily_remaining"):
            value = getattr(offer, name)
            two_decimals(value, name)
            assert value >= 0, f"{name} is negative"
        assert offer.min_amount <= offer.max_amount
        assert offer.available_limit <= offer.credit_limit
        assert bank.tenors(offer), "the offer lists no repayment type"

    async def test_offer_for_an_unknown_card_is_refused(self, bank: Harness):
        await bank.refused("get_offer(unknown card)", bank.provider.get_offer(
            bank.customer, "conformance-no-such-card"), E.CARD_NOT_FOUND)

    async def test_quote_principals_add_up_for_every_tenor(self, bank: Harness):
        credit, _ = await bank.cards()
        offer = await bank.offer(credit)
        smallest = await bank.borrowable(credit)
        for repayment_type, periods in bank.tenors(offer):
            amount = max(smallest, bank.tenor_min_amount(offer, periods))
            request = QuoteRequest(bank.customer, credit.card_ref, amount, offer.currency,
                                   repayment_type, periods, date(2026, 1, 31))
            quote = check_quote(await bank.call("quote", bank.provider.quote(request)), request)
            for payment in quote.schedule:
                for name in ("principal", "interest", "fee"):
                    two_decimals(getattr(payment, name), f"{periods}-period {name}")
            assert sum(p.principal for p in quote.schedule) == amount

    async def test_price_schedule_agrees_with_quote(self, bank: Harness):
        """cardcash shows an offer's APR range from ``price_schedule``: it must be the quote's."""
        credit, _ = await bank.cards()
        offer = await bank.offer(credit)
        top = min(offer.max_amount, offer.available_limit, offer.daily_remaining)
        for repayment_type, periods in bank.tenors(offer):
            low = bank.tenor_min_amount(offer, periods)
            for amount in {low, ((low + top) / 3).quantize(Decimal("0.01")) + Decimal("0.07"),
                           top}:
                if not low <= amount <= top:
                    continue
                start = date(2026, 1, 31)
                request = QuoteRequest(bank.customer, credit.card_ref, amount, offer.currency,
                                       repayment_type, periods, start)
                quote = await bank.call("quote", bank.provider.quote(request))
                priced = bank.provider.price_schedule(offer, amount, repayment_type, periods,
                                                      start)
                assert tuple(priced) == tuple(quote.schedule), (
                    f"price_schedule({amount}, {repayment_type.value}, {periods}) differs from "
                    "quote: override price_schedule to price as the bank does"
                )

    async def test_quote_refuses_a_tenor_not_offered(self, bank: Harness):
        credit, _ = await bank.cards()
        offer = await bank.offer(credit)
        offered = {periods for _, periods in bank.tenors(offer)}
        periods = next(p for p in range(7, 61) if p not in offered)
        request = QuoteRequest(bank.customer, credit.card_ref, offer.min_amount, offer.currency,
                               RepaymentType.INSTALLMENT, periods, date(2026, 1, 31))
        await bank.refused(f"quote({periods} periods)", bank.provider.quote(request),
                           E.UNSUPPORTED_TENOR)

    async def test_amounts_outside_the_range_are_refused(self, bank: Harness):
        credit, _ = await bank.cards()
        offer = await bank.offer(credit)
        for amount in (offer.min_amount - Decimal("0.01"), offer.max_amount + Decimal("0.01")):
            if amount <= 0:
                continue
            request = QuoteRequest(bank.customer, credit.card_ref, amount, offer.currency,
                                   RepaymentType.SINGLE_MONTH if offer.single_month else
                                   RepaymentType.INSTALLMENT,
                                   1 if offer.single_month else offer.installments[0].periods,
                                   date(2026, 1, 31))
            await bank.refused(f"quote({amount})", bank.provider.quote(request),
                               E.AMOUNT_OUT_OF_RANGE, E.LIMIT_EXCEEDED)

    # -- submission ---------------------------------------------------------------------

    async def test_submission_answers_about_the_request(self, bank: Harness):
        request = await bank.submission()
        result = await bank.submit(request)
        assert result.state in (WithdrawalState.VERIFICATION_REQUIRED, WithdrawalState.PROCESSING,
                                *TERMINAL_STATES)

    async def test_submission_is_idempotent(self, bank: Harness):
        request = await bank.submission()
        first = await bank.submit(request)
        again = await bank.submit(request)
        bank.not_behind(again, first)

    async def test_concurrent_duplicate_submissions_make_one_withdrawal(self, bank: Harness):
        credit, _ = await bank.cards()
        before = await bank.offer(credit)
        request = await bank.submission()
        results = await asyncio.gather(*(bank.submit(request) for _ in range(5)))
        assert len({r.bank_reference for r in results}) == 1, "several withdrawals were made"
        after = await bank.offer(credit)
        assert before.available_limit - after.available_limit <= request.amount, (
            "the limit was reserved more than once"
        )

    async def test_a_reused_request_id_with_other_terms_is_refused(self, bank: Harness):
        request = await bank.submission()
        await bank.submit(request)
        other = replace(request, amount=request.amount + Decimal("1.00"))
        await bank.refused("submit_withdrawal(reused request id)",
                           bank.provider.submit_withdrawal(other), E.INVALID_STATE)

    async def test_submission_refusals_use_the_right_codes(self, bank: Harness):
        request = await bank.submission()
        _, others_debit = await bank.cards(bank.other_customer)
        cases = [
            (replace(request, debit_card_ref=others_debit.card_ref), (E.NOT_SAME_HOLDER,)),
            (replace(request, credit_card_ref="conformance-no-such-card"), (E.CARD_NOT_FOUND,)),
            (replace(request, amount=Decimal("999999999.00")),
             (E.AMOUNT_OUT_OF_RANGE, E.LIMIT_EXCEEDED, E.DAILY_LIMIT_EXCEEDED)),
        ]
        for number, (bad, codes) in enumerate(cases):
            bad = replace(bad, request_id=f"{request.request_id}-bad-{number}")
            await bank.refused("submit_withdrawal", bank.provider.submit_withdrawal(bad), *codes)

    # -- verification and cancellation --------------------------------------------------

    async def _awaiting_verification(self, bank: Harness):
        request = await bank.submission()
        result = await bank.submit(request)
        if result.state is not WithdrawalState.VERIFICATION_REQUIRED:
            pytest.skip("this bank does not ask for a verification code")
        return request, result

    async def test_confirm_with_the_code_and_again_after_a_lost_answer(self, bank: Harness):
        request, submitted = await self._awaiting_verification(bank)
        confirmed = await bank.confirm(request)
        assert confirmed.state is not WithdrawalState.VERIFICATION_REQUIRED
        bank.not_behind(confirmed, submitted)
        bank.not_behind(await bank.confirm(request), confirmed)

    async def test_a_wrong_code_is_refused_and_the_withdrawal_still_waits(self, bank: Harness):
        request, _ = await self._awaiting_verification(bank)
        wrong = "000000" if bank.verification_code != "000000" else "999999"
        await bank.refused("confirm_withdrawal(wrong code)", bank.provider.confirm_withdrawal(
            ConfirmWithdrawal(request.request_id, wrong)), E.VERIFICATION_FAILED)
        assert (await bank.query(request)).state is WithdrawalState.VERIFICATION_REQUIRED

    async def test_cancel_before_verification_is_final_and_idempotent(self, bank: Harness):
        request, _ = await self._awaiting_verification(bank)
        cancel = bank.provider.cancel_withdrawal
        cancelled = await bank.call("cancel_withdrawal", cancel(request.request_id))
        bank.same_withdrawal(cancelled, request)
        assert cancelled.state is WithdrawalState.CANCELLED
        again = await bank.call("cancel_withdrawal(again)", cancel(request.request_id))
        assert again.state is WithdrawalState.CANCELLED
        await bank.refused("confirm_withdrawal(cancelled)", bank.provider.confirm_withdrawal(
            ConfirmWithdrawal(request.request_id, bank.verification_code)), E.INVALID_STATE)
        assert (await bank.query(request)).state is WithdrawalState.CANCELLED

    # -- final states -------------------------------------------------------------------

    async def test_a_final_state_never_changes(self, bank: Harness):
        request, _ = await bank.started()
        final = await bank.final(request)
        for _ in range(3):
            again = await bank.query(request)
            assert (again.state, again.failure_reason) == (final.state, final.failure_reason)
        await bank.refused("cancel_withdrawal(final)",
                           bank.provider.cancel_withdrawal(request.request_id), E.INVALID_STATE)
        try:
            after_confirm = await bank.confirm(request)
        except Exception:  # noqa: BLE001, S110 - refusing is as fine as answering the state
            pass
        else:
            assert after_confirm.state is final.state
        assert (await bank.query(request)).state is final.state

    async def test_an_unknown_request_id_is_unknown(self, bank: Harness):
        unknown = "conformance-never-submitted"
        provider = bank.provider
        await bank.refused("query_withdrawal(unknown)", provider.query_withdrawal(unknown),
                           E.UNKNOWN_WITHDRAWAL)
        await bank.refused("cancel_withdrawal(unknown)", provider.cancel_withdrawal(unknown),
                           E.UNKNOWN_WITHDRAWAL)
        await bank.refused("confirm_withdrawal(unknown)", provider.confirm_withdrawal(
            ConfirmWithdrawal(unknown, bank.verification_code)), E.UNKNOWN_WITHDRAWAL)

    # -- callbacks ----------------------------------------------------------------------

    async def test_callbacks_with_a_bad_signature_are_refused(
        self, bank: Harness, bank_signed_callback: tuple[dict[str, str], bytes] | None
    ):
        cases = [({}, b"{}"), ({"X-Signature": "forged", "Authorization": "forged"}, b"{}")]
        if bank_signed_callback is not None:
            headers, body = bank_signed_callback
            event = bank.provider.verify_callback(headers, body)
            assert isinstance(event, CallbackEvent) and isinstance(event.amount, Decimal)
            assert isinstance(event.state, WithdrawalState)
            forged_headers = {name: value[:-1] + ("0" if value[-1:] != "0" else "1")
                              for name, value in headers.items()}
            cases += [(headers, tampered(body)), (forged_headers, body)]
        for headers, body in cases:
            async def verify(headers=headers, body=body):
                return bank.provider.verify_callback(headers, body)

            await bank.refused("verify_callback(bad signature)", verify(), E.INVALID_SIGNATURE)
