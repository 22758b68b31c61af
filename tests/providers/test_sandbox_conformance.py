"""Every sandbox bank passes the conformance suite that bank plugins must pass."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from api.banks.sandbox import (
    SANDBOX_BANKS,
    SandboxBank,
    callback_secret,
    callback_signer,
    sign_callback,
)
from api.services.catalog import DEFAULT_CATALOG_FILE, read_catalog_file
from providers import CallbackEvent, ProviderContext, WithdrawalState
from providers.testkit import ConformanceSuite

LISTED = {bank.code: tuple(c.channel for c in channels)
          for bank, channels in read_catalog_file(DEFAULT_CATALOG_FILE)}


@pytest.fixture(params=SANDBOX_BANKS)
def sandbox_code(request) -> str:
    return request.param


class TestSandboxBanks(ConformanceSuite):
    @pytest.fixture
    async def bank_provider(self, sandbox_code, tmp_path, bank_callback_inbox):
        # Quick settlement, and failures often enough that both final states are exercised;
        # settled withdrawals are pushed to the suite's inbox.
        options = {"latency_ms": "0", "settlement_delay_s": "0.05", "failure_rate": "0.2",
                   "callback_url": bank_callback_inbox.url, "callback_poll_s": "0.02"}
        bank = SandboxBank.from_data_file(
            sandbox_code, ProviderContext(sandbox_code, tmp_path, options)
        )
        yield bank
        await bank.aclose()

    @pytest.fixture
    def bank_channels(self, sandbox_code) -> tuple[str, ...]:
        return LISTED[sandbox_code]

    @pytest.fixture
    def bank_final_pause(self) -> float:
        return 0.2

    @pytest.fixture
    def bank_callback_signer(self, sandbox_code, tmp_path):
        return callback_signer(sandbox_code, callback_secret(sandbox_code, tmp_path))

    @pytest.fixture
    def bank_signed_callback(self, sandbox_code, tmp_path) -> tuple[dict[str, str], bytes]:
        event = CallbackEvent("w-1", f"{sandbox_code}REF", WithdrawalState.SUCCEEDED,
                              Decimal("100.00"), "CNY", datetime(2026, 3, 1, tzinfo=UTC))
        return sign_callback(
            event, bank_code=sandbox_code, secret=callback_secret(sandbox_code, tmp_path)
        )
