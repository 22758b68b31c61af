"""Prometheus metrics of one process, and what the request being served has learnt about itself.

Each app gets its own :class:`Metrics` (its own registry), so two apps in one process (tests)
do not share counters. Label values are bounded: operation names beyond a few hundred distinct
ones are counted as ``other``, so a client sending random names cannot grow the series.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from api.runtime import Services

log = logging.getLogger("cardcash.metrics")

#: Buckets for request and bank-call latency, in seconds (mini-programs time out at 30-60 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BREAKER_STATES = ["closed", "half_open", "open"]
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass
class RequestRecord:
    """What the GraphQL layer learnt about the request, for the request log line."""

    operation: str | None = None
    operation_type: str | None = None
    outcome: str | None = None
    error_codes: list[str] = field(default_factory=list)


#: The record of the request being served; None outside a request.
request_record_var: ContextVar[RequestRecord | None] = ContextVar(
    "cardcash_request_record", default=None
)


def note_error_result(code: str) -> None:
    """A resolver answered with a typed error member (``RATE_LIMITED``, ``BANK_DECLINED``, …)."""
    record = request_record_var.get()
    if record is not None:
        record.error_codes.append(code)


class BoundedLabels:
    """Maps free-form names (operation names) to label values, at most ``limit`` distinct."""

    def __init__(self, limit: int = 200) -> None:
        self._seen: set[str] = set()
        self._limit = limit

    def __call__(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if not _NAME.fullmatch(name):
            return "other"
        if name in self._seen:
            return name
        if len(self._seen) >= self._limit:
            return "other"
        self._seen.add(name)
        return name


class Metrics:
    """The counters, histograms and gauges of one app, and the observers that feed them."""

    def __init__(self, *, db_refresh_seconds: float = 15.0) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "cardcash_http_requests_total",
            "HTTP requests by route, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "cardcash_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.operations = Counter(
            "cardcash_graphql_operations_total",
            "GraphQL operations by name, type and outcome "
            "(ok, error_result, error, rejected, timeout, internal_error).",
            ["operation", "type", "outcome"],
            registry=r,
        )
        self.operation_duration = Histogram(
            "cardcash_graphql_operation_duration_seconds",
            "GraphQL operation latency by name and type.",
            ["operation", "type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.error_results = Counter(
            "cardcash_graphql_error_results_total",
            "Typed error members returned by mutations, by error code.",
            ["code"],
            registry=r,
        )
        self.provider_calls = Counter(
            "cardcash_provider_calls_total",
            "Calls to bank providers by bank, method and outcome (ok or an error code).",
            ["bank", "method", "outcome"],
            registry=r,
        )
        self.provider_duration = Histogram(
            "cardcash_provider_call_duration_seconds",
            "Bank provider call latency by bank and method.",
            ["bank", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.breaker_state = Enum(
            "cardcash_provider_breaker_state",
            "Circuit breaker state per bank.",
            ["bank"],
            states=BREAKER_STATES,
            registry=r,
        )
        self.breaker_changes = Counter(
            "cardcash_provider_breaker_changes_total",
            "Circuit breaker state changes per bank and new state.",
            ["bank", "state"],
            registry=r,
        )
        self.withdrawals = Gauge(
            "cardcash_withdrawals",
            "Withdrawals in the database by status (the same on every replica).",
            ["status"],
            registry=r,
        )
        self.sync_backlog = Gauge(
            "cardcash_status_sync_backlog",
            "Withdrawals whose status query is due now (the same on every replica).",
            registry=r,
        )
        self.operation_label = BoundedLabels()
        # Labelled children by (metric, labels): ``labels()`` takes a lock and builds a key on
        # every call, and these run several times per request. Label values are bounded.
        self._children: dict[tuple, Any] = {}
        self._db_refresh_seconds = db_refresh_seconds
        self._db_refreshed_at: float | None = None
        self._db_lock = asyncio.Lock()

    def _child(self, metric, *labels: str):
        key = (metric, labels)
        if (child := self._children.get(key)) is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_http(self, route: str, method: str, status: int, seconds: float) -> None:
        self._child(self.http_requests, route, method, str(status)).inc()
        self._child(self.http_duration, route).observe(seconds)

    # Observers handed to the provider registry (api.banks.registry.load_providers).
    def on_call(self, bank: str, method: str, outcome: str, seconds: float) -> None:
        self._child(self.provider_calls, bank, method, outcome).inc()
        self._child(self.provider_duration, bank, method).observe(seconds)

    def on_breaker_change(self, bank: str, state: str) -> None:
        if state in BREAKER_STATES:
            self.breaker_state.labels(bank).state(state)
        self.breaker_changes.labels(bank, state).inc()

    def track_banks(self, codes) -> None:
        """Show every loaded bank's breaker as closed until it says otherwise."""
        for code in codes:
            self.breaker_state.labels(code).state("closed")

    def observe_operation(
        self, name: str | None, kind: str, outcome: str, seconds: float, error_codes=()
    ) -> None:
        label = self.operation_label(name)
        self._child(self.operations, label, kind, outcome).inc()
        self._child(self.operation_duration, label, kind).observe(seconds)
        for code in error_codes:
            self._child(self.error_results, code).inc()

    async def refresh(self, services: Services) -> None:
        """Re-read the database-derived gauges, at most once per ``db_refresh_seconds``."""
        async with self._db_lock:
            now = time.monotonic()
            if (
                self._db_refreshed_at is not None
                and now - self._db_refreshed_at < self._db_refresh_seconds
            ):
                return
            try:
                async with asyncio.timeout(5):
                    by_status = await services.withdrawals.count_by_status()
                    backlog = await services.withdrawals.due_count()
            except Exception as exc:  # a slow or absent database must not break the scrape
                log.warning("metrics: database gauges not refreshed: %s", type(exc).__name__)
                return
            for status, count in by_status.items():
                self.withdrawals.labels(status).set(count)
            self.sync_backlog.set(backlog)
            self._db_refreshed_at = now

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
