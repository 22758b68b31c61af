"""Signed callbacks of the sandbox banks: signing, verification and delivery."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import stat
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from api.banks.sandbox import (
    SECRET_FILE,
    SIGNATURE_HEADER,
    SandboxBank,
    callback_secret,
    sign_callback,
)
from providers import (
    CallbackEvent,
    Customer,
    ProviderContext,
    ProviderError,
    ProviderErrorCode,
    RepaymentType,
    SubmitWithdrawal,
    WithdrawalPurpose,
    WithdrawalState,
)

EVENT = CallbackEvent(
    request_id="w-1", bank_reference="CEBREF", state=WithdrawalState.SUCCEEDED,
    amount=Decimal("500.00"), currency="CNY", occurred_at=datetime(2026, 3, 10, tzinfo=UTC),
)


@pytest.fixture
def ceb(tmp_path) -> SandboxBank:
    return SandboxBank.from_data_file("CEB", ProviderContext("CEB", tmp_path, {"latency_ms": "0"}))


def signed(payload, tmp_path, code="CEB"):
    """Signed as this install's bank ``code`` signs."""
    return sign_callback(payload, bank_code=code, secret=callback_secret(code, tmp_path))


def refused(bank: SandboxBank, headers, body) -> ProviderErrorCode:
    with pytest.raises(ProviderError) as caught:
        bank.verify_callback(headers, body)
    return caught.value.code


def test_a_signed_callback_verifies_and_parses_exactly(ceb, tmp_path):
    headers, body = signed(EVENT, tmp_path)
    assert json.loads(body)["amount"] == "500.00"
    assert ceb.verify_callback(headers, body) == EVENT
    lower = {k.lower(): v for k, v in headers.items()}
    assert ceb.verify_callback(lower, body) == EVENT


def test_bad_or_missing_signatures_are_refused(ceb, tmp_path):
    headers, body = signed(EVENT, tmp_path)
    tampered = body.replace(b"500.00", b"5000.00")
    assert refused(ceb, headers, tampered) is ProviderErrorCode.INVALID_SIGNATURE
    assert refused(ceb, {}, body) is ProviderErrorCode.INVALID_SIGNATURE
    assert refused(ceb, {SIGNATURE_HEADER: "0" * 64}, body) is ProviderErrorCode.INVALID_SIGNATURE
    other_bank = signed(EVENT, tmp_path, "SPDB")
    assert refused(ceb, *other_bank) is ProviderErrorCode.INVALID_SIGNATURE
    wrong_secret = sign_callback(EVENT, bank_code="CEB", secret="guessed")
    assert refused(ceb, *wrong_secret) is ProviderErrorCode.INVALID_SIGNATURE


@pytest.mark.parametrize(
    "forged_with",
    [
        # What the secret used to be: derived from a string anyone can read in the source.
        hashlib.sha256(b"cardcash-sandbox-callback:CEB").hexdigest(),
        hashlib.sha256(b"cardcash-sandbox-callback:SPDB").hexdigest(),
        "",
        "CEB",
    ],
)
def test_a_callback_signed_with_a_guessable_secret_is_refused(ceb, forged_with):
    assert refused(ceb, *sign_callback(EVENT, bank_code="CEB", secret=forged_with)) is (
        ProviderErrorCode.INVALID_SIGNATURE)


def test_the_secret_is_random_per_install_kept_owner_only_and_per_bank(tmp_path):
    one, other = tmp_path / "one", tmp_path / "other"
    assert callback_secret("CEB", one) != callback_secret("CEB", other)
    assert callback_secret("CEB", one) == callback_secret("CEB", one)  # kept, not remade
    assert callback_secret("CEB", one) != callback_secret("SPDB", one)
    kept = one / SECRET_FILE
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert stat.S_IMODE(one.stat().st_mode) == 0o700
    assert len(kept.read_text().strip()) >= 43  # 32 random bytes or more, base64
    # A bank of another install does not accept this install's callbacks.
    elsewhere = SandboxBank.from_data_file("CEB", ProviderContext("CEB", other, {}))
    assert refused(elsewhere, *signed(EVENT, one)) is ProviderErrorCode.INVALID_SIGNATURE


def test_workers_starting_at_once_share_one_secret(tmp_path):
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: callback_secret("CEB", tmp_path), range(32)))
    assert len(secrets) == 1
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]  # nothing left aside


def test_a_configured_secret_replaces_the_default(tmp_path):
    bank = SandboxBank.from_data_file(
        "CEB", ProviderContext("CEB", tmp_path, {"callback_secret": "s3cret"})
    )
    assert bank.verify_callback(*sign_callback(EVENT, bank_code="CEB", secret="s3cret")) == EVENT
    assert refused(bank, *signed(EVENT, tmp_path)) is ProviderErrorCode.INVALID_SIGNATURE


def _valid(**changes):
    return {**json.loads(sign_callback(EVENT, bank_code="CEB", secret="x")[1]), **changes}


@pytest.mark.parametrize(
    "payload",
    [
        {"bank_code": "CEB", "amount": 500.0},
        _valid(amount=500.0),
        _valid(state="PAID"),
        _valid(bank_code="SPDB"),
        ["not", "an", "object"],
    ],
)
def test_a_correctly_signed_but_malformed_callback_is_an_invalid_response(ceb, tmp_path, payload):
    assert refused(ceb, *signed(payload, tmp_path)) is ProviderErrorCode.INVALID_RESPONSE


class CallbackReceiver:
    """A minimal HTTP server collecting POSTed callbacks; answers 500 the first ``fail`` times."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode()
        headers = {}
        while (line := (await reader.readline()).decode().strip()):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if self.fail:
            self.fail -= 1
            status = "500 Internal Server Error"
        else:
            status = "200 OK"
            self.received.append((request_line.split()[1], headers, body))
            self.arrived.set()
        head = f"HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        writer.write(head.encode())
        await writer.drain()
        writer.close()


async def test_a_settled_withdrawal_is_pushed_as_a_signed_callback_with_retries(tmp_path):
    receiver = CallbackReceiver(fail=1)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    options = {
        "latency_ms": "0", "failure_rate": "0", "settlement_delay_s": "0",
        "callback_url": f"http://127.0.0.1:{port}/callbacks/{{bank}}", "callback_poll_s": "0.02",
    }
    bank = SandboxBank.from_data_file("SPDB", ProviderContext("SPDB", tmp_path, options))
    customer = Customer("ALIPAY", "2088-1")
    try:
        credit, debit = await bank.list_cards(customer)
        await bank.submit_withdrawal(SubmitWithdrawal(
            "w-cb", customer, credit.card_ref, debit.card_ref, Decimal("300.00"), "CNY",
            RepaymentType.SINGLE_MONTH, 1, WithdrawalPurpose.EDUCATION, bank.data.agreement_version,
        ))
        # Nobody queries: the settlement loop settles it and the callback is retried once.
        await asyncio.wait_for(receiver.arrived.wait(), timeout=5)
    finally:
        await bank.aclose()
        server.close()
        await server.wait_closed()
    [(path, headers, body)] = receiver.received
    assert path == "/callbacks/SPDB"
    event = bank.verify_callback(headers, body)
    assert (event.request_id, event.state, event.amount) == (
        "w-cb", WithdrawalState.SUCCEEDED, Decimal("300.00"))
