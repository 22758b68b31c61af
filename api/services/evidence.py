"""The evidence of one withdrawal, for a regulator or a complaint: what the user was shown,
what they accepted and when, what the bank booked, and every status change.

A plain JSON document (money and rates as strings, times in RFC 3339 UTC) that stands on its
own: each digest can be recomputed from the text beside it
(:func:`api.services.disclosure.digest`), and ``matches`` says whether it was.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.services.disclosure import digest
from api.services.quotes import QuoteView
from api.services.withdrawals import EventView, WithdrawalView
from providers import ScheduledPayment, terms_digest
from providers.scrub import scrub_card_numbers

FORMAT = "cardcash-withdrawal-evidence/1"


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _schedule(schedule: tuple[ScheduledPayment, ...]) -> list[dict[str, Any]]:
    return [
        {
            "period": p.period,
            "due_date": p.due_date.isoformat(),
            "principal": str(p.principal),
            "interest": str(p.interest),
            "fee": str(p.fee),
            "total": str(p.total),
        }
        for p in schedule
    ]


def _accepted(version: str | None, recorded: str | None, shown: str, text: str) -> dict:
    return {
        "version": version,
        "digest": recorded,
        # The digest recorded against the text kept: equal unless either was altered.
        "matches": recorded is not None and recorded == digest(shown, text),
    }


def evidence(
    w: WithdrawalView,
    quote: QuoteView,
    *,
    channel: str,
    credit_card: str,
    debit_card: str,
    events: list[EventView],
    exported_at: datetime,
) -> dict[str, Any]:
    """The evidence document of withdrawal ``w``, made from ``quote``."""
    return {
        "format": FORMAT,
        "exported_at": _time(exported_at),
        "withdrawal": {
            "id": w.id,
            "user_id": w.user_id,
            "channel": channel,
            "bank_code": w.bank_code,
            "amount": str(w.amount),
            "currency": w.currency,
            "repayment_type": w.repayment_type.value,
            "periods": w.periods,
            "purpose": w.purpose.value,
            "credit_card": credit_card,
            "debit_card": debit_card,
        },
        "shown": {
            "quote": {
                "id": quote.id,
                "created_at": _time(quote.created_at),
                "expires_at": _time(quote.expires_at),
                "amount": str(quote.amount),
                "currency": quote.currency,
                "repayment_type": quote.repayment_type.value,
                "periods": quote.periods,
                "start_date": quote.start_date.isoformat(),
                "apr": str(quote.apr),
                "apr_method": quote.apr_method,
                "high_cost": quote.high_cost,
                "platform_fee": "0.00",
                "total_principal": str(quote.totals.principal),
                "total_interest": str(quote.totals.interest),
                "total_fee": str(quote.totals.fee),
                "total_repayment": str(quote.totals.repayment),
                "schedule": _schedule(quote.schedule),
                "bank_schedule": _schedule(quote.bank_schedule),
                "agreement_version": quote.agreement_version,
            },
            "disclosure": {
                "version": quote.disclosure_version,
                "text": quote.disclosure_text,
                "digest": quote.disclosure_digest,
            },
            "data_sharing_consent": {
                "version": quote.data_sharing_version,
                "text": quote.data_sharing_text,
                "digest": quote.data_sharing_digest,
                "credit_report_authorization": quote.credit_report,
            },
        },
        "accepted": {
            "disclosure": _accepted(
                w.disclosure_version,
                w.disclosure_digest,
                quote.disclosure_version,
                quote.disclosure_text,
            ),
            "data_sharing_consent": _accepted(
                w.data_sharing_version,
                w.data_sharing_digest,
                quote.data_sharing_version,
                quote.data_sharing_text,
            ),
            "accepted_at_client": _time(w.disclosure_accepted_at),
            "received_at": _time(w.created_at),
        },
        "booked": {
            # The terms the holder accepted, by their digest (providers.terms_digest of the
            # quote's start day and bank_schedule), and the terms the bank said it booked:
            # null when its plugin did not say (an SDK before 1.2).
            "accepted_terms_digest": terms_digest(quote.start_date, quote.bank_schedule),
            "terms_digest": w.booked_terms_digest,
            "terms_match": (
                None
                if w.booked_terms_digest is None
                else w.booked_terms_digest == terms_digest(quote.start_date, quote.bank_schedule)
            ),
            "status": w.status.value,
            "bank_reference": w.bank_reference,
            "expected_arrival": _time(w.expected_arrival),
            "failure_code": w.failure_code,
            "decline_reason": w.decline_reason.value if w.decline_reason else None,
            "failure_reason": scrub_card_numbers(w.failure_reason) if w.failure_reason else None,
        },
        "events": [
            {
                "occurred_at": _time(e.occurred_at),
                "from_status": e.from_status.value if e.from_status else None,
                "to_status": e.to_status.value,
                "source": e.source.value,
                "detail": scrub_card_numbers(e.detail),
            }
            for e in events
        ],
    }
