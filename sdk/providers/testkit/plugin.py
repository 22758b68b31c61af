"""pytest plugin of the conformance test kit (loaded automatically once cardcash-bank-sdk is
installed).

It only provides default fixtures and a marker; the tests themselves run only where a test
module subclasses :class:`providers.testkit.ConformanceSuite`. The fixtures a plugin author
may override (in their ``conftest.py`` or on their test class):

``bank_provider`` (required)
    A fresh :class:`~providers.BankProvider` for one test, closed afterwards. Make it fast
    (no simulated latency) and point it at a test environment of the bank.
``bank_channels``
    The channels (``"WECHAT"``, ``"ALIPAY"``) the bank is listed on in cardcash's catalog.
    Default: both. The default customers below are on these channels.
``bank_customer``
    A customer who holds a credit card with some cash-advance limit left and a debit card of
    their own. Default: a new customer per test, on the first of ``bank_channels`` (right for
    banks that accept any).
``other_bank_customer``
    Another customer, whose debit card is not ``bank_customer``'s. Default: a new one, on the
    last of ``bank_channels``.
``bank_channel_customers``
    One customer per listed channel, each served like ``bank_customer``. Default: new ones.
``bank_amounts``
    Amounts the bank treats differently, to withdraw besides the offer's minimum, a middle
    amount and its maximum (e.g. ``(Decimal("4999.99"), Decimal("5000.00"))`` for a bank that
    asks for a code from 5,000 CNY). Default: none.
``bank_verification_code``
    A verification code the bank accepts in its test environment. Default ``"123456"``.
``bank_call_timeout``
    Seconds every call must complete in. Default 5.0 (the guard's read timeout).
``bank_settlement_timeout``
    Seconds a confirmed withdrawal may take to reach a final state. Default 10.0.
``bank_final_pause``
    Seconds to wait before asking again about a final withdrawal. Default 1.0.
``bank_signed_callback``
    ``(headers, body)`` of a correctly signed callback, or None to test only refusals.
``bank_callback_signer``
    An object signing callbacks as the bank does: ``encode(event) -> bytes`` and
    ``sign(body, at=datetime) -> headers`` (a :class:`providers.webhooks.CallbackSigner` is
    one). With it the suite checks the replay window and malformed bodies. Default None.
``bank_callback_inbox``
    A local HTTP endpoint collecting callbacks (:class:`~providers.testkit.inbox.CallbackInbox`).
    A bank that pushes callbacks is pointed at ``bank_callback_inbox.url`` in its
    ``bank_provider`` fixture (e.g. an option ``callback_url``); the suite then checks what it
    pushes. A provider that never reads the URL has these checks skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from providers.base import BankProvider
from providers.testkit.inbox import CallbackInbox
from providers.types import Customer

DEFAULT_CALL_TIMEOUT = 5.0
DEFAULT_SETTLEMENT_TIMEOUT = 10.0
DEFAULT_FINAL_PAUSE = 1.0
#: The channels cardcash serves.
CHANNELS = ("WECHAT", "ALIPAY")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker of the conformance tests (select them with ``-m``)."""
    config.addinivalue_line(
        "markers", "cardcash_conformance: a cardcash bank provider conformance test"
    )


@pytest.fixture
def bank_provider() -> BankProvider:
    """The provider under test: a plugin's test suite must define this fixture."""
    pytest.fail(
        "define a `bank_provider` fixture returning the BankProvider under test "
        "(see providers.testkit)",
        pytrace=False,
    )


@pytest.fixture
def bank_channels() -> tuple[str, ...]:
    """The channels the bank is listed on (default: every channel cardcash serves)."""
    return CHANNELS


@pytest.fixture
def bank_customer(bank_channels: tuple[str, ...]) -> Customer:
    """A customer with a credit card and an own debit card (a new one per test)."""
    return Customer(bank_channels[0], f"conformance-{uuid.uuid4().hex}")


@pytest.fixture
def other_bank_customer(bank_channels: tuple[str, ...]) -> Customer:
    """A second customer, distinct from ``bank_customer``."""
    return Customer(bank_channels[-1], f"conformance-other-{uuid.uuid4().hex}")


@pytest.fixture
def bank_channel_customers(bank_channels: tuple[str, ...]) -> dict[str, Customer]:
    """A customer on each listed channel."""
    return {channel: Customer(channel, f"conformance-{channel.lower()}-{uuid.uuid4().hex}")
            for channel in bank_channels}


@pytest.fixture
def bank_amounts() -> tuple[Decimal, ...]:
    """Amounts to withdraw besides the offer's minimum, middle and maximum."""
    return ()


@pytest.fixture
def bank_final_pause() -> float:
    """Seconds to wait before asking about a final withdrawal again."""
    return DEFAULT_FINAL_PAUSE


@pytest.fixture
def bank_verification_code() -> str:
    """The verification code the bank's test environment accepts."""
    return "123456"


@pytest.fixture
def bank_call_timeout() -> float:
    """Seconds within which every provider call must complete."""
    return DEFAULT_CALL_TIMEOUT


@pytest.fixture
def bank_settlement_timeout() -> float:
    """Seconds a confirmed withdrawal may take to become final."""
    return DEFAULT_SETTLEMENT_TIMEOUT


@pytest.fixture
def bank_signed_callback() -> tuple[dict[str, str], bytes] | None:
    """A correctly signed callback ``(headers, body)``, or None when the bank cannot make one."""
    return None


@pytest.fixture
def bank_callback_signer() -> Any:
    """What signs callbacks as the bank does (``encode`` and ``sign``), or None."""
    return None


@pytest.fixture
def bank_callback_inbox() -> Iterator[CallbackInbox]:
    """A local endpoint collecting the callbacks the bank pushes (started when its URL is read)."""
    inbox = CallbackInbox()
    yield inbox
    inbox.close()
