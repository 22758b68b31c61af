"""The interface one bank implements."""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from providers.pricing import standard_schedule
from providers.statement import StatementEntry
from providers.types import (
    SDK_VERSION,
    CallbackEvent,
    CardInfo,
    ConfirmWithdrawal,
    Customer,
    Health,
    Offer,
    QuoteRequest,
    QuoteResult,
    RepaymentType,
    ScheduledPayment,
    SubmitWithdrawal,
    WithdrawalResult,
)


@dataclass(frozen=True)
class ProviderContext:
    """What cardcash hands a provider when it creates it.

    ``data_dir`` is a directory the provider may keep files in; ``options`` are the
    operator's settings for this bank (strings, from cardcash's configuration).
    """

    bank_code: str
    """The code this plugin is registered under (its entry point's name)."""
    data_dir: Path
    """A directory of the plugin's own for files it keeps (created, owner-only)."""
    options: Mapping[str, str] = field(default_factory=dict)
    """The operator's settings for this bank, as strings (``callback_url``, secrets, the guard's
    options)."""
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("cardcash.providers"))
    """The logger to write to (cardcash masks card numbers in what it logs)."""


class BankProvider(abc.ABC):
    """One bank's cash-advance service, as cardcash calls it.

    Every method is a coroutine and may raise only :class:`~providers.ProviderError`; anything
    else is treated as the bank being unavailable. cardcash wraps every call in a guard with a
    timeout, a concurrency cap and a circuit breaker, so a method need not protect itself
    against being slow — but it must be safe to call concurrently.

    Example::

        class MyBank(BankProvider):
            code = "MYBANK"
            name = "My Bank"
            version = "1.2.0"
            sdk_version = "1.0"
            ...

        def create_provider(context: ProviderContext) -> BankProvider:
            return MyBank(context)
    """

    #: The bank's code, as in the catalog (``"CEB"``).
    code: str
    #: The bank's display name.
    name: str
    #: The plugin's own version.
    version: str = "0"
    #: The SDK version the plugin was written for.
    sdk_version: str = SDK_VERSION
    #: The SDK versions the plugin is known to work with, as a PEP 440 range
    #: (``">=1.1,<1.4"``); empty: any cardcash that can load ``sdk_version``. cardcash refuses,
    #: with the range in the reason, a plugin whose range leaves out its own SDK version.
    sdk_supported: str = ""
    #: True when the bank asks, with each withdrawal, for the holder's authorisation to query
    #: their personal credit report (征信查询授权, SDK 1.2). cardcash then makes it part of
    #: the data-sharing consent, names it there, sends ``SubmitWithdrawal.
    #: credit_report_authorized``, and refuses a withdrawal without it before asking the bank.
    asks_credit_report: bool = False
    #: True for a simulator that moves no money (see :func:`simulator`): cardcash serves it
    #: in production only when told to, and an installed real plugin of its code replaces it.
    simulated: bool = False

    @abc.abstractmethod
    async def list_cards(self, customer: Customer) -> list[CardInfo]:
        """The customer's credit cards at this bank and the debit cards bound for payouts."""

    @abc.abstractmethod
    async def verify_same_holder(
        self, customer: Customer, credit_card_ref: str, debit_card_ref: str
    ) -> bool:
        """True when the debit card belongs to the holder of the credit card."""

    @abc.abstractmethod
    async def get_offer(self, customer: Customer, card_ref: str) -> Offer:
        """The cash-advance offer on one credit card now: limits and pricing."""

    @abc.abstractmethod
    async def quote(self, request: QuoteRequest) -> QuoteResult:
        """The repayment schedule for an amount, repayment type and tenor."""

    @abc.abstractmethod
    async def submit_withdrawal(self, request: SubmitWithdrawal) -> WithdrawalResult:
        """Start a withdrawal. Idempotent on ``request.request_id``."""

    @abc.abstractmethod
    async def confirm_withdrawal(self, request: ConfirmWithdrawal) -> WithdrawalResult:
        """Pass the holder's verification code for a withdrawal awaiting it."""

    @abc.abstractmethod
    async def cancel_withdrawal(self, request_id: str) -> WithdrawalResult:
        """Cancel a withdrawal that still awaits verification."""

    @abc.abstractmethod
    async def query_withdrawal(self, request_id: str) -> WithdrawalResult:
        """The bank's current view of a withdrawal (used by status sync).

        Raises ``ProviderError(UNKNOWN_WITHDRAWAL)`` when the bank never received it.
        """

    #: The most request ids one :meth:`query_withdrawals` call may carry.
    batch_query_limit: int = 100

    async def query_withdrawals(self, request_ids: Sequence[str]) -> Mapping[str, WithdrawalResult]:
        """Optional: the bank's current view of many withdrawals in one call (status sync).

        Answers by request id. A request id missing from the answer is one the bank never
        received (what :meth:`query_withdrawal` says with ``UNKNOWN_WITHDRAWAL``); every
        answer must be what :meth:`query_withdrawal` would say about that id. At most
        :attr:`batch_query_limit` ids are asked at once, each once. A failure of the call
        (``TIMEOUT``, ``UNAVAILABLE``...) leaves every one of them unknown.

        A provider that does not override it is asked one withdrawal at a time; overriding it
        is how a plugin says its bank has a batch query. Example::

            async def query_withdrawals(self, request_ids):
                answer = await self._client.post("/withdrawals:query", json=list(request_ids))
                return {item["id"]: self._result(item) for item in answer.json()["found"]}
        """
        raise NotImplementedError

    @property
    def has_batch_query(self) -> bool:
        """True when the plugin overrides :meth:`query_withdrawals`."""
        return type(self).query_withdrawals is not BankProvider.query_withdrawals

    @abc.abstractmethod
    def verify_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """Check a callback's signature and parse it.

        Raises ``ProviderError(INVALID_SIGNATURE)`` when the signature does not verify.
        """

    def price_schedule(
        self,
        offer: Offer,
        amount: Decimal,
        repayment_type: RepaymentType,
        periods: int,
        start_date: date,
    ) -> tuple[ScheduledPayment, ...]:
        """The schedule :meth:`quote` would give for ``amount`` under ``offer``, without a call.

        cardcash prices every repayment option of an offer with it, over the amounts the
        holder may take, to show the lowest and the highest annualized rate before any quote.
        It must be pure and quick (no I/O) and agree with :meth:`quote` to the cent; the
        conformance suite checks that it does. The default is
        :func:`providers.pricing.standard_schedule` with the offer's pricing: a bank that
        prices otherwise overrides it.
        """
        installment = next((p for p in offer.installments if p.periods == periods), None)
        return standard_schedule(
            amount,
            repayment_type,
            periods,
            start_date,
            single_month=offer.single_month,
            installment=installment,
        )

    async def health(self) -> Health:
        """Whether the bank answers. The default says it does."""
        return Health(ok=True)

    async def list_withdrawals(self, day: date) -> list[StatementEntry]:
        """Optional: the day's withdrawals as the bank recorded them (its business day in
        Asia/Shanghai), for ``cardcash reconcile``. Not overriding it is fine: the bank is
        then reported as not reconciled. See :mod:`providers.statement`."""
        raise NotImplementedError

    async def aclose(self) -> None:  # noqa: B027 - optional hook: most plugins hold nothing
        """Release connections and files. Called once when cardcash shuts down."""


#: What the ``cardcash.banks`` entry point names: a provider class or a factory function.
ProviderFactory = Callable[[ProviderContext], BankProvider]


F = TypeVar("F", bound=Callable[..., Any])


def simulator(factory: F) -> F:
    """Mark a plugin's factory (or provider class) as a simulated bank.

    cardcash sees the mark before it creates the provider: in production a simulator is not
    even created unless ``CARDCASH_SIMULATED_BANKS=true``, and a real plugin registered under
    the same bank code is loaded instead of it.
    """
    factory.simulated = True  # type: ignore[attr-defined]
    return factory
