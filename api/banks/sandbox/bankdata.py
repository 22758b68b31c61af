"""The data file of one simulated bank, and the operator options that override it.

Each sandbox bank is described by ``banks/<CODE>.toml``: its limits, pricing, behaviour and
agreement. Money and rates are written as strings (``"0.0005"``) and read as
:class:`~decimal.Decimal`; a float in the file is refused, because ``0.1`` in binary is not
0.1 and a price must be exact.
"""

from __future__ import annotations

import random
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from typing import Any

from providers.types import InstallmentPricing, SingleMonthPricing


@dataclass(frozen=True)
class BankData:
    """Everything that makes one sandbox bank different from another.

    ``cash_advance_share`` is the part of a customer's credit line that may be drawn in cash
    (30–50 % in practice). ``latency_ms`` is the (low, high) range a call sleeps;
    ``failure_rate`` the chance a withdrawal fails at settlement; ``settlement_delay_s`` how
    long a processing withdrawal takes to arrive.
    """

    code: str
    name: str
    currency: str
    credit_limit_min: Decimal
    credit_limit_max: Decimal
    cash_advance_share: Decimal
    min_amount: Decimal
    max_amount: Decimal
    daily_cap: Decimal
    single_month: SingleMonthPricing
    installments: tuple[InstallmentPricing, ...]
    latency_ms: tuple[int, int]
    failure_rate: Decimal
    settlement_delay_s: float
    verification_required: bool
    arrival_description: str
    card_product: str
    agreement_version: str
    agreement_summary: str
    credit_report: bool = False
    """The bank asks for the credit-report authorisation with each withdrawal."""

    def installment(self, periods: int) -> InstallmentPricing | None:
        """The pricing of an installment tenor, or None when the bank does not offer it."""
        return next((p for p in self.installments if p.periods == periods), None)


@dataclass(frozen=True)
class SandboxOptions:
    """Operator options of a sandbox bank beyond its data file (all optional).

    ``seed`` makes failures and latency reproducible; ``down`` simulates an outage (every call
    raises ``UNAVAILABLE`` and health is not ok); ``callback_url`` turns on signed callbacks
    (``{bank}`` in it is replaced by the bank code); ``batch_query=false`` simulates a bank
    without a batch status query (status sync then asks one withdrawal at a time).

    The ``statement_*`` options make the day's statement (``list_withdrawals``) differ from
    the bank's own records, to exercise reconciliation: ``statement_missing`` leaves out that
    many withdrawals, ``statement_extra`` adds that many the bank never had from cardcash,
    ``statement_amount_off`` reports that many with one cent more, ``statement_state_off``
    that many in another state. Each picks its own withdrawals, in request id order.
    """

    seed: str = ""
    down: bool = False
    callback_url: str = ""
    callback_secret: str = ""
    callback_poll_s: float = 1.0
    batch_query: bool = True
    statement_missing: int = 0
    statement_extra: int = 0
    statement_amount_off: int = 0
    statement_state_off: int = 0


#: Option names understood by a sandbox bank (other options, such as the guard's, are ignored).
OPTION_NAMES = (
    "latency_ms", "failure_rate", "settlement_delay_s", "verification_required",
    "seed", "down", "callback_url", "callback_secret", "callback_poll_s",
    "batch_query",
    "statement_missing", "statement_extra", "statement_amount_off", "statement_state_off",
)


def load_bank_data(code: str) -> BankData:
    """Read ``banks/<code>.toml`` shipped with this package.

    Example::

        >>> load_bank_data("CEB").single_month.daily_interest_rate
        Decimal('0.0005')
    """
    resource = files("api.banks.sandbox.banks").joinpath(f"{code}.toml")
    if not resource.is_file():
        raise ValueError(f"no sandbox data file for bank {code}")
    data = parse_bank_data(tomllib.loads(resource.read_text(encoding="utf-8")))
    if data.code != code:
        raise ValueError(f"sandbox data file {code}.toml describes bank {data.code}")
    return data


def parse_bank_data(raw: Mapping[str, Any]) -> BankData:
    """Build :class:`BankData` from a parsed TOML document, refusing inexact money."""
    fee_rates = raw["installment_fee_rates"]
    bounds = {
        name: _decimal(raw[f"installment_{name}"], f"installment_{name}")
        for name in ("min_amount", "max_amount")
        if f"installment_{name}" in raw
    }
    installments = tuple(
        InstallmentPricing(
            int(periods), _decimal(rate, f"installment_fee_rates.{periods}"), **bounds
        )
        for periods, rate in sorted(fee_rates.items(), key=lambda item: int(item[0]))
    )
    term_days = raw.get("single_month_days")
    if term_days is not None and (type(term_days) is not int or not 1 <= term_days <= 366):
        raise ValueError(f"single_month_days={term_days!r} is not a number of days")
    low, high = raw["latency_ms"]
    data = BankData(
        code=str(raw["code"]),
        name=str(raw["name"]),
        currency=str(raw.get("currency", "CNY")),
        credit_limit_min=_decimal(raw["credit_limit_min"], "credit_limit_min"),
        credit_limit_max=_decimal(raw["credit_limit_max"], "credit_limit_max"),
        cash_advance_share=_decimal(raw["cash_advance_share"], "cash_advance_share"),
        min_amount=_decimal(raw["min_amount"], "min_amount"),
        max_amount=_decimal(raw["max_amount"], "max_amount"),
        daily_cap=_decimal(raw["daily_cap"], "daily_cap"),
        single_month=SingleMonthPricing(
            daily_interest_rate=_decimal(raw["daily_interest_rate"], "daily_interest_rate"),
            fee_rate=_decimal(raw["fee_rate"], "fee_rate"),
            min_fee=_decimal(raw["min_fee"], "min_fee"),
            term_days=term_days,
        ),
        installments=installments,
        latency_ms=(int(low), int(high)),
        failure_rate=_decimal(raw["failure_rate"], "failure_rate"),
        settlement_delay_s=float(raw["settlement_delay_s"]),
        verification_required=bool(raw["verification_required"]),
        arrival_description=str(raw["arrival_description"]),
        card_product=str(raw["card_product"]),
        agreement_version=str(raw["agreement"]["version"]),
        agreement_summary=str(raw["agreement"]["summary"]).strip(),
        credit_report=bool(raw.get("credit_report", False)),
    )
    _validate(data)
    return data


def apply_options(data: BankData, options: Mapping[str, str]) -> tuple[BankData, SandboxOptions]:
    """The bank's data with the operator's overrides, and its other sandbox options.

    Example::

        data, extra = apply_options(load_bank_data("CEB"), {"latency_ms": "20-80", "seed": "7"})
    """
    changes: dict[str, Any] = {}
    if "latency_ms" in options:
        changes["latency_ms"] = parse_latency(options["latency_ms"])
    if "failure_rate" in options:
        changes["failure_rate"] = _decimal(options["failure_rate"], "failure_rate")
    if "settlement_delay_s" in options:
        changes["settlement_delay_s"] = _number(options["settlement_delay_s"], "settlement_delay_s")
    if "verification_required" in options:
        changes["verification_required"] = parse_bool(
            options["verification_required"], "verification_required"
        )
    if "credit_report" in options:
        changes["credit_report"] = parse_bool(options["credit_report"], "credit_report")
    data = replace(data, **changes)
    _validate(data)
    extra = SandboxOptions(
        seed=options.get("seed", ""),
        down=parse_bool(options.get("down", "false"), "down"),
        callback_url=options.get("callback_url", ""),
        callback_secret=options.get("callback_secret", ""),
        callback_poll_s=_number(options.get("callback_poll_s", "1.0"), "callback_poll_s"),
        batch_query=parse_bool(options.get("batch_query", "true"), "batch_query"),
        **{
            name: _count(options.get(name, "0"), name)
            for name in (
                "statement_missing", "statement_extra", "statement_amount_off",
                "statement_state_off",
            )
        },
    )
    return data, extra


def parse_latency(value: str) -> tuple[int, int]:
    """``"0"`` → (0, 0); ``"50"`` → (50, 50); ``"20-80"`` → (20, 80)."""
    low, _, high = value.partition("-")
    try:
        bounds = (int(low), int(high or low))
    except ValueError:
        raise ValueError(f"option latency_ms={value!r} is not N or LOW-HIGH") from None
    if bounds[0] < 0 or bounds[0] > bounds[1]:
        raise ValueError(f"option latency_ms={value!r} is not a valid range")
    return bounds


def parse_bool(value: str, name: str) -> bool:
    """``"true"``/``"false"`` (also 1/0, yes/no, on/off), case-insensitive."""
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off", ""):
        return False
    raise ValueError(f"option {name}={value!r} is not true or false")


def sleep_seconds(data: BankData, rng: random.Random) -> float:
    """A latency drawn from the bank's range, in seconds."""
    low, high = data.latency_ms
    return (low if low == high else rng.uniform(low, high)) / 1000


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, float):
        raise ValueError(f"{name} must be written as a string, not the float {value!r}")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name}={value!r} is not a decimal number") from None
    if not result.is_finite():
        raise ValueError(f"{name} must be finite")
    return result


def _count(value: str, name: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"option {name}={value!r} is not a whole number") from None
    if number < 0:
        raise ValueError(f"option {name} must not be negative")
    return number


def _number(value: str, name: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"option {name}={value!r} is not a number") from None
    if number < 0:
        raise ValueError(f"option {name} must not be negative")
    return number


def _validate(data: BankData) -> None:
    problems = []
    if not Decimal("0.30") <= data.cash_advance_share <= Decimal("0.50"):
        problems.append("cash_advance_share must be within 0.30-0.50")
    if not 0 < data.credit_limit_min <= data.credit_limit_max:
        problems.append("credit limits must satisfy 0 < min <= max")
    if not 0 < data.min_amount <= data.max_amount:
        problems.append("amounts must satisfy 0 < min_amount <= max_amount")
    if data.daily_cap < data.min_amount:
        problems.append("daily_cap is below min_amount")
    if not 0 <= data.failure_rate <= 1:
        problems.append("failure_rate must be within 0-1")
    if any(p.periods < 2 for p in data.installments):
        problems.append("installment tenors have at least two periods")
    if problems:
        raise ValueError(f"sandbox bank {data.code}: " + "; ".join(problems))
