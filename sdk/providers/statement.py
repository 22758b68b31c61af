"""A bank's statement of one day: its withdrawals as it recorded them, for reconciliation.

Optional for a plugin: a bank that can list a day's withdrawals overrides
:meth:`~providers.BankProvider.list_withdrawals`; ``cardcash reconcile`` then compares them
with cardcash's records. A plugin without it keeps working and is reported as not reconciled.

Example::

    class MyBank(BankProvider):
        async def list_withdrawals(self, day: date) -> list[StatementEntry]:
            rows = await self._api.get("/cash-advances", params={"date": day.isoformat()})
            return [
                StatementEntry(
                    request_id=r["merchant_ref"],
                    bank_reference=r["id"],
                    amount=Decimal(r["amount"]),
                    currency="CNY",
                    state=WithdrawalState(r["status"]),
                    created_at=datetime.fromisoformat(r["created"]),
                    updated_at=datetime.fromisoformat(r["updated"]),
                )
                for r in rows
            ]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from providers.types import WithdrawalState


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One withdrawal on the bank's statement of a day.

    The day is the bank's business day in Asia/Shanghai (the day its daily caps count on).
    """

    request_id: str
    """cardcash's request id, as the bank received it with the submission."""
    bank_reference: str
    """The bank's own reference of the withdrawal (as in its ``WithdrawalResult``)."""
    amount: Decimal
    """The amount the bank recorded, with two decimals; compared exactly with cardcash's."""
    currency: str
    """ISO 4217 code of ``amount`` (``"CNY"``)."""
    state: WithdrawalState
    """The state the bank recorded for the withdrawal at the end of the day."""
    created_at: datetime
    """When the bank took the withdrawal in (an aware datetime)."""
    updated_at: datetime
    """When the bank last changed it (an aware datetime)."""
