"""The conformance suite fails a provider that breaks the contract, naming what it broke.

A separate pytest run (pytester) plays a plugin author whose provider has seven defects; the
suite must fail exactly the tests about those defects and pass the rest.
"""

from __future__ import annotations

import textwrap

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
