"""GraphQL over WebSocket (graphql-transport-ws), under the rules GraphQL over HTTP follows.

The socket is for live status: subscriptions, and queries. Every operation on it goes through
what an operation over HTTP goes through, so that a client cannot pick the transport whose
rules suit it:

- the same schema, so the same document limits, validation and error masking; a document
  refused before it runs (a syntax error, an operation that cannot be chosen, a limit, a
  validation error) is an ``error`` message for its id with the code HTTP gives it, and the
  socket goes on serving the connection's other operations;
- the persisted-query rule: ``extensions.persistedQuery`` in the subscribe payload is
  resolved as over HTTP, and with ``CARDCASH_PERSISTED_ONLY`` only the manifest's
  operations run;
- the same time budget for a query (a subscription runs as long as it is wanted);
- one access-log line and one count in the operation metrics per operation, with the same
  fields and outcomes as over HTTP;
- mutations (sign-in and every money-moving one) are refused with ``HTTP_REQUIRED``: a
  mini-program retries a mutation over HTTP with its idempotency key, and the rate limits
  that guard them count HTTP requests;
- a token in ``connection_init`` that is present but malformed, invalid, expired or logged
  out closes the socket with 4403 before any ``connection_ack``; a subscription that outlives
  its token's expiry ends with an UNAUTHENTICATED error;
- a connection whose session is logged out (logout, logoutEverywhere, on any replica) ends
  each of its operations with UNAUTHENTICATED (reason REVOKED) and is closed with 4401
  Unauthorized, which graphql-ws clients do not retry: within twice
  ``CARDCASH_SESSION_CHECK_SECONDS`` (the session is looked at every that many seconds, and
  what was read of it is at most that old).

Each operation gets a context of its own (its own loaders, its own account lookup), as a
request does: nothing read by one operation is served stale to the next.

This subclasses Strawberry's graphql-transport-ws handler and replaces ``handle_subscribe``,
``run_operation`` and ``_send_result_stream``, which are not a public extension point: the
Strawberry minor version is pinned (pyproject.toml), and ``tests/http/test_websocket.py``
checks the methods this relies on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.aio import aclosing

from api.http.graphql import RequestError, timed_out
from api.http.middleware import write_access_line
from api.http.persisted import PersistedQueryError
from api.logging_setup import user_id_var
from api.observability import RequestRecord, request_record_var
from api.schema.auth import unauthenticated
from api.schema.extensions import INTERNAL_ERROR

if TYPE_CHECKING:
    from api.http.graphql import GraphQLApp

log = logging.getLogger("cardcash.ws")

#: ``extensions.code`` of a mutation sent over the socket.
HTTP_REQUIRED = "HTTP_REQUIRED"
#: What the socket runs; a mutation is refused.
SOCKET_OPERATIONS = frozenset({OperationType.QUERY, OperationType.SUBSCRIPTION})


def http_required() -> GraphQLError:
    return GraphQLError(
        "mutations are not accepted over the WebSocket: send them over HTTP (POST /graphql), "
        "retrying with the same idempotency key; the socket is for live status",
        extensions={"code": HTTP_REQUIRED},
    )


class GraphQLOverWebSocket(BaseGraphQLTransportWSHandler):
    """Strawberry's graphql-transport-ws handler, with the policy of every operation."""

    view: GraphQLApp
    #: Watches the connection's session while it is open (see ``_watch_session``).
    _session_watch: asyncio.Task | None = None

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        session = self.context.session
        if self.connection_acknowledged and session is not None and not self._session_watch:
            self._session_watch = asyncio.create_task(self._watch_session(session))
            self._session_watch.add_done_callback(self._task_done)

    async def shutdown(self) -> None:
        if self._session_watch is not None:
            self._session_watch.cancel()
            with suppress(asyncio.CancelledError):
                await self._session_watch
        await super().shutdown()

    async def _watch_session(self, session) -> None:
        """Close the connection once its session is logged out, wherever that happened: each
        operation in flight ends with UNAUTHENTICATED (reason REVOKED), then the socket
        closes with 4401."""
        sessions = self.context.services.sessions
        while True:
            await asyncio.sleep(sessions.staleness)
            try:
                if await sessions.ended(session):
                    break
            except Exception:  # the database did not answer: look again next time
                log.warning("could not check a socket's session", exc_info=True)
        error = self._formatted(unauthenticated("REVOKED", self.context.language))
        for operation in list(self.operations.values()):
            await operation.send_operation_message(
                {"id": operation.id, "type": "error", "payload": [error]}
            )
            if operation.task is not None:
                operation.task.cancel()
        await self.websocket.close(code=4401, reason="Session logged out")

    async def handle_subscribe(self, message: Any) -> None:
        # Strawberry's checks first, in its order: not acknowledged, a duplicate id, too
        # many operations in flight.
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        if message["id"] in self.operations:
            await self.websocket.close(
                code=4409, reason=f"Subscriber for {message['id']} already exists"
            )
            return
        if (
            self.max_subscriptions_per_connection is not None
            and len(self.operations) >= self.max_subscriptions_per_connection
        ):
            error = GraphQLError("Subscription limit reached")
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        payload = message.get("payload")
        if not isinstance(payload, dict):
            await self.handle_invalid_message("the subscribe payload must be an object")
            return
        # The query may be absent: a persisted query is sent by its hash alone.
        operation = Operation(
            self,
            message["id"],
            payload.get("query"),
            payload.get("variables"),
            payload.get("operationName"),
        )
        operation.task = asyncio.create_task(self.run_operation(operation, payload))
        operation.task.add_done_callback(self._task_done)
        self.operations[message["id"]] = operation

    async def run_operation(  # type: ignore[override]
        self, operation: Operation, payload: dict | None = None
    ) -> None:
        """One operation, as ``GraphQLApp`` runs one over HTTP: its own context, record,
        log line and metrics."""
        view = self.view
        started = time.perf_counter()
        record = RequestRecord()  # this task's own: the connection's is shared
        request_record_var.set(record)
        user_id_var.set(None)
        context = view.operation_context(self.context)
        name = operation.operation_name if isinstance(operation.operation_name, str) else None
        outcome = "ok"
        try:
            outcome = await self._run(operation, context, payload or {}, record)
        except asyncio.CancelledError:
            # The client completed it or went away: the outcome is what it was so far.
            outcome = record.outcome or "ok"
            raise
        except Exception as error:  # a bug: logged, and the operation ends, as Strawberry does
            outcome = "internal_error"
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
        finally:
            if context.account is not None:
                user_id_var.set(context.account.id)
            seconds = time.perf_counter() - started
            view.observe(
                context.operation_name or name,
                context.operation_type,
                outcome,
                started,
                record.error_codes,
            )
            client = self.context.request.client
            write_access_line("WS", "/graphql", None, seconds, record, client)

    async def _run(self, operation: Operation, context, payload: dict, record) -> str:
        view = self.view
        try:
            _query, name, variables, extensions = view.check(payload)
            document, remember = view.persisted.resolve(operation.query, extensions)
            if not document:
                raise RequestError(400, "no GraphQL query found in the request")
        except (PersistedQueryError, RequestError) as exc:
            error = RequestError(400, exc.message, exc.code)
            await self._fail(operation, [self.view.request_error(error, self.context.language)])
            return "rejected"

        outcomes = ["ok"]
        budget = view.operation_timeout
        loop = asyncio.get_running_loop()
        expiry = None if context.session is None else context.session.expires_at
        phase = "budget"
        try:
            async with asyncio.timeout(budget) as deadline:
                source = await self.schema.stream(
                    document,
                    variable_values=variables,
                    context_value=context,
                    root_value=self.root_value,
                    operation_name=name,
                    operation_extensions=extensions,
                    allowed_operation_types=SOCKET_OPERATIONS,
                )
                async with aclosing(source):
                    first = True
                    async for result in source:
                        if first and isinstance(result, PreExecutionError):
                            await self._refuse(operation, result)
                            return "rejected"
                        if not isinstance(result, ExecutionResult):
                            await self._reject_incremental_delivery(operation)
                            return "rejected"
                        errors = [self._formatted(e) for e in result.errors or ()]
                        outcomes.append(self._outcome(errors, record))
                        record.outcome = max(outcomes, key=_SEVERITY.index)
                        await self._next(operation, result, errors)
                        if first and context.operation_type == "subscription":
                            # Past its first answer a subscription has no budget, but it
                            # ends when its session does.
                            phase = "session"
                            deadline.reschedule(
                                None
                                if expiry is None
                                else loop.time() + (expiry - datetime.now(UTC)).total_seconds()
                            )
                        first = False
        except TimeoutError:
            if phase == "budget":
                await self._fail(operation, [self._timed_out(context)])
                return "timeout"
            await self._fail(
                operation, [self._formatted(unauthenticated("EXPIRED", context.language))]
            )
            return "error"
        if remember and "rejected" not in outcomes:
            view.persisted.remember(remember, document)
        await operation.send_operation_message({"id": operation.id, "type": "complete"})
        return max(outcomes, key=_SEVERITY.index)

    async def _refuse(self, operation: Operation, result: PreExecutionError) -> None:
        """An operation refused before it ran (a syntax error, an operation that cannot be
        chosen, a document past a limit, a validation error, a mutation): an ``error``
        message for its id, and the socket stays open for the others. (Strawberry would
        close the socket with 4400 on the first two; a front end would then see every live
        status of the connection end for one bad document.)"""
        assert result.errors
        if isinstance(result.errors[0].original_error, InvalidOperationTypeError):
            await self._fail(operation, [self._formatted(http_required())])
            return
        await self._fail(operation, [self._formatted(e) for e in result.errors])

    async def _next(self, operation: Operation, result: ExecutionResult, errors: list) -> None:
        payload: dict[str, Any] = {"data": result.data}
        if errors:
            payload["errors"] = errors
        if result.extensions:
            payload["extensions"] = result.extensions
        await operation.send_operation_message(
            {"id": operation.id, "type": "next", "payload": payload}
        )

    async def _fail(self, operation: Operation, errors: list[dict]) -> None:
        await operation.send_operation_message(
            {"id": operation.id, "type": "error", "payload": errors}
        )

    def _timed_out(self, context) -> dict:
        error = timed_out(self.view.operation_timeout, context.operation_type)
        return self.view.request_error(error, self.context.language)

    def _formatted(self, error: GraphQLError) -> dict:
        """An error as sent, its message in the connection's language (connection_init's
        ``Accept-Language``, else the upgrade request's)."""
        return self.view.format_error(error.formatted, self.context.language)

    @staticmethod
    def _outcome(errors: list[dict], record: RequestRecord) -> str:
        if any(e["extensions"].get("code") == INTERNAL_ERROR for e in errors):
            return "internal_error"
        if errors:
            return "error"
        if record.error_codes:
            return "error_result"
        return "ok"


#: Outcomes from the least to the most severe: an operation's is its worst answer's.
_SEVERITY = ["ok", "error_result", "error", "rejected", "timeout", "internal_error"]
