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
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from providers.base import BankProvider
from providers.compat import PluginRefused, check_sdk_compatible, check_sdk_supported
from providers.errors import DeclineReason, ProviderErrorCode
from providers.integrity import check_offer, check_quote
from providers.scrub import contains_card_number
from providers.testkit.harness import Harness, booking_day, echoes_terms, tampered, two_decimals
from providers.testkit.inbox import CallbackInbox
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
    terms_digest,
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
        bank_amounts: tuple[Decimal, ...],
        bank_final_pause: float,
        bank_callback_signer: Any,
        bank_callback_inbox: CallbackInbox,
    ) -> Harness:
        """The provider under test, driven through the checks of :class:`Harness`."""
        return Harness(
            bank_provider, bank_customer, other_bank_customer, bank_verification_code,
            bank_call_timeout, bank_settlement_timeout, declared_amounts=tuple(bank_amounts),
            final_pause=bank_final_pause, callback_signer=bank_callback_signer,
            callback_inbox=bank_callback_inbox,
        )

    # -- identity -----------------------------------------------------------------------

    async def test_provider_declares_code_name_and_a_compatible_sdk(self, bank: Harness):
        provider = bank.provider
        assert isinstance(provider, BankProvider)
        assert isinstance(provider.code, str) and provider.code, "code must be set"
        assert isinstance(provider.name, str) and provider.name, "name must be set"
        try:
            check_sdk_compatible(provider.code, provider.sdk_version)
            check_sdk_supported(provider.code, getattr(provider, "sdk_supported", ""))
        except PluginRefused as refusal:
            pytest.fail(str(refusal), pytrace=False)

    async def test_health_is_reported(self, bank: Harness):
        health = await bank.call("health", bank.provider.health())
        assert isinstance(health, Health) and isinstance(health.ok, bool), (
            f"health() returned {health!r}, not a Health with a bool ok")

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
            assert isinstance(card.usable_for_payout, bool), "usable_for_payout is not a bool"
            assert not contains_card_number(repr(card)), "a full card number is in a CardInfo"

    async def test_cards_are_stable(self, bank: Harness):
        first = await bank.call("list_cards", bank.provider.list_cards(bank.customer))
        again = await bank.call("list_cards", bank.provider.list_cards(bank.customer))
        assert [c.card_ref for c in first] == [c.card_ref for c in again], (
            f"list_cards answered {[c.card_ref for c in first]}, then "
            f"{[c.card_ref for c in again]}: the same cards, in the same order, every time")

    async def test_a_customer_of_every_listed_channel_is_served(
        self, bank: Harness, bank_channel_customers: dict[str, Customer]
    ):
        for channel, customer in bank_channel_customers.items():
            assert customer.channel == channel
            credit, debit = await bank.cards(customer)
            offer = await bank.call(f"get_offer({channel} customer)",
                                    bank.provider.get_offer(customer, credit.card_ref))
            assert offer.card_ref == credit.card_ref

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

    async def test_the_booked_terms_are_the_ones_sent(self, bank: Harness):
        """SDK 1.2: the bank books the schedule the holder accepted, from its start day, and
        echoes it in every answer; terms it would not book today are refused with
        TERMS_CHANGED, never booked shifted."""
        if not echoes_terms(bank.provider):
            pytest.skip(f"the plugin declares SDK {bank.provider.sdk_version}: the booked "
                        "terms are echoed from SDK 1.2 on (cardcash checks what it can)")
        request = await bank.submission()
        for what, answer in (("submit_withdrawal", await bank.submit(request)),
                             ("query_withdrawal", await bank.query(request))):
            booked = answer.booked
            assert booked is not None, f"{what} did not echo the booked terms (SDK 1.2)"
            assert (booked.start_date, tuple(booked.schedule)) == (
                request.start_date, request.schedule), (
                f"{what}: the bank booked other terms: from {booked.start_date}, "
                f"{booked.digest[:12]}, sent from {request.start_date}, "
                f"{request.schedule_digest[:12]}")
        # The same schedule a day later is not what this bank books today: refused.
        later = booking_day() + timedelta(days=1)
        quote = await bank.call("quote", bank.provider.quote(QuoteRequest(
            request.customer, request.credit_card_ref, request.amount, request.currency,
            request.repayment_type, request.periods, later)))
        shifted = replace(request, request_id=f"{request.request_id}-later", start_date=later,
                          schedule=quote.schedule,
                          schedule_digest=terms_digest(later, quote.schedule))
        error = await bank.refused("submit_withdrawal(terms of another day)",
                                   bank.provider.submit_withdrawal(shifted), E.DECLINED)
        assert error.decline_reason is DeclineReason.TERMS_CHANGED, (
            f"terms the bank would not book are refused with TERMS_CHANGED, not "
            f"{error.decline_reason}")

    async def test_a_bank_that_asks_for_the_credit_report_refuses_without_it(
        self, bank: Harness
    ):
        """SDK 1.2: a bank declaring ``asks_credit_report`` queries the credit report only with
        the holder's authorisation; a submission without it is declined."""
        if not getattr(bank.provider, "asks_credit_report", False):
            pytest.skip("the bank does not ask for the credit-report authorisation")
        request = replace(await bank.submission(), credit_report_authorized=False)
        await bank.refused("submit_withdrawal(without the credit-report authorisation)",
                           bank.provider.submit_withdrawal(request), E.DECLINED)

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

    async def test_amounts_with_more_than_two_decimals_or_another_currency_are_refused(
        self, bank: Harness
    ):
        request = await bank.submission()
        before = await bank.limits()
        other_currency = "USD" if request.currency != "USD" else "EUR"
        cases = [
            (replace(request, amount=request.amount + Decimal("0.001")), "amount"),
            (replace(request, amount=request.amount + Decimal("0.009")), "amount"),
            (replace(request, currency=other_currency), "currency"),
        ]
        for number, (bad, what) in enumerate(cases):
            bad = replace(bad, request_id=f"{request.request_id}-{what}-{number}")
            label = f"{bad.amount} {bad.currency}"
            await bank.refused(f"quote({label})", bank.provider.quote(QuoteRequest(
                bad.customer, bad.credit_card_ref, bad.amount, bad.currency,
                bad.repayment_type, bad.periods, date.today())),
                E.AMOUNT_OUT_OF_RANGE, E.DECLINED)
            await bank.refused(f"submit_withdrawal({label})",
                               bank.provider.submit_withdrawal(bad),
                               E.AMOUNT_OUT_OF_RANGE, E.DECLINED)
        assert await bank.limits() == before, "a refused withdrawal changed the limits"

    # -- limits -------------------------------------------------------------------------

    async def _moves_the_limits_by_its_amount(self, bank: Harness, amount: Decimal) -> None:
        available, daily = await bank.limits()
        request, final = await bank.completed(amount)
        after = await bank.limits()
        if final.state is WithdrawalState.SUCCEEDED:
            assert after == (available - amount, daily - amount), (
                f"after a withdrawal of {amount} succeeded, (available, daily remaining) is "
                f"{after}, expected {(available - amount, daily - amount)}"
            )
        else:
            assert after == (available, daily), (
                f"after a withdrawal of {amount} {final.state.value}, (available, daily "
                f"remaining) is {after}, expected it back at {(available, daily)}"
            )

    @pytest.mark.parametrize("choice", ["minimum", "middle", "maximum"])
    async def test_a_withdrawal_of_the_offers_amount_moves_the_limits_by_it(
        self, bank: Harness, choice: str
    ):
        await self._moves_the_limits_by_its_amount(bank, await bank.amount(choice))

    async def test_declared_amounts_move_the_limits_by_them(self, bank: Harness):
        if not bank.declared_amounts:
            pytest.skip("no bank_amounts declared")
        for amount in bank.declared_amounts:
            await self._moves_the_limits_by_its_amount(bank, amount)

    async def test_a_cancelled_withdrawal_gives_its_amount_back(self, bank: Harness):
        request, _, before = await bank.awaiting_verification()
        await bank.call("cancel_withdrawal", bank.provider.cancel_withdrawal(request.request_id))
        after = await bank.limits()
        assert after == before, (
            f"after a cancelled withdrawal (available, daily remaining) is {after}, "
            f"expected it back at {before}"
        )

    async def test_a_withdrawal_failed_by_wrong_codes_gives_its_amount_back(self, bank: Harness):
        request, _, before = await bank.awaiting_verification()
        wrong = "000000" if bank.verification_code != "000000" else "999999"
        for _ in range(10):
            error = await bank.refused(
                "confirm_withdrawal(wrong code)", bank.provider.confirm_withdrawal(
                    ConfirmWithdrawal(request.request_id, wrong)),
                E.VERIFICATION_FAILED, E.TOO_MANY_ATTEMPTS)
            if error.code is E.TOO_MANY_ATTEMPTS:
                break
        else:
            pytest.skip("the bank took 10 wrong codes without failing the withdrawal")
        state = (await bank.query(request)).state
        assert state is WithdrawalState.FAILED, (
            f"after TOO_MANY_ATTEMPTS the withdrawal is {state.value}, not FAILED")
        after = await bank.limits()
        assert after == before, (
            f"after a failed withdrawal (available, daily remaining) is {after}, "
            f"expected it back at {before}"
        )

    async def test_a_withdrawal_over_the_daily_cap_is_refused(self, bank: Harness):
        credit, _ = await bank.cards()
        for _ in range(10):
            offer = await bank.offer(credit)
            if offer.available_limit <= offer.daily_remaining:
                pytest.skip(f"bank_customer's available limit ({offer.available_limit}) is not "
                            f"above the daily cap left ({offer.daily_remaining}): give the "
                            "suite a customer with a limit above the daily cap")
            if offer.daily_remaining < offer.max_amount:
                break
            # Every withdrawal allowed now fits today's cap: draw it down first.
            await bank.completed(min(offer.max_amount, offer.daily_remaining))
        else:
            pytest.skip("the daily cap was not reached in 10 withdrawals")
        amount = max(offer.daily_remaining + Decimal("0.01"), offer.min_amount)
        if amount > min(offer.available_limit, offer.max_amount):
            pytest.skip(f"no amount is above the daily cap left ({offer.daily_remaining}) "
                        "and within the other limits")
        request = await bank.submission(amount)
        await bank.refused(f"submit_withdrawal({amount}, {offer.daily_remaining} left today)",
                           bank.provider.submit_withdrawal(request), E.DAILY_LIMIT_EXCEEDED)
        assert await bank.limits() == (offer.available_limit, offer.daily_remaining), (
            "a refused withdrawal changed the limits")

    # -- verification and cancellation --------------------------------------------------

    async def _awaiting_verification(self, bank: Harness):
        request, result, _ = await bank.awaiting_verification()
        return request, result

    async def test_confirm_with_the_code_and_again_after_a_lost_answer(self, bank: Harness):
        request, submitted = await self._awaiting_verification(bank)
        confirmed = await bank.confirm(request)
        assert confirmed.state is not WithdrawalState.VERIFICATION_REQUIRED
        bank.not_behind(confirmed, submitted)
        again = await bank.answered(
            "confirm_withdrawal(right code, again after a lost answer)", bank.confirm(request),
            "a confirmation repeated with the right code answers the withdrawal's state")
        bank.not_behind(again, confirmed)

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
        again = await bank.answered(
            "cancel_withdrawal(again, after a lost answer)", cancel(request.request_id),
            "cancelling a cancelled withdrawal answers it, CANCELLED")
        assert again.state is WithdrawalState.CANCELLED
        await bank.refused("confirm_withdrawal(cancelled)", bank.provider.confirm_withdrawal(
            ConfirmWithdrawal(request.request_id, bank.verification_code)), E.INVALID_STATE)
        assert (await bank.query(request)).state is WithdrawalState.CANCELLED

    async def test_cancel_after_confirmation_is_refused_and_changes_nothing(
        self, bank: Harness
    ):
        request, started = await bank.started()
        if started.state is WithdrawalState.VERIFICATION_REQUIRED:
            pytest.fail("the withdrawal still awaits verification after the right code",
                        pytrace=False)
        await bank.refused(f"cancel_withdrawal({started.state.value})",
                           bank.provider.cancel_withdrawal(request.request_id), E.INVALID_STATE)
        now = await bank.query(request)
        assert now.state is not WithdrawalState.CANCELLED, "a refused cancel cancelled it"
        bank.not_behind(now, started)

    # -- final states -------------------------------------------------------------------

    async def test_a_final_state_never_changes(self, bank: Harness):
        request, _ = await bank.started()
        final = await bank.final(request)
        for _ in range(3):
            again = await bank.query(request)
            assert (again.state, again.failure_reason) == (final.state, final.failure_reason)
        await bank.refused("cancel_withdrawal(final)",
                           bank.provider.cancel_withdrawal(request.request_id), E.INVALID_STATE)
        after_cancel = await bank.query(request)
        assert after_cancel.state is final.state, (
            f"a refused cancel changed the final state {final.state.value} to "
            f"{after_cancel.state.value}")
        try:
            after_confirm = await bank.confirm(request)
        except Exception:  # noqa: BLE001, S110 - refusing is as fine as answering the state
            pass
        else:
            assert after_confirm.state is final.state
        assert (await bank.query(request)).state is final.state

    async def test_a_final_state_is_the_same_after_a_pause(self, bank: Harness):
        request, _ = await bank.started()
        final = await bank.final(request)
        await asyncio.sleep(bank.final_pause)
        later = await bank.query(request)
        assert (later.state, later.failure_reason) == (final.state, final.failure_reason), (
            f"final state {final.state.value} became {later.state.value} "
            f"{bank.final_pause} s later"
        )

    async def test_an_unknown_request_id_is_unknown(self, bank: Harness):
        unknown = "conformance-never-submitted"
        provider = bank.provider
        await bank.refused("query_withdrawal(unknown)", provider.query_withdrawal(unknown),
                           E.UNKNOWN_WITHDRAWAL)
        await bank.refused("cancel_withdrawal(unknown)", provider.cancel_withdrawal(unknown),
                           E.UNKNOWN_WITHDRAWAL)
        await bank.refused("confirm_withdrawal(unknown)", provider.confirm_withdrawal(
            ConfirmWithdrawal(unknown, bank.verification_code)), E.UNKNOWN_WITHDRAWAL)

    # -- the optional batch status query ------------------------------------------------

    async def test_a_batch_query_answers_as_single_queries_do(self, bank: Harness):
        provider = bank.provider
        if not provider.has_batch_query:
            pytest.skip("this bank has no batch status query (query_withdrawals)")
        limit = provider.batch_query_limit
        assert isinstance(limit, int) and not isinstance(limit, bool) and limit >= 2, (
            f"batch_query_limit must be an int of at least 2, got {limit!r}"
        )
        started = [await bank.started() for _ in range(2)]
        unknown = "conformance-never-submitted"
        asked = [request.request_id for request, _ in started] + [unknown]
        answer = await bank.call("query_withdrawals", provider.query_withdrawals(asked))
        assert isinstance(answer, Mapping), f"query_withdrawals answered {type(answer).__name__}"
        assert set(answer) == set(asked[:2]), (
            f"query_withdrawals must answer exactly the known ids asked, got {sorted(answer)}"
        )
        for request, earlier in started:
            result = answer[request.request_id]
            bank.same_withdrawal(result, request)
            bank.not_behind(result, earlier)
            bank.not_behind(await bank.query(request), result)

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

    # -- callbacks signed by the test (bank_callback_signer) ----------------------------

    @staticmethod
    def _sample_event() -> CallbackEvent:
        return CallbackEvent("conformance-callback", "CONFORMANCE-REF", WithdrawalState.SUCCEEDED,
                             Decimal("100.00"), "CNY", datetime.now(UTC))

    async def test_a_callback_signed_outside_the_replay_window_is_refused(
        self, bank: Harness
    ):
        signer = bank.callback_signer
        if signer is None:
            pytest.skip("no bank_callback_signer: the replay window is not tested")
        body = signer.encode(self._sample_event())
        now = datetime.now(UTC)

        async def verify(at: datetime):
            return bank.provider.verify_callback(signer.sign(body, at=at), body)

        bank.check_event(await bank.call("verify_callback(signed now)", verify(now)))
        for offset in (timedelta(hours=-1), timedelta(days=-1), timedelta(hours=1)):
            await bank.refused(f"verify_callback(signed {offset} from now)", verify(now + offset),
                               E.INVALID_SIGNATURE)

    async def test_a_signed_but_malformed_callback_is_a_clean_refusal(self, bank: Harness):
        signer = bank.callback_signer
        if signer is None:
            pytest.skip("no bank_callback_signer: malformed bodies are not tested")
        good = signer.encode(self._sample_event())
        bodies = [b"", b"not json", b"[]", b"null", b"{}", b'"text"', good[: len(good) // 2]]
        try:
            data = json.loads(good)
        except ValueError:
            data = None
        if isinstance(data, dict):
            for key in data:
                bodies.append(json.dumps({k: v for k, v in data.items() if k != key}).encode())
                for wrong in (None, 12.5, [], {"nested": True}, "", "x" * 300):
                    bodies.append(json.dumps({**data, key: wrong}).encode())
        for body in bodies:
            async def verify(body=body):
                return bank.provider.verify_callback(signer.sign(body, at=datetime.now(UTC)),
                                                     body)
            try:
                event = await bank.call(f"verify_callback({body[:60]!r})", verify())
            except Exception as error:  # noqa: BLE001 - the code is what is judged
                code = getattr(error, "code", None)
                assert code is E.INVALID_RESPONSE, (
                    f"verify_callback({body[:60]!r}) raised {code}, expected INVALID_RESPONSE")
            else:
                bank.check_event(event)

    # -- callbacks the bank pushes (bank_callback_inbox) --------------------------------

    async def test_pushed_callbacks_agree_with_the_final_state_and_the_amount(
        self, bank: Harness
    ):
        # Any call may start the bank's callbacks; the URL is read when the provider is made.
        await bank.cards()
        inbox = bank.callback_inbox
        if inbox is None or not inbox.used:
            pytest.skip("the provider was not given bank_callback_inbox.url: pushed callbacks "
                        "are not tested")
        request, _ = await bank.started()
        final = await bank.final(request)
        events = await bank.pushed_events(request, final)
        finals = [e for e in events if e.state in TERMINAL_STATES]
        assert {e.state for e in finals} == {final.state}, (
            f"the bank's callbacks report {[e.state.value for e in finals]}, its answer to a "
            f"query {final.state.value}"
        )
        await asyncio.sleep(bank.final_pause)
        assert (await bank.query(request)).state is final.state
        later = await bank.pushed_events(request, final)
        first_final = next(i for i, e in enumerate(later) if e.state in TERMINAL_STATES)
        changed = [e.state.value for e in later[first_final:] if e.state is not final.state]
        assert not changed, f"after the final {final.state.value} the bank pushed {changed}"
