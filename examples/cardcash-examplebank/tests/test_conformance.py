"""ExampleBank passes the cardcash conformance suite."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cardcash_examplebank import create_provider, sign_callback, signer

from providers import CallbackEvent, ProviderContext, WithdrawalState
from providers.testkit import ConformanceSuite


class TestExampleBank(ConformanceSuite):
    @pytest.fixture
    async def bank_provider(self, tmp_path, bank_callback_inbox):
        # The suite collects the callbacks the bank pushes at bank_callback_inbox.url.
        options = {"callback_url": bank_callback_inbox.url}
        provider = create_provider(ProviderContext("EXAMPLE", tmp_path, options))
        yield provider
        await provider.aclose()

    @pytest.fixture
    def bank_amounts(self):
        # Either side of the threshold from which the bank asks for an SMS code.
        return (Decimal("1999.99"), Decimal("2000.00"))

    @pytest.fixture
    def bank_final_pause(self):
        return 0.2

    @pytest.fixture
    def bank_callback_signer(self):
        return signer()

    @pytest.fixture
    def bank_signed_callback(self):
        event = CallbackEvent("w-1", "EX-00000001", WithdrawalState.SUCCEEDED,
                              Decimal("100.00"), "CNY", datetime(2026, 3, 1, tzinfo=UTC))
        return sign_callback(event)
