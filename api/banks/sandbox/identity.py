"""The cards and credit line a sandbox customer has, derived from who they are.

A simulated bank has no customer files: everything about a customer is derived
deterministically from the channel identity, so every process and every restart sees the same
cards and limits. Each customer holds one credit card at each sandbox bank and one debit card
of their own; the debit card's reference depends only on the customer, so **every** sandbox
bank reports the same debit card with the same ``card_ref``, as real banks report a payout card
bound to the holder.

A full card number is never built, not even internally: ``last4`` is derived directly.
References use base32 letters so they can never be mistaken for a card number.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from providers.types import CardInfo, CardKind, Customer

#: Issuers of the customers' own debit cards; one is picked per customer.
DEBIT_ISSUERS = ("ICBC", "CCB", "ABC", "BOC", "CMB")
DEBIT_PRODUCT = "Debit card"


def _digest(*parts: str) -> bytes:
    # Length-prefixed parts: ("ab", "c") and ("a", "bc") must not collide.
    material = "|".join(f"{len(p)}:{p}" for p in ("cardcash-sandbox", *parts))
    return hashlib.sha256(material.encode("utf-8")).digest()


def _ref(prefix: str, digest: bytes) -> str:
    return prefix + base64.b32encode(digest[:15]).decode("ascii").lower()


def _last4(digest: bytes) -> str:
    return f"{int.from_bytes(digest[16:20], 'big') % 10000:04d}"


@dataclass(frozen=True)
class SandboxCustomer:
    """A customer's cards and credit line at one sandbox bank."""

    credit_card: CardInfo
    debit_card: CardInfo
    credit_line: Decimal
    cash_advance_limit: Decimal


def derive_customer(
    bank_code: str,
    customer: Customer,
    *,
    card_product: str,
    credit_limit_min: Decimal,
    credit_limit_max: Decimal,
    cash_advance_share: Decimal,
) -> SandboxCustomer:
    """Derive a customer's cards and limits at ``bank_code``.

    The credit line is a multiple of 1000 within ``[credit_limit_min, credit_limit_max]``;
    the cash-advance limit is ``cash_advance_share`` of it, rounded down to 100.

    Example::

        >>> c = derive_customer("CEB", Customer("WECHAT", "o-1"), card_product="Gold",
        ...     credit_limit_min=Decimal("20000"), credit_limit_max=Decimal("100000"),
        ...     cash_advance_share=Decimal("0.5"))
        >>> c.cash_advance_limit == c.credit_line / 2
        True
    """
    credit = _digest("credit", bank_code, customer.channel, customer.channel_user_id)
    debit = _digest("debit", customer.channel, customer.channel_user_id)
    steps = int((credit_limit_max - credit_limit_min) // 1000)
    credit_line = credit_limit_min + 1000 * (int.from_bytes(credit[20:24], "big") % (steps + 1))
    cash_limit = (credit_line * cash_advance_share / 100).quantize(
        Decimal(1), rounding=ROUND_DOWN
    ) * 100
    return SandboxCustomer(
        credit_card=CardInfo(
            card_ref=_ref("sbx-cc-", credit), kind=CardKind.CREDIT, issuer_code=bank_code,
            last4=_last4(credit), product_name=card_product,
        ),
        debit_card=CardInfo(
            card_ref=_ref("sbx-dc-", debit), kind=CardKind.DEBIT,
            issuer_code=DEBIT_ISSUERS[debit[24] % len(DEBIT_ISSUERS)],
            last4=_last4(debit), product_name=DEBIT_PRODUCT,
        ),
        credit_line=credit_line.quantize(Decimal("0.01")),
        cash_advance_limit=cash_limit.quantize(Decimal("0.01")),
    )


def customer_key(customer: Customer) -> str:
    """An opaque key of the customer, for the sandbox's own records."""
    return hashlib.sha256(
        f"{customer.channel}\x00{customer.channel_user_id}".encode()
    ).hexdigest()
