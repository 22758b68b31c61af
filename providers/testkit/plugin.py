"""pytest plugin of the conformance test kit (loaded automatically once cardcash is installed).

It only provides default fixtures and a marker; the tests themselves run only where a test
module subclasses :class:`providers.testkit.ConformanceSuite`. The fixtures a plugin author
may override (in their ``conftest.py`` or on their test class):

``bank_provider`` (required)
    A fresh :class:`~providers.BankProvider` for one test, closed afterwards. Make it fast
    (no simulated latency) and point it at a test environment of the bank.
``bank_customer``
    A customer who holds a credit card with some cash-advance limit left and a debit card of
    their own. Default: a new WeChat customer per test (right for banks that accept any).
``other_bank_customer``
    Another customer, whose debit card is not ``bank_customer``'s. Default: a new one.
``bank_verification_code``
    A verification code the bank accepts in its test environment. Default ``"123456"``.
``bank_call_timeout``
    Seconds every call must complete in. Default 5.0 (the guard's read timeout).
``bank_settlement_timeout``
    Seconds a confirmed withdrawal may take to reach a final state. Default 10.0.
``bank_signed_callback``
    ``(headers, body)`` of a correctly signed callback, or None to test only refusals.
"""

from __future__ import annotations

import uuid

import pytest

from providers.base import BankProvider
from providers.types import Customer

DEFAULT_CALL_TIMEOUT = 5.0
DEFAULT_SETTLEMENT_TIMEOUT = 10.0


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
def bank_customer() -> Customer:
    """A customer with a credit card and an own debit card (a new one per test)."""
    return Customer("WECHAT", f"conformance-{uuid.uuid4().hex}")


@pytest.fixture
def other_bank_customer() -> Customer:
    """A second customer, distinct from ``bank_customer``."""
    return Customer("WECHAT", f"conformance-other-{uuid.uuid4().hex}")


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
