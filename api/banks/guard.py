"""The guard cardcash puts around every bank provider.

:class:`GuardedProvider` has the methods of a :class:`~providers.BankProvider` and adds, per
call: a timeout, a cap on concurrent calls to the bank, a circuit breaker, the mapping of every
failure to a :class:`~providers.ProviderError`, and the contract checks of
:mod:`providers.integrity` (including the amount/currency integrity check of withdrawals).
The service only ever talks to banks through it.

Outcomes, as the service sees them:

* ``TIMEOUT``: the call was sent and no answer came in time. For a withdrawal the outcome is
  **unknown**: ask again with :meth:`GuardedProvider.query_withdrawal`.
* ``UNAVAILABLE``: the bank raised something unexpected, reported itself down, or the guard did
  not send the call at all (breaker open, or too many calls already in flight).
* ``INVALID_RESPONSE``: the bank answered something that breaks the contract.
* any other code: the bank's own business answer, passed through unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from api.banks.breaker import BreakerState, CircuitBreaker
from providers.base import BankProvider
from providers.errors import ProviderError, ProviderErrorCode
from providers.integrity import (
    ContractViolation,
    check_bool,
    check_callback_event,
    check_cards,
    check_health,
    check_offer,
    check_quote,
    check_schedule,
    check_statement,
    check_withdrawal,
    checked_error,
)
from providers.scrub import scrub_card_numbers
from providers.statement import StatementEntry
from providers.types import (
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

T = TypeVar("T")

#: ``on_call(bank_code, method, outcome, seconds)``: outcome is ``"ok"`` or an error code.
CallObserver = Callable[[str, str, str, float], None]
#: ``on_breaker_change(bank_code, state)`` with state ``"closed"``, ``"open"`` or ``"half_open"``.
BreakerObserver = Callable[[str, str], None]

#: Error codes that say the bank is not working (they open the breaker). Every other code is a
#: business answer from a bank that works.
FAILURE_CODES = frozenset(
    {
        ProviderErrorCode.TIMEOUT,
        ProviderErrorCode.UNAVAILABLE,
        ProviderErrorCode.INVALID_RESPONSE,
    }
)


#: Outcomes of a call that mean the bank did not work (the breaker's own refusals included).
_FAILURE_OUTCOMES = frozenset(
    {code.value for code in FAILURE_CODES} | {"breaker_open", "saturated"}
)


def counts_as_failure(error: ProviderError) -> bool:
    """True when ``error`` says the bank is not working, rather than a business refusal."""
    return error.code in FAILURE_CODES


#: The option (from a bank's options) that sets each :class:`GuardSettings` field.
GUARD_OPTIONS = {
    "read_timeout": "guard_read_timeout_s",
    "write_timeout": "guard_write_timeout_s",
    "max_concurrency": "guard_max_concurrency",
    "failure_threshold": "guard_failure_threshold",
    "cool_down": "guard_cool_down_s",
}


@dataclass(frozen=True)
class GuardSettings:
    """Timeouts, concurrency cap and breaker thresholds for one bank.

    Reads (cards, offer, quote, status query, health) default to 5 s: a user is waiting.
    Money-moving calls (submit, confirm, cancel) default to 15 s: a bank often takes longer to
    accept a payout, and a timeout there leaves the outcome unknown until status sync, so it
    should be rarer. Set per bank through the options ``guard_read_timeout_s``,
    ``guard_write_timeout_s``, ``guard_max_concurrency``, ``guard_failure_threshold`` and
    ``guard_cool_down_s`` (see :meth:`from_options`).

    Example::

        GuardSettings.from_options({"guard_read_timeout_s": "2.5", "guard_max_concurrency": "8"})
    """

    read_timeout: float = 5.0
    write_timeout: float = 15.0
    max_concurrency: int = 20
    failure_threshold: int = 5
    cool_down: float = 30.0

    def __post_init__(self) -> None:
        if self.read_timeout <= 0 or self.write_timeout <= 0:
            raise ValueError("guard timeouts must be positive")
        if self.max_concurrency < 1 or self.failure_threshold < 1:
            raise ValueError("guard_max_concurrency and guard_failure_threshold must be >= 1")
        if self.cool_down < 0:
            raise ValueError("guard_cool_down_s must not be negative")

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> GuardSettings:
        """Settings from a bank's options; absent keys keep their defaults.

        Raises ``ValueError`` naming the option when a value is not a valid number.
        """
        values: dict[str, Any] = {}
        for field_ in fields(cls):
            option = GUARD_OPTIONS[field_.name]
            if option not in options:
                continue
            convert = int if field_.type in ("int", int) else float
            try:
                values[field_.name] = convert(options[option])
            except ValueError:
                raise ValueError(f"option {option}={options[option]!r} is not a number") from None
        return cls(**values)


#: How many of a bank's latest calls :meth:`GuardedProvider.stats` summarises.
RECENT_CALLS = 500


@dataclass(frozen=True)
class GuardStats:
    """What the guard knows of one bank in this process, for operators.

    ``recent_*`` figures cover the latest :data:`RECENT_CALLS` calls (health checks and
    callbacks aside); latencies are in seconds, None before the first call. ``error_rate`` is
    the share of those calls that failed as the breaker counts failure (timeouts, outages,
    broken answers); business refusals such as DECLINED are not errors of the bank.
    """

    bank_code: str
    breaker_state: str
    consecutive_failures: int
    in_flight: int
    calls: int
    outcomes: dict[str, int]
    recent_calls: int
    error_rate: float
    latency_p50: float | None
    latency_p95: float | None
    latency_max: float | None


class GuardedProvider:
    """A bank provider behind timeouts, a concurrency cap, a circuit breaker and checks.

    Same methods as :class:`~providers.BankProvider`, except that ``confirm_withdrawal``,
    ``cancel_withdrawal`` and ``query_withdrawal`` take the amount and currency cardcash
    expects, so that the bank's answer can be checked against them. Every method raises only
    :class:`~providers.ProviderError`.

    Example::

        guarded = GuardedProvider(provider, GuardSettings(read_timeout=3.0))
        result = await guarded.query_withdrawal(
            "w-1", expected_amount=Decimal("500.00"), expected_currency="CNY"
        )
    """

    def __init__(
        self,
        provider: BankProvider,
        settings: GuardSettings | None = None,
        *,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_call: CallObserver | None = None,
        on_breaker_change: BreakerObserver | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings or GuardSettings()
        self.code: str = provider.code
        self.name: str = provider.name
        self.version: str = provider.version
        self.sdk_version: str = provider.sdk_version
        #: The bank asks for the credit-report authorisation with each withdrawal.
        self.asks_credit_report: bool = bool(getattr(provider, "asks_credit_report", False))
        self._log = logger or logging.getLogger(f"cardcash.providers.{self.code}")
        self._clock = clock
        self._on_call = on_call
        self._on_breaker_change = on_breaker_change
        self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        self._breaker = CircuitBreaker(
            failure_threshold=self.settings.failure_threshold,
            cool_down=self.settings.cool_down,
            clock=clock,
            on_change=self._breaker_changed,
        )
        #: Calls by outcome (``"ok"`` or an error code), for metrics and ``cardcash plugins``.
        self.outcomes: Counter[str] = Counter()
        self._in_flight = 0
        self._recent: deque[tuple[bool, float]] = deque(maxlen=RECENT_CALLS)

    def stats(self) -> GuardStats:
        """The breaker, calls in flight, outcomes, and error rate and latency of recent calls."""
        recent = list(self._recent)
        latencies = sorted(seconds for _, seconds in recent)

        def quantile(q: float) -> float | None:
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None

        return GuardStats(
            bank_code=self.code,
            breaker_state=self.breaker_state,
            consecutive_failures=self._breaker.consecutive_failures,
            in_flight=self._in_flight,
            calls=sum(self.outcomes.values()),
            outcomes=dict(self.outcomes),
            recent_calls=len(recent),
            error_rate=sum(failed for failed, _ in recent) / len(recent) if recent else 0.0,
            latency_p50=quantile(0.5),
            latency_p95=quantile(0.95),
            latency_max=latencies[-1] if latencies else None,
        )

    @property
    def breaker_state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``."""
        return self._breaker.state.value

    @property
    def in_flight(self) -> int:
        """Calls to the bank currently running."""
        return self._in_flight

    async def list_cards(self, customer: Customer) -> list[CardInfo]:
        """The customer's cards at this bank (see :meth:`BankProvider.list_cards`)."""
        return await self._call(
            "list_cards", self.settings.read_timeout,
            lambda: self.provider.list_cards(customer), check_cards,
        )

    async def verify_same_holder(
        self, customer: Customer, credit_card_ref: str, debit_card_ref: str
    ) -> bool:
        """Whether the debit card belongs to the holder of the credit card."""
        return await self._call(
            "verify_same_holder", self.settings.read_timeout,
            lambda: self.provider.verify_same_holder(customer, credit_card_ref, debit_card_ref),
            lambda value: check_bool(value, "verify_same_holder result"),
        )

    async def get_offer(self, customer: Customer, card_ref: str) -> Offer:
        """The cash-advance offer on one credit card; the answer must be for ``card_ref``."""
        return await self._call(
            "get_offer", self.settings.read_timeout,
            lambda: self.provider.get_offer(customer, card_ref),
            lambda offer: check_offer(offer, card_ref),
        )

    async def quote(self, request: QuoteRequest) -> QuoteResult:
        """The repayment schedule; must answer the request's amount, currency and tenor."""
        return await self._call(
            "quote", self.settings.read_timeout,
            lambda: self.provider.quote(request),
            lambda result: check_quote(result, request),
        )

    def price_schedule(
        self,
        offer: Offer,
        amount: Decimal,
        repayment_type: RepaymentType,
        periods: int,
        start_date: date,
    ) -> tuple[ScheduledPayment, ...]:
        """The bank's own schedule for ``amount`` under ``offer`` (no call to the bank).

        Synchronous and local, so neither timeout nor breaker apply; anything but a
        well-formed schedule is an ``INVALID_RESPONSE``.
        """
        try:
            return check_schedule(
                self.provider.price_schedule(offer, amount, repayment_type, periods, start_date),
                amount,
                periods,
            )
        except ProviderError as error:
            raise self._checked("price_schedule", error) from None
        except Exception as error:  # noqa: BLE001 - a plugin bug must not become a 500
            self._log_unexpected("price_schedule", error)
            raise ProviderError(
                ProviderErrorCode.INVALID_RESPONSE, "the bank's pricing could not be applied"
            ) from None

    async def submit_withdrawal(self, request: SubmitWithdrawal) -> WithdrawalResult:
        """Start a withdrawal (idempotent on ``request.request_id``).

        A ``TIMEOUT`` leaves the outcome unknown: query it, or submit again with the same
        request id (the bank must answer with the same withdrawal).
        """
        return await self._call(
            "submit_withdrawal", self.settings.write_timeout,
            lambda: self.provider.submit_withdrawal(request),
            lambda result: check_withdrawal(
                result, request_id=request.request_id,
                amount=request.amount, currency=request.currency,
            ),
        )

    async def confirm_withdrawal(
        self, request: ConfirmWithdrawal, *, expected_amount: Decimal, expected_currency: str
    ) -> WithdrawalResult:
        """Pass the holder's verification code; the answer must match the expected amount."""
        return await self._call(
            "confirm_withdrawal", self.settings.write_timeout,
            lambda: self.provider.confirm_withdrawal(request),
            lambda result: check_withdrawal(
                result, request_id=request.request_id,
                amount=expected_amount, currency=expected_currency,
            ),
        )

    async def cancel_withdrawal(
        self, request_id: str, *, expected_amount: Decimal, expected_currency: str
    ) -> WithdrawalResult:
        """Cancel a withdrawal awaiting verification; the answer must match the expected amount."""
        return await self._call(
            "cancel_withdrawal", self.settings.write_timeout,
            lambda: self.provider.cancel_withdrawal(request_id),
            lambda result: check_withdrawal(
                result, request_id=request_id,
                amount=expected_amount, currency=expected_currency,
            ),
        )

    async def query_withdrawal(
        self, request_id: str, *, expected_amount: Decimal, expected_currency: str
    ) -> WithdrawalResult:
        """The bank's view of a withdrawal (status sync); must match the expected amount."""
        return await self._call(
            "query_withdrawal", self.settings.read_timeout,
            lambda: self.provider.query_withdrawal(request_id),
            lambda result: check_withdrawal(
                result, request_id=request_id,
                amount=expected_amount, currency=expected_currency,
            ),
        )

    @property
    def has_batch_query(self) -> bool:
        """Whether the bank answers :meth:`query_withdrawals` (a plugin's optional method)."""
        try:
            return bool(self.provider.has_batch_query)
        except Exception:  # noqa: BLE001 - a broken flag means no batch, not a broken bank
            return False

    @property
    def batch_query_limit(self) -> int:
        """The most withdrawals one :meth:`query_withdrawals` call may ask about."""
        limit = getattr(self.provider, "batch_query_limit", 1)
        return limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else 1

    async def query_withdrawals(
        self, expected: Mapping[str, tuple[Decimal, str]]
    ) -> dict[str, WithdrawalResult | ProviderError]:
        """Many withdrawals' state in one call, for a bank with :attr:`has_batch_query`.

        ``expected`` maps each request id to the amount and currency cardcash expects. The
        answer maps every one of them to the bank's checked result or to the error a
        :meth:`query_withdrawal` of it would have raised: ``UNKNOWN_WITHDRAWAL`` when the
        bank left it out, ``INVALID_RESPONSE`` when its answer breaks the contract. Raises
        :class:`~providers.ProviderError` when the call as a whole fails (then every one
        of them is unknown). At most :attr:`batch_query_limit` ids per call.

        Example::

            answers = await guarded.query_withdrawals({"w-1": (Decimal("500.00"), "CNY")})
        """
        if len(expected) > self.batch_query_limit:
            raise ValueError(f"at most {self.batch_query_limit} withdrawals per batch query")
        request_ids = tuple(expected)

        def check(answer: Any) -> dict[str, WithdrawalResult | ProviderError]:
            if not isinstance(answer, Mapping):
                raise ContractViolation(
                    f"query_withdrawals must answer a mapping, got {type(answer).__name__}"
                )
            strangers = set(answer) - set(request_ids)
            if strangers:
                raise ContractViolation(
                    f"query_withdrawals answered {len(strangers)} request id(s) not asked about",
                    integrity=True,
                )
            checked: dict[str, WithdrawalResult | ProviderError] = {}
            for request_id, (amount, currency) in expected.items():
                if request_id not in answer:
                    checked[request_id] = ProviderError(
                        ProviderErrorCode.UNKNOWN_WITHDRAWAL, "the bank has no such withdrawal"
                    )
                    continue
                try:
                    checked[request_id] = check_withdrawal(
                        answer[request_id], request_id=request_id, amount=amount,
                        currency=currency,
                    )
                except ContractViolation as violation:
                    checked[request_id] = self._checked("query_withdrawals", violation)
            return checked

        return await self._call(
            "query_withdrawals", self.settings.read_timeout,
            lambda: self.provider.query_withdrawals(request_ids), check,
        )

    def verify_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """Verify and parse a callback (synchronous; not subject to timeout or breaker).

        A callback is the bank calling cardcash, not the other way round, so it says nothing
        about whether calls to the bank work. The service must still compare the event's amount
        with its own record (:func:`providers.integrity.check_withdrawal` does that).
        """
        started = self._clock()
        try:
            event = check_callback_event(self.provider.verify_callback(headers, body))
        except ProviderError as error:
            self._observe("verify_callback", error.code.value, started)
            raise self._checked("verify_callback", error) from None
        except Exception as error:  # noqa: BLE001 - a plugin bug must not become a 500
            self._log_unexpected("verify_callback", error)
            self._observe("verify_callback", ProviderErrorCode.INVALID_RESPONSE.value, started)
            raise ProviderError(
                ProviderErrorCode.INVALID_RESPONSE, "the callback could not be parsed"
            ) from None
        self._observe("verify_callback", "ok", started)
        return event

    @property
    def lists_withdrawals(self) -> bool:
        """Whether the plugin implements the optional ``list_withdrawals`` (reconciliation)."""
        return type(self.provider).list_withdrawals is not BankProvider.list_withdrawals

    async def list_withdrawals(self, day: date) -> list[StatementEntry]:
        """The bank's statement of ``day`` (see :meth:`BankProvider.list_withdrawals`).

        A statement can be long: it has the write timeout, the longest the guard allows.
        """
        return await self._call(
            "list_withdrawals", self.settings.write_timeout,
            lambda: self.provider.list_withdrawals(day), check_statement,
        )

    async def health(self) -> Health:
        """Whether the bank answers. Never raises: a failure is reported as ``ok=False``.

        Health checks bypass the breaker (a readiness probe must not use up the half-open
        probe), but an open breaker is reported as not ok.
        """
        if self._breaker.state is BreakerState.OPEN:
            return Health(ok=False, detail="circuit breaker open")
        try:
            async with asyncio.timeout(self.settings.read_timeout):
                return check_health(await self.provider.health())
        except TimeoutError:
            return Health(ok=False, detail="health check timed out")
        except ProviderError as error:
            return Health(ok=False, detail=checked_error(error).message)
        except Exception as error:  # noqa: BLE001 - health reports, never raises
            self._log_unexpected("health", error)
            return Health(ok=False, detail=f"health check raised {type(error).__name__}")

    async def aclose(self) -> None:
        """Close the provider; a failure to close is logged, not raised."""
        try:
            async with asyncio.timeout(self.settings.write_timeout):
                await self.provider.aclose()
        except Exception as error:  # noqa: BLE001 - shutdown must close every bank
            self._log_unexpected("aclose", error)

    async def _call(
        self,
        method: str,
        seconds: float,
        send: Callable[[], Awaitable[Any]],
        check: Callable[[Any], T],
    ) -> T:
        started = self._clock()
        admission = self._breaker.admit()
        if admission is None:
            self._observe(method, "breaker_open", started)
            raise ProviderError(
                ProviderErrorCode.UNAVAILABLE, "the bank is unavailable (circuit breaker open)"
            )
        try:
            # Waiting for a slot is bounded too; the call was then never sent, so the caller
            # knows for sure nothing happened at the bank. (A free slot is taken at once,
            # without a timer.)
            if self._slots.locked():
                async with asyncio.timeout(seconds):
                    await self._slots.acquire()
            else:
                await self._slots.acquire()
        except TimeoutError:
            self._breaker.release(admission)
            self._observe(method, "saturated", started)
            raise ProviderError(
                ProviderErrorCode.UNAVAILABLE, "too many calls to the bank in flight"
            ) from None
        except BaseException:
            self._breaker.release(admission)
            raise
        self._in_flight += 1
        try:
            try:
                async with asyncio.timeout(seconds):
                    answer = await send()
                result = check(answer)
            except ProviderError as error:
                raise self._checked(method, error) from None
            except TimeoutError:
                raise ProviderError(
                    ProviderErrorCode.TIMEOUT, f"the bank did not answer within {seconds:g} s"
                ) from None
            except Exception as error:  # noqa: BLE001 - the SDK promises only ProviderError
                self._log_unexpected(method, error)
                raise ProviderError(
                    ProviderErrorCode.UNAVAILABLE, "the bank could not be reached"
                ) from None
        except ProviderError as error:
            if counts_as_failure(error):
                self._breaker.record_failure(admission)
            else:
                self._breaker.record_success(admission)
            self._observe(method, error.code.value, started)
            raise
        except BaseException:
            # Cancelled by the caller: says nothing about the bank.
            self._breaker.release(admission)
            raise
        finally:
            self._in_flight -= 1
            self._slots.release()
        self._breaker.record_success(admission)
        self._observe(method, "ok", started)
        return result

    def _checked(self, method: str, error: ProviderError) -> ProviderError:
        """The error to pass on: a contract violation logged, a plugin's own error with its
        message cleaned and bounded (it may quote whatever the bank's API said)."""
        if isinstance(error, ContractViolation):
            level = logging.ERROR if error.integrity else logging.WARNING
            kind = "integrity event" if error.integrity else "contract violation"
            self._log.log(
                level, "%s: bank=%s method=%s: %s", kind, self.code, method,
                scrub_card_numbers(error.message),
            )
            return error
        return checked_error(error)

    def _log_unexpected(self, method: str, error: BaseException) -> None:
        # Format ourselves instead of exc_info=...: the message and traceback may quote
        # whatever the bank sent, card numbers included.
        text = "".join(traceback.format_exception(error))
        self._log.warning(
            "bank=%s method=%s raised %s (mapped to a ProviderError)\n%s",
            self.code, method, type(error).__name__, scrub_card_numbers(text),
        )

    def _observe(self, method: str, outcome: str, started: float) -> None:
        self.outcomes[outcome] += 1
        seconds = self._clock() - started
        if method != "verify_callback":
            failed = outcome in _FAILURE_OUTCOMES
            self._recent.append((failed, seconds))
        if self._on_call is None:
            return
        try:
            self._on_call(self.code, method, outcome, seconds)
        except Exception:  # noqa: BLE001 - metrics must never break a bank call
            self._log.exception("on_call observer failed")

    def _breaker_changed(self, state: BreakerState) -> None:
        level = logging.INFO if state is BreakerState.CLOSED else logging.WARNING
        self._log.log(level, "bank=%s circuit breaker %s", self.code, state.value)
        if self._on_breaker_change is None:
            return
        try:
            self._on_breaker_change(self.code, state.value)
        except Exception:  # noqa: BLE001 - metrics must never break a bank call
            self._log.exception("on_breaker_change observer failed")
