"""The disclosure a user accepts with a withdrawal: the loan's cost with its APR first, the
bank's agreement, the fund-use restrictions and the rational-borrowing prompt."""

from __future__ import annotations

from decimal import Decimal

from providers import RepaymentType

#: Bumped whenever the template below changes, so each accepted text can be traced.
TEMPLATE_REVISION = "d2"

FUND_USE = (
    "【资金用途】预借现金仅限个人日常消费，不得用于购房、证券、期货、基金及理财产品、"
    "股本权益性投资，不得用于偿还其他贷款或信用卡欠款。"
)
RATIONAL_BORROWING = (
    "【理性借贷】预借现金无免息期，费用较高。请根据自身还款能力理性借贷、按时还款，"
    "逾期将产生额外费用并影响个人征信。"
)
PLATFORM = "【平台说明】额度与费率由银行决定，本平台不收取任何费用。"


def disclosure_version(agreement_version: str) -> str:
    """The bank's agreement version and our template's revision: what the user accepted."""
    return f"{agreement_version}+{TEMPLATE_REVISION}"


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
) -> str:
    if repayment_type is RepaymentType.SINGLE_MONTH:
        how = "单月还（到期一次还清）"
        cost = f"利息合计 {total_interest:.2f} 元，手续费合计 {total_fee:.2f} 元"
    else:
        # The 2022 credit-card notice: an installment's cost of funds is shown as interest.
        how = f"分{periods}期还"
        cost = f"利息合计 {total_interest + total_fee:.2f} 元（分期资金使用成本均以利息形式展示）"
    return "\n".join(
        [
            f"【年化利率】{apr}%（按实际到账金额与各期实际还款日的现金流计算的单利年化利率，"
            "含全部利息及费用）",
            f"【借款概要】{bank_name}信用卡预借现金 {amount:.2f} 元，{how}；"
            f"{cost}，应还总额 {total_repayment:.2f} 元。",
            f"【银行协议摘要】{agreement_summary}",
            FUND_USE,
            RATIONAL_BORROWING,
            PLATFORM,
        ]
    )
