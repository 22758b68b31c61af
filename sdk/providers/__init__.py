"""cardcash bank provider SDK.

A bank plugin is a Python package that imports only this SDK. It exposes, through the
``cardcash.banks`` entry-point group, a factory that takes a :class:`ProviderContext` and
returns a :class:`BankProvider`. Example ``pyproject.toml`` of a plugin::

    [project.entry-points."cardcash.banks"]
    MYBANK = "mybank_cardcash:create_provider"

Everything a plugin exchanges with cardcash is a frozen dataclass from :mod:`providers.types`;
every failure is a :class:`ProviderError` with a code from the closed set
:class:`ProviderErrorCode`.
"""

from providers.base import BankProvider, ProviderContext, ProviderFactory, simulator
from providers.errors import DeclineReason, ProviderError, ProviderErrorCode
from providers.statement import StatementEntry
from providers.types import (
    SDK_VERSION,
    TERMINAL_STATES,
    BookedTerms,
    CallbackEvent,
    CardInfo,
    CardKind,
    ConfirmWithdrawal,
    Customer,
    Health,
    InstallmentPricing,
    Offer,
    QuoteRequest,
    QuoteResult,
    RepaymentType,
    ScheduledPayment,
    SingleMonthPricing,
    SubmitWithdrawal,
    WithdrawalPurpose,
    WithdrawalResult,
    WithdrawalState,
    terms_digest,
)

__all__ = [
    "SDK_VERSION",
    "TERMINAL_STATES",
    "BankProvider",
    "BookedTerms",
    "CallbackEvent",
    "CardInfo",
    "CardKind",
    "ConfirmWithdrawal",
    "DeclineReason",
    "Customer",
    "Health",
    "InstallmentPricing",
    "Offer",
    "ProviderContext",
    "ProviderError",
    "ProviderErrorCode",
    "ProviderFactory",
    "QuoteRequest",
    "QuoteResult",
    "RepaymentType",
    "ScheduledPayment",
    "SingleMonthPricing",
    "StatementEntry",
    "SubmitWithdrawal",
    "WithdrawalPurpose",
    "WithdrawalResult",
    "WithdrawalState",
    "simulator",
    "terms_digest",
]
