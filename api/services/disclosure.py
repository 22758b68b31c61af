"""The disclosure a user accepts with a withdrawal: the loan's cost with its APR first, the
bank's agreement, the fund-use restrictions and the rational-borrowing prompt.

Its sentences are the ``disclosure.*`` entries of the message catalogs (:mod:`api.messages`);
the quote keeps the text in the language the user read it in."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from api import messages
from providers import RepaymentType

#: Bumped whenever the template changes, so each accepted text can be traced.
TEMPLATE_REVISION = "d3"


#: Bumped whenever the data-sharing consent's template changes.
DATA_SHARING_REVISION = "ds1"


def disclosure_version(agreement_version: str) -> str:
    """The bank's agreement version and our template's revision: what the user accepted."""
    return f"{agreement_version}+{TEMPLATE_REVISION}"


def digest(version: str, text: str) -> str:
    """The SHA-256 (hex) of ``version``, a line feed and ``text``, in UTF-8: what a client
    proves it showed, and what anyone can recompute from an export."""
    return hashlib.sha256(f"{version}\n{text}".encode()).hexdigest()


#: The suffix of a data-sharing consent's version that includes the credit-report
#: authorisation the bank asks for.
CREDIT_REPORT = "+credit-report"


def data_sharing_version(bank_code: str, *, credit_report: bool = False) -> str:
    """The data-sharing consent's version: the bank it names, the template's revision, and
    whether it includes the authorisation to query the credit report."""
    return f"{bank_code}+{DATA_SHARING_REVISION}" + (CREDIT_REPORT if credit_report else "")


def includes_credit_report(version: str) -> bool:
    """Whether the data-sharing consent of ``version`` authorises the credit-report query."""
    return version.endswith(CREDIT_REPORT)


def data_sharing_text(
    *, bank_name: str, credit_report: bool = False, language: str = messages.DEFAULT_LANGUAGE
) -> str:
    """The consent to give the bank the user's personal information for this withdrawal
    (PIPL arts. 14, 23 and 29: its own consent, naming the recipient, the purpose, the
    information and how to withdraw it), apart from the loan's disclosure. ``credit_report``:
    the bank asks to query the user's credit report, and the consent names that
    authorisation (the Credit Reporting Regulation, art. 18: a personal credit report is
    queried only with the person's written consent, for a stated purpose)."""

    def line(key: str) -> str:
        return messages.text(f"data_sharing.{key}", language, bank=bank_name)

    keys = ["recipient", "information", *(["credit_report"] if credit_report else []),
            "purpose", "rights"]
    return "\n".join(line(key) for key in keys)


def disclosure_text(
    *,
    bank_name: str,
    amount: Decimal,
    repayment_type: RepaymentType,
    periods: int,
    apr: Decimal,
    total_interest: Decimal,
    total_fee: Decimal,
    total_repayment: Decimal,
    agreement_summary: str,
    high_cost_above: Decimal | None = None,
    language: str = messages.DEFAULT_LANGUAGE,
) -> str:
    """The disclosure's text. ``high_cost_above``: the high-cost threshold the APR passes,
    when it does; the warning then follows the APR, before anything else."""

    def line(key: str, **params: object) -> str:
        return messages.text(f"disclosure.{key}", language, **params)

    warning = (
        [line("high_cost", apr=apr, threshold=high_cost_above)]
        if high_cost_above is not None
        else []
    )
    return "\n".join(
        [
            line("apr", apr=apr),
            *warning,
            line(
                f"summary.{repayment_type.value}",
                bank=bank_name,
                amount=amount,
                periods=periods,
                total_interest=total_interest,
                total_fee=total_fee,
                # The 2022 credit-card notice: an installment's cost of funds is shown as
                # interest (the INSTALLMENT summary shows this, not interest and fee apart).
                total_cost=total_interest + total_fee,
                total_repayment=total_repayment,
            ),
            line("agreement", summary=agreement_summary),
            line("fund_use"),
            line("rational_borrowing"),
            line("platform"),
        ]
    )
