"""The conformance suite fails a provider that breaks the contract, naming what it broke.

A separate pytest run (pytester) plays a plugin author whose provider has many defects; the
suite must fail exactly the tests about those defects and pass the rest. Then the example bank
is run with one defect at a time, for each rule that only shows on some amounts, after a
while, or in a callback, and for every other rule of the suite: each conformance test has a
broken provider here that it must fail (a last test checks none is left without one).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

pytest_plugins = ["pytester"]

BROKEN_PROVIDER = textwrap.dedent(
    '''
    import itertools
    from datetime import date
    from decimal import Decimal

    import pytest

    from providers import (
        BankProvider, CallbackEvent, CardInfo, CardKind, Offer, ProviderError,
        ProviderErrorCode, QuoteResult, ScheduledPayment, SingleMonthPricing,
        WithdrawalResult, WithdrawalState,
    )
    from providers.testkit import ConformanceSuite

    E = ProviderErrorCode
    NUMBERS = itertools.count()


    class BrokenBank(BankProvider):
        code = "BROKEN"
        name = "Broken Bank"

        def __init__(self):
            self.withdrawals = {}

        async def list_cards(self, customer):
            own = customer.channel_user_id
            return [
                # Defect: a full card number in the product name.
                CardInfo(f"cc-{own}", CardKind.CREDIT, "BROKEN", "7894", "Gold 6222021234567894"),
                CardInfo(f"dc-{own}", CardKind.DEBIT, "ICBC", "1111", "Debit"),
            ]

        async def verify_same_holder(self, customer, credit, debit):
            return debit == f"dc-{customer.channel_user_id}"

        async def get_offer(self, customer, card_ref):
            if card_ref != f"cc-{customer.channel_user_id}":
                raise ProviderError(E.CARD_NOT_FOUND)
            # Defect: limits without their two decimals.
            return Offer(card_ref, "CNY", Decimal("50000"), Decimal("20000"), Decimal("100"),
                         Decimal("10000"), Decimal("5000"),
                         SingleMonthPricing(Decimal("0.0005"), Decimal("0.01"), Decimal("10")))

        async def quote(self, request):
            if request.periods != 1:
                raise ProviderError(E.UNSUPPORTED_TENOR)
            if not Decimal("100") <= request.amount <= Decimal("10000"):
                raise ProviderError(E.AMOUNT_OUT_OF_RANGE)
            principal = request.amount.quantize(Decimal("0.01"))
            # Defect: due on a day of its own, not the day its pricing (price_schedule) says.
            payment = ScheduledPayment(1, date(2026, 3, 1), principal, Decimal("15.00"),
                                       Decimal("10.00"))
            return QuoteResult(request.amount, request.currency, request.repayment_type, 1,
                               (payment,), "v1", "summary")

        async def submit_withdrawal(self, request):
            if request.debit_card_ref != f"dc-{request.customer.channel_user_id}":
                raise ProviderError(E.NOT_SAME_HOLDER)
            if request.credit_card_ref != f"cc-{request.customer.channel_user_id}":
                raise ProviderError(E.CARD_NOT_FOUND)
            if request.amount > Decimal("10000"):
                raise ProviderError(E.AMOUNT_OUT_OF_RANGE)
            previous = self.withdrawals.get(request.request_id)
            if previous is not None and previous.amount != request.amount:
                raise ProviderError(E.INVALID_STATE)
            # Defect: every submission makes a new withdrawal, duplicates included.
            result = WithdrawalResult(request.request_id, f"REF{next(NUMBERS)}",
                                      WithdrawalState.SUCCEEDED, request.amount, "CNY")
            self.withdrawals[request.request_id] = result
            return result

        async def confirm_withdrawal(self, request):
            return self._get(request.request_id)

        async def cancel_withdrawal(self, request_id):
            # Defect: cancels even a succeeded withdrawal.
            cancelled = WithdrawalResult(request_id, self._get(request_id).bank_reference,
                                         WithdrawalState.CANCELLED,
                                         self._get(request_id).amount, "CNY")
            self.withdrawals[request_id] = cancelled
            return cancelled

        async def query_withdrawal(self, request_id):
            return self._get(request_id)

        def _get(self, request_id):
            # Defect: an unknown request id raises KeyError, not UNKNOWN_WITHDRAWAL.
            return self.withdrawals[request_id]

        def verify_callback(self, headers, body):
            # Defect: accepts any callback, signed or not.
            return CallbackEvent("w", "REF", WithdrawalState.SUCCEEDED, Decimal("1.00"), "CNY",
                                 date(2026, 1, 1))


    class TestBrokenBank(ConformanceSuite):
        @pytest.fixture
        def bank_provider(self):
            return BrokenBank()
    '''
)

EXPECTED_FAILURES = {
    "test_cards_are_masked": "a full card number is in a CardInfo",
    "test_offer_amounts_are_decimal_with_two_decimals": "does not have two decimals",
    "test_price_schedule_agrees_with_quote": "differs from quote",
    "test_submission_is_idempotent": "another withdrawal was made",
    "test_concurrent_duplicate_submissions_make_one_withdrawal": "several withdrawals were made",
    "test_a_final_state_never_changes": "cancel_withdrawal(final) returned",
    "test_an_unknown_request_id_is_unknown": "raised KeyError",
    "test_callbacks_with_a_bad_signature_are_refused": "verify_callback(bad signature) returned",
    # Its limits never move, and it takes fractions of a fen, amounts over the daily cap and
    # cancellations of any withdrawal.
    "test_amounts_with_more_than_two_decimals_or_another_currency_are_refused":
        "quote(100.001 CNY) returned",
    "test_a_withdrawal_of_the_offers_amount_moves_the_limits_by_it[minimum]":
        "after a withdrawal of 100 succeeded",
    "test_a_withdrawal_of_the_offers_amount_moves_the_limits_by_it[middle]":
        "after a withdrawal of 2550.00 succeeded",
    "test_a_withdrawal_of_the_offers_amount_moves_the_limits_by_it[maximum]":
        "after a withdrawal of 5000 succeeded",
    "test_a_withdrawal_over_the_daily_cap_is_refused": "submit_withdrawal(5000.01, 5000 left",
    "test_cancel_after_confirmation_is_refused_and_changes_nothing":
        "cancel_withdrawal(SUCCEEDED) returned",
    # It declares the SDK it runs on (1.2, by default) and echoes no booked terms.
    "test_the_booked_terms_are_the_ones_sent": "submit_withdrawal did not echo the booked terms",
}


def test_the_suite_fails_each_defect_of_a_broken_provider(pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_broken_bank=BROKEN_PROVIDER)
    reports = pytester.inline_run("-p", "no:cacheprovider").getreports("pytest_runtest_logreport")
    outcomes = {}
    for report in reports:
        name = report.nodeid.rsplit("::", 1)[-1]
        if report.when == "call" or report.outcome != "passed":
            outcomes[name] = (report.outcome, str(report.longrepr or ""))
    failed = {name for name, (outcome, _) in outcomes.items() if outcome == "failed"}
    assert failed == set(EXPECTED_FAILURES)
    for name, phrase in EXPECTED_FAILURES.items():
        assert phrase in outcomes[name][1], (name, outcomes[name][1])
    # What the broken bank gets right still passes.
    for name in ("test_quote_principals_add_up_for_every_tenor",
                 "test_submission_refusals_use_the_right_codes",
                 "test_same_holder_is_true_only_for_the_holders_own_debit_card"):
        assert outcomes[name][0] == "passed", outcomes[name]


def test_a_suite_without_a_bank_provider_fixture_says_what_to_write(pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_no_fixture="""
        from providers.testkit import ConformanceSuite

        class TestForgotten(ConformanceSuite):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "health")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*define a `bank_provider` fixture*"])


# -- one defect at a time -------------------------------------------------------------------
#
# Each class below is the example bank with one defect a real plugin had; the suite must fail
# exactly the tests about that defect among those selected for the class (``SELECT``: the
# tests about the defect and neighbours that must still pass).

EXAMPLE_PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "cardcash-examplebank"

VARIANTS = textwrap.dedent(
    '''
    import asyncio
    import sys
    import time
    from dataclasses import replace
    from datetime import timedelta
    from decimal import Decimal

    import pytest

    sys.path.insert(0, EXAMPLE_PACKAGE)
    import cardcash_examplebank.bank as example  # noqa: E402
    from providers import (  # noqa: E402
        BookedTerms, CallbackEvent, ConfirmWithdrawal, ProviderContext, ProviderError, ProviderErrorCode,
        WithdrawalState,
    )
    from providers.testkit import ConformanceSuite  # noqa: E402
    from providers.webhooks import CallbackSigner  # noqa: E402

    E = ProviderErrorCode
    S = WithdrawalState
    HOLDING = (S.VERIFICATION_REQUIRED, S.PROCESSING, S.SUCCEEDED)


    class Variant(ConformanceSuite):
        bank_class = example.ExampleBank
        options = {}
        push = False

        @pytest.fixture
        async def bank_provider(self, tmp_path, bank_callback_inbox):
            options = dict(self.options)
            if self.push:
                options["callback_url"] = bank_callback_inbox.url
            provider = self.bank_class(ProviderContext("EXAMPLE", tmp_path, options))
            yield provider
            await provider.aclose()

        @pytest.fixture
        def bank_final_pause(self):
            return 0.3

        @pytest.fixture
        def bank_callback_signer(self):
            return example.signer()


    def holding(states):
        """An ExampleBank._held that counts withdrawals in ``states``."""
        def _held(self, card_ref, day=None):
            return sum((self._current(s.request_id).amount
                        for s, _, _, drawn_on in list(self._withdrawals.values())
                        if s.credit_card_ref == card_ref and (day is None or drawn_on == day)
                        and self._current(s.request_id).state in states), Decimal("0.00"))
        return _held


    # Verification only above a threshold, and a wrong code let through there.
    class ThresholdBank(example.ExampleBank):
        verify_from = Decimal("4000.00")

        async def confirm_withdrawal(self, request):
            return await super().confirm_withdrawal(replace(request, verification_code="123456"))


    class TestThreshold(Variant):
        bank_class = ThresholdBank
        SELECT = {"test_a_wrong_code_is_refused_and_the_withdrawal_still_waits",
                  "test_a_withdrawal_failed_by_wrong_codes_gives_its_amount_back",
                  "test_confirm_with_the_code_and_again_after_a_lost_answer"}


    # A declared amount the bank does not hold against the limits.
    class DeclaredAmountBank(example.ExampleBank):
        def _held(self, card_ref, day=None):
            return example.ExampleBank._held(self, card_ref, day) - sum(
                (r.amount for s, r, _, _ in self._withdrawals.values()
                 if s.credit_card_ref == card_ref and r.amount == Decimal("1234.56")
                 and r.state in HOLDING), Decimal("0.00"))


    class TestDeclaredAmount(Variant):
        bank_class = DeclaredAmountBank
        SELECT = {"test_declared_amounts_move_the_limits_by_them",
                  "test_a_withdrawal_of_the_offers_amount_moves_the_limits_by_it"}

        @pytest.fixture
        def bank_amounts(self):
            return (Decimal("1234.56"),)


    # The daily remaining does not fall (it is the per-withdrawal maximum, capped).
    class DailyStuckBank(example.ExampleBank):
        async def get_offer(self, customer, card_ref):
            offer = await super().get_offer(customer, card_ref)
            return replace(offer, daily_remaining=min(offer.available_limit, offer.max_amount))


    class TestDailyStuck(Variant):
        bank_class = DailyStuckBank
        SELECT = {"test_a_withdrawal_of_the_offers_amount_moves_the_limits_by_it",
                  "test_offer_amounts_are_decimal_with_two_decimals"}


    class CancelKeepsBank(example.ExampleBank):
        _held = holding((*HOLDING, S.CANCELLED))


    class TestCancelKeepsTheLimit(Variant):
        bank_class = CancelKeepsBank
        SELECT = {"test_a_cancelled_withdrawal_gives_its_amount_back",
                  "test_cancel_before_verification_is_final_and_idempotent"}


    class FailedKeepsBank(example.ExampleBank):
        _held = holding((*HOLDING, S.FAILED))


    class TestFailedKeepsTheLimit(Variant):
        bank_class = FailedKeepsBank
        SELECT = {"test_a_withdrawal_failed_by_wrong_codes_gives_its_amount_back",
                  "test_a_wrong_code_is_refused_and_the_withdrawal_still_waits"}


    # Over the daily cap, the bank says LIMIT_EXCEEDED.
    class DailyCapCodeBank(example.ExampleBank):
        async def submit_withdrawal(self, request):
            try:
                return await super().submit_withdrawal(request)
            except ProviderError as error:
                if error.code is E.DAILY_LIMIT_EXCEEDED:
                    raise ProviderError(E.LIMIT_EXCEEDED) from None
                raise


    class TestDailyCapCode(Variant):
        bank_class = DailyCapCodeBank
        SELECT = {"test_a_withdrawal_over_the_daily_cap_is_refused",
                  "test_submission_refusals_use_the_right_codes"}


    # A succeeded withdrawal is reported failed a little later.
    class FlipsBank(example.ExampleBank):
        def __init__(self, context):
            super().__init__(context)
            self._succeeded_at = {}

        async def query_withdrawal(self, request_id):
            result = await super().query_withdrawal(request_id)
            if result.state is S.SUCCEEDED:
                since = self._succeeded_at.setdefault(request_id, time.monotonic())
                if time.monotonic() - since > 0.15:
                    return replace(result, state=S.FAILED, failure_reason="reversed")
            return result


    class TestFinalFlips(Variant):
        bank_class = FlipsBank
        SELECT = {"test_a_final_state_is_the_same_after_a_pause",
                  "test_submission_answers_about_the_request"}


    def pushing(change):
        """An ExampleBank whose pushed callbacks are changed by ``change``."""
        class Pushing(example.ExampleBank):
            def __init__(self, context):
                super().__init__(context)
                send = self._sender.send
                self._sender.send = lambda event: send(change(event))
        return Pushing


    class TestCallbackContradictsTheQuery(Variant):
        bank_class = pushing(lambda e: replace(e, state=S.FAILED, failure_reason="x"))
        push = True
        SELECT = {"test_pushed_callbacks_agree_with_the_final_state_and_the_amount"}


    class TestCallbackAmountDiffers(Variant):
        bank_class = pushing(lambda e: replace(e, amount=e.amount + Decimal("0.01")))
        push = True
        SELECT = {"test_pushed_callbacks_agree_with_the_final_state_and_the_amount"}


    class TestPushedCallbacksThatAgree(Variant):
        push = True
        SELECT = {"test_pushed_callbacks_agree_with_the_final_state_and_the_amount"}


    class CancelsProcessingBank(example.ExampleBank):
        async def cancel_withdrawal(self, request_id):
            current = self._current(request_id)
            if current.state is S.PROCESSING:
                return self._set(request_id, replace(current, state=S.CANCELLED))
            return await super().cancel_withdrawal(request_id)


    class TestCancelWhileProcessing(Variant):
        bank_class = CancelsProcessingBank
        options = {"settlement_s": "0.5"}
        SELECT = {"test_cancel_after_confirmation_is_refused_and_changes_nothing",
                  "test_cancel_before_verification_is_final_and_idempotent"}


    # Refuses to cancel a final withdrawal, but cancels it all the same.
    class RefusedCancelBank(example.ExampleBank):
        async def cancel_withdrawal(self, request_id):
            current = self._current(request_id)
            if current.state is S.SUCCEEDED:
                self._set(request_id, replace(current, state=S.CANCELLED))
                raise ProviderError(E.INVALID_STATE)
            return await super().cancel_withdrawal(request_id)


    class TestRefusedCancelChangesTheState(Variant):
        bank_class = RefusedCancelBank
        SELECT = {"test_a_final_state_never_changes"}


    class RoundsBank(example.ExampleBank):
        @staticmethod
        def _check_terms(amount, currency, repayment_type, periods):
            return example.ExampleBank._check_terms(
                amount.quantize(Decimal("0.01")), currency, repayment_type, periods)


    class TestRoundsAmounts(Variant):
        bank_class = RoundsBank
        SELECT = {"test_amounts_with_more_than_two_decimals_or_another_currency_are_refused",
                  "test_amounts_outside_the_range_are_refused"}


    class AnyCurrencyBank(example.ExampleBank):
        @staticmethod
        def _check_terms(amount, currency, repayment_type, periods):
            return example.ExampleBank._check_terms(amount, "CNY", repayment_type, periods)


    class TestAnyCurrency(Variant):
        bank_class = AnyCurrencyBank
        SELECT = {"test_amounts_with_more_than_two_decimals_or_another_currency_are_refused"}


    class NoReplayWindowBank(example.ExampleBank):
        def __init__(self, context):
            super().__init__(context)
            self._signer = CallbackSigner("example-secret", header=example.SIGNATURE_HEADER,
                                          tolerance_s=10 ** 9)


    class TestNoReplayWindow(Variant):
        bank_class = NoReplayWindowBank
        SELECT = {"test_a_callback_signed_outside_the_replay_window_is_refused",
                  "test_callbacks_with_a_bad_signature_are_refused"}


    class KeyErrorBank(example.ExampleBank):
        def verify_callback(self, headers, body):
            import json
            from datetime import datetime
            self._signer.verify(headers, body)
            data = json.loads(body)
            return CallbackEvent(data["request_id"], data["bank_reference"],
                                 S(data["state"]), Decimal(data["amount"]), data["currency"],
                                 datetime.fromisoformat(data["occurred_at"]))


    class TestMalformedCallbackRaises(Variant):
        bank_class = KeyErrorBank
        SELECT = {"test_a_signed_but_malformed_callback_is_a_clean_refusal",
                  "test_a_callback_signed_outside_the_replay_window_is_refused"}


    # SDK 1.2, booking every withdrawal from the next day on: the terms echoed are not those
    # sent (what a bank that fixes the start when it books, not when it quotes, would do).
    class BooksLaterBank(example.ExampleBank):
        sdk_version = "1.2"

        def _booked(self, request):
            later = request.start_date + timedelta(days=1)
            return BookedTerms(later, self.price_schedule(
                self._offer_for_terms, request.amount, request.repayment_type,
                request.periods, later))

        async def submit_withdrawal(self, request):
            self._offer_for_terms = await self.get_offer(request.customer,
                                                         request.credit_card_ref)
            self._requests = getattr(self, "_requests", {})
            self._requests[request.request_id] = request
            return replace(await super().submit_withdrawal(request),
                           booked=self._booked(request))

        async def query_withdrawal(self, request_id):
            answer = await super().query_withdrawal(request_id)
            request = getattr(self, "_requests", {}).get(request_id)
            return replace(answer, booked=self._booked(request)) if request else answer


    # SDK 1.2, asking for the credit-report authorisation and lending without it all the same.
    class AsksButTakesAnyBank(example.ExampleBank):
        sdk_version = "1.2"
        asks_credit_report = True


    class TestCreditReportWithoutAuthorisation(Variant):
        bank_class = AsksButTakesAnyBank
        SELECT = {"test_a_bank_that_asks_for_the_credit_report_refuses_without_it",
                  "test_submission_is_idempotent"}


    class TestBooksOtherTerms(Variant):
        bank_class = BooksLaterBank
        SELECT = {"test_the_booked_terms_are_the_ones_sent", "test_submission_is_idempotent"}


    class WechatOnlyBank(example.ExampleBank):
        async def list_cards(self, customer):
            if customer.channel != "WECHAT":
                return []
            return await super().list_cards(customer)


    class TestServesOneChannelOfTwo(Variant):
        bank_class = WechatOnlyBank
        SELECT = {"test_a_customer_of_every_listed_channel_is_served",
                  "test_same_holder_is_true_only_for_the_holders_own_debit_card",
                  "test_cards_are_masked"}


    class TestServesTheOneChannelItIsListedOn(Variant):
        bank_class = WechatOnlyBank
        SELECT = TestServesOneChannelOfTwo.SELECT

        @pytest.fixture
        def bank_channels(self):
            return ("WECHAT",)


    # -- every other rule of the suite, one defect each ------------------------------------

    class NewerSdkBank(example.ExampleBank):
        sdk_supported = ">=1.3,<2"


    class TestSdkRangeLeavesOutThisSdk(Variant):
        bank_class = NewerSdkBank
        SELECT = {"test_provider_declares_code_name_and_a_compatible_sdk",
                  "test_health_is_reported"}


    class BoolHealthBank(example.ExampleBank):
        async def health(self):
            return True


    class TestHealthIsABool(Variant):
        bank_class = BoolHealthBank
        SELECT = {"test_health_is_reported", "test_cards_are_masked"}


    class ShufflesCardsBank(example.ExampleBank):
        calls = 0

        async def list_cards(self, customer):
            self.calls += 1
            cards = await super().list_cards(customer)
            return cards if self.calls % 2 else cards[::-1]


    class TestCardsChangeOrder(Variant):
        bank_class = ShufflesCardsBank
        SELECT = {"test_cards_are_stable", "test_cards_are_masked"}


    class UnknownCardDeclinedBank(example.ExampleBank):
        def _own_credit_card(self, customer, card_ref):
            if card_ref == "conformance-no-such-card":
                raise ProviderError(E.DECLINED)
            super()._own_credit_card(customer, card_ref)


    class TestUnknownCardDeclined(Variant):
        bank_class = UnknownCardDeclinedBank
        SELECT = {"test_offer_for_an_unknown_card_is_refused",
                  "test_offer_amounts_are_decimal_with_two_decimals"}


    # The last payment's principal is a fen short of the amount.
    class ShortPrincipalBank(example.ExampleBank):
        async def quote(self, request):
            quote = await super().quote(request)
            last = quote.schedule[-1]
            short = replace(last, principal=last.principal - Decimal("0.01"))
            return replace(quote, schedule=(*quote.schedule[:-1], short))


    class TestPrincipalsDoNotAddUp(Variant):
        bank_class = ShortPrincipalBank
        SELECT = {"test_quote_principals_add_up_for_every_tenor",
                  "test_quote_refuses_a_tenor_not_offered"}


    # Any number of installments is quoted as six.
    class AnyTenorBank(example.ExampleBank):
        async def quote(self, request):
            if request.periods in (1, 3, 6):
                return await super().quote(request)
            return replace(await super().quote(replace(request, periods=6)),
                           periods=request.periods)


    class TestAnyTenor(Variant):
        bank_class = AnyTenorBank
        SELECT = {"test_quote_refuses_a_tenor_not_offered",
                  "test_quote_principals_add_up_for_every_tenor"}


    # Quotes below the minimum and above the maximum (it checks the range on submission only).
    class QuotesAnyAmountBank(example.ExampleBank):
        async def quote(self, request):
            inside = min(max(request.amount, Decimal("100.00")), Decimal("5000.00"))
            quote = await super().quote(replace(request, amount=inside))
            return replace(quote, amount=request.amount)


    class TestQuotesOutsideTheRange(Variant):
        bank_class = QuotesAnyAmountBank
        SELECT = {"test_amounts_outside_the_range_are_refused",
                  "test_quote_principals_add_up_for_every_tenor"}


    # Answers a submission in its own currency code.
    class OwnCurrencyCodeBank(example.ExampleBank):
        async def submit_withdrawal(self, request):
            return replace(await super().submit_withdrawal(request), currency="RMB")


    class TestAnswersInAnotherCurrency(Variant):
        bank_class = OwnCurrencyCodeBank
        SELECT = {"test_submission_answers_about_the_request"}


    # A known request id answers the first withdrawal whatever the terms.
    class IgnoresTermsOnReplayBank(example.ExampleBank):
        async def submit_withdrawal(self, request):
            if request.request_id in self._withdrawals:
                return self._current(request.request_id)
            return await super().submit_withdrawal(request)


    class TestTermsIgnoredOnReplay(Variant):
        bank_class = IgnoresTermsOnReplayBank
        SELECT = {"test_a_reused_request_id_with_other_terms_is_refused",
                  "test_submission_is_idempotent"}


    # Another holder's debit card is reported as an unknown card.
    class WrongHolderCodeBank(example.ExampleBank):
        async def submit_withdrawal(self, request):
            try:
                return await super().submit_withdrawal(request)
            except ProviderError as error:
                if error.code is E.NOT_SAME_HOLDER:
                    raise ProviderError(E.CARD_NOT_FOUND) from None
                raise


    class TestWrongHolderCode(Variant):
        bank_class = WrongHolderCodeBank
        SELECT = {"test_submission_refusals_use_the_right_codes",
                  "test_same_holder_is_true_only_for_the_holders_own_debit_card"}


    # A second confirmation (the first answer was lost) is refused once the payout started.
    class ConfirmsOnceBank(example.ExampleBank):
        async def confirm_withdrawal(self, request):
            current = self._current(request.request_id)
            if current.state is not S.VERIFICATION_REQUIRED:
                raise ProviderError(E.INVALID_STATE, f"withdrawal is {current.state.value}")
            return await super().confirm_withdrawal(request)


    class TestConfirmNotRepeatable(Variant):
        bank_class = ConfirmsOnceBank
        SELECT = {"test_confirm_with_the_code_and_again_after_a_lost_answer",
                  "test_a_wrong_code_is_refused_and_the_withdrawal_still_waits"}


    # Cancelling a cancelled withdrawal again is refused (a lost answer cannot be asked again).
    class CancelsOnceBank(example.ExampleBank):
        async def cancel_withdrawal(self, request_id):
            if self._current(request_id).state is S.CANCELLED:
                raise ProviderError(E.INVALID_STATE, "already cancelled")
            return await super().cancel_withdrawal(request_id)


    class TestCancelNotRepeatable(Variant):
        bank_class = CancelsOnceBank
        SELECT = {"test_cancel_before_verification_is_final_and_idempotent",
                  "test_a_cancelled_withdrawal_gives_its_amount_back"}


    # Pushes its success, then a reversal of it once the success was taken.
    class ReversesByCallbackBank(example.ExampleBank):
        def __init__(self, context):
            super().__init__(context)
            send = self._sender.send
            loop_of = asyncio.get_running_loop

            def send_then_reverse(event):
                task = send(event)
                if event.state is S.SUCCEEDED:
                    reversal = replace(event, state=S.FAILED, failure_reason="reversed")
                    task.add_done_callback(lambda _: self._timers.append(
                        loop_of().call_later(0.15, send, reversal)))
                return task

            self._sender.send = send_then_reverse


    class TestCallbackReversesTheFinalState(Variant):
        bank_class = ReversesByCallbackBank
        push = True
        SELECT = {"test_pushed_callbacks_agree_with_the_final_state_and_the_amount"}

        @pytest.fixture
        def bank_final_pause(self):
            # Long enough for the reversal to arrive on a busy machine.
            return 1.0
    '''
).replace("EXAMPLE_PACKAGE", repr(str(EXAMPLE_PACKAGE)))

SELECTION = textwrap.dedent(
    """
    def pytest_collection_modifyitems(config, items):
        keep = [item for item in items
                if item.originalname in getattr(item.cls, "SELECT", ())]
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
    """
)

#: Per class: the selected tests that must fail, with a phrase of the failure.
VARIANT_FAILURES = {
    "TestThreshold": {
        "test_a_wrong_code_is_refused_and_the_withdrawal_still_waits":
            "confirm_withdrawal(wrong code) returned",
        "test_a_withdrawal_failed_by_wrong_codes_gives_its_amount_back":
            "confirm_withdrawal(wrong code) returned",
    },
    "TestDeclaredAmount": {
        "test_declared_amounts_move_the_limits_by_them": "after a withdrawal of 1234.56",
    },
    "TestDailyStuck": {
        "test_a_withdrawal_of_the_offers_amount_moves_the_limits_by_it[minimum]":
            "succeeded, (available, daily remaining)",
        "test_a_withdrawal_of_the_offers_amount_moves_the_limits_by_it[middle]":
            "succeeded, (available, daily remaining)",
        "test_a_withdrawal_of_the_offers_amount_moves_the_limits_by_it[maximum]":
            "succeeded, (available, daily remaining)",
    },
    "TestCancelKeepsTheLimit": {
        "test_a_cancelled_withdrawal_gives_its_amount_back": "after a cancelled withdrawal",
    },
    "TestFailedKeepsTheLimit": {
        "test_a_withdrawal_failed_by_wrong_codes_gives_its_amount_back":
            "after a failed withdrawal",
    },
    "TestDailyCapCode": {
        "test_a_withdrawal_over_the_daily_cap_is_refused":
            "raised LIMIT_EXCEEDED, expected DAILY_LIMIT_EXCEEDED",
    },
    "TestFinalFlips": {
        "test_a_final_state_is_the_same_after_a_pause": "final state SUCCEEDED became FAILED",
    },
    "TestCallbackContradictsTheQuery": {
        "test_pushed_callbacks_agree_with_the_final_state_and_the_amount":
            "the bank's callbacks report ['FAILED']",
    },
    "TestCallbackAmountDiffers": {
        "test_pushed_callbacks_agree_with_the_final_state_and_the_amount":
            "cardcash refuses it",
    },
    "TestPushedCallbacksThatAgree": {},
    "TestCancelWhileProcessing": {
        "test_cancel_after_confirmation_is_refused_and_changes_nothing":
            "cancel_withdrawal(PROCESSING) returned",
    },
    "TestRefusedCancelChangesTheState": {
        "test_a_final_state_never_changes": "a refused cancel changed the final state",
    },
    "TestRoundsAmounts": {
        "test_amounts_with_more_than_two_decimals_or_another_currency_are_refused":
            "CNY) returned",
    },
    "TestAnyCurrency": {
        "test_amounts_with_more_than_two_decimals_or_another_currency_are_refused":
            "USD) returned",
    },
    "TestNoReplayWindow": {
        "test_a_callback_signed_outside_the_replay_window_is_refused":
            "verify_callback(signed -1 day, 23:00:00 from now) returned",
    },
    "TestMalformedCallbackRaises": {
        "test_a_signed_but_malformed_callback_is_a_clean_refusal": "a provider may raise only",
    },
    "TestServesOneChannelOfTwo": {
        "test_a_customer_of_every_listed_channel_is_served": "must hold a credit card",
        "test_same_holder_is_true_only_for_the_holders_own_debit_card": "must hold a credit card",
    },
    "TestServesTheOneChannelItIsListedOn": {},
    "TestSdkRangeLeavesOutThisSdk": {
        "test_provider_declares_code_name_and_a_compatible_sdk":
            "supports provider SDK >=1.3,<2; this cardcash provides SDK",
    },
    "TestHealthIsABool": {
        "test_health_is_reported": "health() returned True, not a Health",
    },
    "TestCardsChangeOrder": {
        "test_cards_are_stable": "the same cards, in the same order, every time",
    },
    "TestUnknownCardDeclined": {
        "test_offer_for_an_unknown_card_is_refused":
            "get_offer(unknown card) raised DECLINED, expected CARD_NOT_FOUND",
    },
    "TestPrincipalsDoNotAddUp": {
        "test_quote_principals_add_up_for_every_tenor":
            "schedule principals do not add up to the amount",
    },
    "TestAnyTenor": {
        "test_quote_refuses_a_tenor_not_offered": "quote(7 periods) returned",
    },
    "TestQuotesOutsideTheRange": {
        "test_amounts_outside_the_range_are_refused": "quote(99.99) returned",
    },
    "TestAnswersInAnotherCurrency": {
        "test_submission_answers_about_the_request": "RMB, asked",
    },
    "TestTermsIgnoredOnReplay": {
        "test_a_reused_request_id_with_other_terms_is_refused":
            "submit_withdrawal(reused request id) returned",
    },
    "TestWrongHolderCode": {
        "test_submission_refusals_use_the_right_codes":
            "submit_withdrawal raised CARD_NOT_FOUND, expected NOT_SAME_HOLDER",
    },
    "TestConfirmNotRepeatable": {
        "test_confirm_with_the_code_and_again_after_a_lost_answer":
            "again after a lost answer) raised INVALID_STATE",
    },
    "TestCancelNotRepeatable": {
        "test_cancel_before_verification_is_final_and_idempotent":
            "cancel_withdrawal(again, after a lost answer) raised INVALID_STATE",
    },
    "TestCallbackReversesTheFinalState": {
        "test_pushed_callbacks_agree_with_the_final_state_and_the_amount":
            "after the final SUCCEEDED the bank pushed ['FAILED']",
    },
    "TestCreditReportWithoutAuthorisation": {
        "test_a_bank_that_asks_for_the_credit_report_refuses_without_it":
            "submit_withdrawal(without the credit-report authorisation) returned",
    },
    "TestBooksOtherTerms": {
        "test_the_booked_terms_are_the_ones_sent": "submit_withdrawal: the bank booked other terms",
    },
}

#: Conformance tests whose broken providers live in another test module.
CAUGHT_ELSEWHERE = {
    "test_a_batch_query_answers_as_single_queries_do": "test_testkit_batch_query.py",
}


def test_the_suite_fails_each_defect_of_a_bank_with_one_defect(pytester):
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest(SELECTION)
    pytester.makepyfile(test_variants=VARIANTS)
    reports = pytester.inline_run("-p", "no:cacheprovider").getreports("pytest_runtest_logreport")
    outcomes: dict[str, dict[str, tuple[str, str]]] = {}
    for report in reports:
        _, cls, name = report.nodeid.split("::")
        if report.when == "call" or report.outcome != "passed":
            outcomes.setdefault(cls, {})[name] = (report.outcome, str(report.longrepr or ""))
    assert set(outcomes) == set(VARIANT_FAILURES)
    for cls, expected in VARIANT_FAILURES.items():
        failed = {name for name, (outcome, _) in outcomes[cls].items() if outcome == "failed"}
        assert failed == set(expected), (cls, {n: outcomes[cls][n][1][-600:] for n in failed})
        for name, phrase in expected.items():
            assert phrase in outcomes[cls][name][1], (cls, name, outcomes[cls][name][1][-1500:])
        # What is not about the defect ran and passed (not skipped).
        for name, (outcome, text) in outcomes[cls].items():
            if name not in expected:
                assert outcome == "passed", (cls, name, outcome, text[-600:])


def test_every_conformance_test_has_a_broken_provider_it_fails():
    """A kit change that stops catching a defect fails the tests above; a new conformance test
    without a broken provider that it fails fails here."""
    from providers.testkit import ConformanceSuite

    tests = {name for name in dir(ConformanceSuite) if name.startswith("test_")}
    caught = {name.split("[")[0] for name in EXPECTED_FAILURES}
    caught |= {name.split("[")[0] for expected in VARIANT_FAILURES.values() for name in expected}
    caught |= set(CAUGHT_ELSEWHERE)
    assert sorted(tests - caught) == [], "give each a broken provider in this module"
    assert caught <= tests, sorted(caught - tests)
