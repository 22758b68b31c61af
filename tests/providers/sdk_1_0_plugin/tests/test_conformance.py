"""ExampleBank passes the cardcash conformance suite."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from cardcash_examplebank import create_provider, sign_callback

from providers import CallbackEvent, ProviderContext, WithdrawalState
from providers.testkit import ConformanceSuite


class TestExampleBank(ConformanceSuite):
    @pytest.fixture
    async def bank_provider(self, tmp_path):
        provider = create_provider(ProviderContext("EXAMPLE", tmp_path, {}))
        yield provider
        await provider.aclose()

    @pytest.fixture
    def bank_signed_callback(self):
        event = CallbackEvent("w-1", "EX-00000001", WithdrawalState.SUCCEEDED,
                              Decimal("100.00"), "CNY", datetime(2026, 3, 1, tzinfo=UTC))
        return sign_callback(event)
