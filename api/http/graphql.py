"""GraphQL over HTTP, as the GraphQL-over-HTTP specification describes it.

- ``POST`` with an ``application/json`` body (anything else: 415); ``GET`` with ``query``,
  ``operationName``, ``variables`` and ``extensions`` (JSON) in the query string, for queries
  only: a mutation over GET is 405 with ``Allow: POST``. Subscriptions are served over
  WebSocket only.
- The answer is ``application/graphql-response+json`` when the client's ``Accept`` prefers it,
  else ``application/json`` (also for a missing ``Accept`` or ``*/*``); an ``Accept`` that allows
  neither is 406.
- Status codes: a request that is not GraphQL (bad JSON, wrong types, no query) is 400. A
  GraphQL request error (syntax, validation, a document limit, variables that do not coerce,
  an unknown persisted query) has no ``data``: 400 under ``application/graphql-response+json``,
  200 under ``application/json`` (legacy clients read the body whatever the status). Once
  execution starts the answer is 200, unless the operation runs past its time budget
  (``operation_timeout``): it is then stopped and answered 503 with ``OPERATION_TIMEOUT``.
- Every error carries ``extensions.requestId``, the ``X-Request-ID`` of the response.

Strawberry's view still serves the WebSocket protocols; GraphiQL (dev) is
:class:`api.http.pages.GraphiQLPage`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from typing import Any

import orjson
from cachetools import LRUCache
from graphql import GraphQLError
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError, MissingQueryError
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET

from api.headers import weighted
from api.http.anonymous import AnonymousResults
from api.http.middleware import write_access_line
from api.http.pages import GraphiQLPage
from api.http.persisted import PersistedQueries, PersistedQueryError
from api.logging_setup import request_id_var, user_id_var
from api.messages import pick_language
from api.observability import Metrics, RequestRecord, request_record_var
from api.schema import codes
from api.schema.auth import authenticate, connection_authorization
from api.schema.context import Context
from api.schema.extensions import INTERNAL_ERROR

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
#: ``extensions.code`` of an operation stopped at its time budget.
OPERATION_TIMEOUT = "OPERATION_TIMEOUT"
#: GET query strings longer than this are decoded every time instead of being kept.
_GET_CACHE_MAX_LENGTH = 4096


class RequestError(Exception):
    """A request refused before GraphQL runs: an HTTP status and a GraphQL-shaped body."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "BAD_REQUEST",
        headers=None,
        *,
        extensions: dict | None = None,
        key: str | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}
        self.extensions = extensions or {}
        #: The catalog key of the users' sentence, when more precise than the code's.
        self.key = key


def timed_out(budget: float | None, operation_type: str | None) -> RequestError:
    """The answer to an operation stopped at its time budget (``operation_timeout``)."""
    message = f"the operation ran past its time budget of {budget:g} s and was stopped"
    key = None
    if operation_type == "mutation":
        # What it did before being stopped is kept (a withdrawal is written before the bank
        # is called, and status sync asks the bank): the retry finds it.
        message += "; retry it with the same idempotency key to learn its outcome"
        key = f"{OPERATION_TIMEOUT}.mutation"
    return RequestError(503, message, OPERATION_TIMEOUT, key=key)


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct values
def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when ``Accept`` allows neither."""
    if not accept or not accept.strip():
        return JSON
    best, best_q = None, 0.0
    for media, q in weighted(accept):
        if media == GRAPHQL_RESPONSE:
            candidate = GRAPHQL_RESPONSE
        elif media in (JSON, "application/*", "*/*"):
            candidate = JSON
        else:
            continue
        # Equal preference: the GraphQL media type, named explicitly, wins.
        if q > best_q or (q == best_q and q > 0 and candidate == GRAPHQL_RESPONSE):
            best, best_q = candidate, q
    return best


def _loads(raw: str | bytes, message: str) -> Any:
    """JSON, fast; the standard parser only for what orjson refuses but JSON allows (integers
    beyond 64 bits). Deep nesting is refused by both (orjson at 1024 levels)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise RequestError(400, message) from None


def _signed_out(error: dict) -> bool:
    """An error every request without a token gets alike: a field that needs a user."""
    extensions = error["extensions"]
    return extensions.get("code") == "UNAUTHENTICATED" and extensions.get("reason") == "MISSING"


def _restamped(body: dict | orjson.Fragment) -> dict | orjson.Fragment:
    """A kept answer with this request's id on its errors (an answer without any: as is)."""
    if not isinstance(body, dict) or "errors" not in body:
        return body
    request_id = request_id_var.get()
    errors = [
        {**e, "extensions": {**e["extensions"], "requestId": request_id}} for e in body["errors"]
    ]
    return {**body, "errors": errors}


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class GraphQLApp(GraphQL):
    """The ``/graphql`` endpoint: the HTTP protocol here, graphql-transport-ws under the same
    rules (:mod:`api.http.websocket`), GraphiQL from its own page."""

    def __init__(
        self,
        services_ref: dict,
        *,
        persisted: PersistedQueries,
        metrics: Metrics | None,
        max_batch: int = 0,
        operation_timeout: float | None = None,
        anonymous: AnonymousResults | None = None,
        ide_page: GraphiQLPage | None = None,
        **kwargs: Any,
    ) -> None:
        # Only graphql-transport-ws: the legacy subscriptions-transport-ws protocol is left
        # out, so that every operation over a socket goes through the one policy.
        kwargs.setdefault("subscription_protocols", (GRAPHQL_TRANSPORT_WS_PROTOCOL,))
        super().__init__(**kwargs)
        # Imported here: the handler uses this module's request errors.
        from api.http.websocket import GraphQLOverWebSocket

        self.graphql_transport_ws_handler_class = GraphQLOverWebSocket
        self._ide_page = ide_page
        self._services_ref = services_ref
        self.persisted = persisted
        self._get_cache: LRUCache[bytes, tuple[str | None, ...]] = LRUCache(1024)
        self._anonymous = anonymous
        self._metrics = metrics
        self._max_batch = max_batch
        self.operation_timeout = operation_timeout

    async def get_context(self, request: HTTPConnection, response=None) -> Context:
        return Context(services=self._services_ref["services"], request=request, response=response)

    def operation_context(self, connection: Context) -> Context:
        """The context of one operation over a WebSocket: the connection's request, token
        and session, with loaders and an account lookup of its own, as a request has."""
        return Context(
            services=connection.services,
            request=connection.request,
            connection_params=connection.connection_params,
            session=connection.session,
        )

    async def on_ws_connect(self, context: Context):
        """connection_init: a token that is present must be valid (and its session not logged
        out), or the socket closes with 4403 before any acknowledgement (graphql-ws's
        Forbidden)."""
        header = connection_authorization(context.connection_params)
        if header is None:
            return UNSET
        try:
            _account, claims = await authenticate(context.services, header)
        except GraphQLError:
            record = RequestRecord(outcome="rejected", error_codes=["UNAUTHENTICATED"])
            write_access_line("WS", "/graphql", 4403, 0.0, record, context.request.client)
            raise ConnectionRejectionError from None
        context.session = claims
        return UNSET

    def encode_json(self, data: object) -> str:
        # Strawberry sends what this returns as is over WebSocket: str goes out as a text frame,
        # bytes as a binary one. graphql-transport-ws messages are text; clients (graphql-ws,
        # browsers, the channels' sockets) do not read binary frames as messages.
        return orjson.dumps(data).decode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        request = Request(scope=scope, receive=receive)
        if self.graphql_ide and self._wants_ide(request):
            response = await self.render_graphql_ide(request)
        else:
            response = await self._handle(request)
        await response(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from cardcash's own vendored files (never a CDN)."""
        assert self._ide_page is not None, "graphql_ide is set without its page"
        return self._ide_page.response()

    def _wants_ide(self, request: Request) -> bool:
        return (
            request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    async def _handle(self, request: Request) -> Response:
        media = negotiate(request.headers.get("accept"))
        language = pick_language(request.headers.get("accept-language"))
        try:
            if request.method not in ("GET", "POST"):
                raise RequestError(
                    405,
                    "GraphQL is served over GET and POST",
                    "METHOD_NOT_ALLOWED",
                    {"Allow": "GET, POST"},
                )
            if media is None:
                raise RequestError(
                    406, f"Accept must allow {GRAPHQL_RESPONSE} or {JSON}", "NOT_ACCEPTABLE"
                )
            payload = await self._read(request)
        except RequestError as exc:
            self._record_rejection()
            return self._error_response(exc, media or JSON, language)
        if isinstance(payload, list):
            bodies = []
            for item in payload:
                _status, body, _headers = await self._execute_item(
                    request, item, media, language
                )
                bodies.append(body)
            return self._response(200, bodies, media)
        status, body, headers = await self._execute_item(request, payload, media, language)
        return self._response(status, body, media, headers)

    async def _read(self, request: Request) -> dict | list:
        if request.method == "GET":
            query, name, variables, extensions = self._get_params(request)
            data: dict[str, Any] = {"query": query, "operationName": name}
            if variables:
                data["variables"] = _loads(variables, "'variables' is not valid JSON")
            if extensions:
                data["extensions"] = _loads(extensions, "'extensions' is not valid JSON")
            return data
        media = _media_type(request.headers.get("content-type"))
        if media != JSON:
            # Mini-program requests (wx.request, my.request) default to a form body: say what
            # to send instead of only refusing it.
            raise RequestError(
                415,
                f"POST bodies must be JSON: send the header 'Content-Type: {JSON}' and the "
                f"request as a JSON object (got {(media or 'no Content-Type')[:80]!r})",
                "UNSUPPORTED_MEDIA_TYPE",
                {"Accept-Post": JSON},
                extensions={"expectedContentType": JSON},
            )
        data = _loads(await request.body(), "the request body is not valid JSON")
        if isinstance(data, list):
            if not self._max_batch:
                raise RequestError(400, "batched requests are not accepted", "BATCHING_DISABLED")
            if not data or len(data) > self._max_batch:
                raise RequestError(
                    400, f"a batch holds 1 to {self._max_batch} operations", "BATCH_TOO_LARGE"
                )
        elif not isinstance(data, dict):
            raise RequestError(400, "the request body must be a JSON object")
        return data

    def _get_params(self, request: Request) -> tuple[str | None, ...]:
        """query, operationName, variables and extensions of a GET, as text.

        Mini-programs repeat the same few persisted GETs; URL-decoding them is a good share
        of answering one from cache, so the decoded strings are kept by the raw query string.
        """
        raw = request.scope.get("query_string", b"")
        if (params := self._get_cache.get(raw)) is None:
            qp = request.query_params
            params = tuple(qp.get(k) for k in ("query", "operationName", "variables", "extensions"))
            if len(raw) <= _GET_CACHE_MAX_LENGTH:
                self._get_cache[raw] = params
        return params

    @staticmethod
    def check(item: object) -> tuple[str | None, str | None, dict | None, dict | None]:
        if not isinstance(item, dict):
            raise RequestError(400, "each operation must be a JSON object")
        query, name = item.get("query"), item.get("operationName")
        variables, extensions = item.get("variables"), item.get("extensions")
        if not isinstance(query, str | None):
            raise RequestError(400, "'query' must be a string")
        if not isinstance(name, str | None):
            raise RequestError(400, "'operationName' must be a string or null")
        if not isinstance(variables, dict | None):
            raise RequestError(400, "'variables' must be an object or null")
        if not isinstance(extensions, dict | None):
            raise RequestError(400, "'extensions' must be an object or null")
        return query, name, variables, extensions

    async def _execute_item(
        self, request: Request, item: object, media: str, language: str
    ) -> tuple[int, dict | orjson.Fragment, dict]:
        """One operation: its HTTP status, response body and extra headers; the messages of
        its errors in ``language``."""
        started = time.perf_counter()
        record = request_record_var.get() or RequestRecord()
        codes_before = len(record.error_codes)
        name: str | None = None
        try:
            query, name, variables, extensions = self.check(item)
            document, remember = self.persisted.resolve(query, extensions)
            if not document:
                raise RequestError(400, "no GraphQL query found in the request", "BAD_REQUEST")
            cache_key = None
            if self._anonymous is not None and "authorization" not in request.headers:
                cache_key = AnonymousResults.key(document, name, variables, media, language)
                if (cached := self._anonymous.get(cache_key)) is not None:
                    if remember:  # it ran before: the text is valid, so register its hash
                        self.persisted.remember(remember, document)
                    self.observe(name, "query", "ok", started, ())
                    return 200, _restamped(cached), {}
            context = await self.get_context(request)
            async with asyncio.timeout(self.operation_timeout):
                result = await self.schema.execute(
                    document,
                    variable_values=variables,
                    context_value=context,
                    operation_name=name,
                    allowed_operation_types=self._allowed(request),
                    operation_extensions=extensions,
                )
        except TimeoutError:
            error = timed_out(self.operation_timeout, context.operation_type)
            self.observe(
                context.operation_name or name, context.operation_type, "timeout", started, ()
            )
            return error.status, self._error_body(error, language), error.headers
        except PersistedQueryError as exc:
            status = 400 if media == GRAPHQL_RESPONSE or not exc.request_error else 200
            error = RequestError(status, exc.message, exc.code)
            return self._rejected(error, name, started, language)
        except InvalidOperationTypeError as exc:
            if exc.operation_type is OperationType.MUTATION:
                error = RequestError(
                    405,
                    "mutations are not accepted over GET: use POST",
                    "METHOD_NOT_ALLOWED",
                    {"Allow": "POST"},
                )
            else:
                error = RequestError(400, "subscriptions are served over WebSocket only")
            return self._rejected(error, name, started, language)
        except CannotGetOperationTypeError as exc:
            status = 400 if media == GRAPHQL_RESPONSE else 200
            error = RequestError(status, exc.as_http_error_reason(), "OPERATION_NOT_FOUND")
            return self._rejected(error, name, started, language)
        except MissingQueryError:
            error = RequestError(400, "no GraphQL query found")
            return self._rejected(error, name, started, language)
        except RequestError as exc:
            return self._rejected(exc, name, started, language)

        if context.account is not None:
            user_id_var.set(context.account.id)
        errors = [self.format_error(e.formatted, language) for e in result.errors or ()]
        request_error = (
            result.data is None
            and bool(result.errors)
            and all(e.path is None for e in result.errors)
        )
        internal = any(e["extensions"].get("code") == INTERNAL_ERROR for e in errors)
        body: dict[str, Any] = {}
        if not request_error:
            body["data"] = result.data
        if errors:
            body["errors"] = errors
        if result.extensions:
            body["extensions"] = result.extensions
        if remember and not request_error:
            self.persisted.remember(remember, document)

        if (
            cache_key is not None
            and all(_signed_out(e) for e in errors)
            and context.account is None
            and context.operation_type == "query"
        ):
            self._anonymous.put(cache_key, body)
        status = 200
        if request_error:
            status = 500 if internal else (400 if media == GRAPHQL_RESPONSE else 200)
        new_codes = record.error_codes[codes_before:]
        if internal:
            outcome = "internal_error"
        elif request_error:
            outcome = "rejected"
        elif errors:
            outcome = "error"
        elif new_codes:
            outcome = "error_result"
        else:
            outcome = "ok"
        self.observe(
            context.operation_name or name, context.operation_type, outcome, started, new_codes
        )
        return status, body, {}

    @staticmethod
    def _allowed(request: Request) -> set[OperationType]:
        if request.method == "GET":
            return {OperationType.QUERY}
        return {OperationType.QUERY, OperationType.MUTATION}

    def _rejected(self, error: RequestError, name: str | None, started: float, language: str):
        self.observe(name if isinstance(name, str) else None, None, "rejected", started, ())
        return error.status, self._error_body(error, language), error.headers

    def observe(self, name, kind, outcome: str, started: float, codes) -> None:
        record = request_record_var.get()
        if record is not None:
            record.operation, record.operation_type, record.outcome = name, kind, outcome
        if self._metrics is not None:
            self._metrics.observe_operation(
                name, kind or "unknown", outcome, time.perf_counter() - started, codes
            )

    def _record_rejection(self) -> None:
        record = request_record_var.get()
        if record is not None:
            record.outcome = "rejected"

    @staticmethod
    def format_error(error: dict, language: str, key: str | None = None) -> dict:
        """An ``errors[]`` entry as sent: its request id, and its message in ``language``
        (:func:`api.schema.codes.localized`)."""
        extensions = dict(error.get("extensions") or {})
        extensions.setdefault("requestId", request_id_var.get())
        return codes.localized({**error, "extensions": extensions}, language, key)

    @classmethod
    def request_error(cls, error: RequestError, language: str) -> dict:
        """The ``errors[]`` entry of a request refused before GraphQL ran."""
        extensions = {"code": error.code, **error.extensions}
        entry = {"message": error.message, "extensions": extensions}
        return cls.format_error(entry, language, error.key)

    def _error_body(self, error: RequestError, language: str) -> dict:
        return {"errors": [self.request_error(error, language)]}

    def _error_response(self, error: RequestError, media: str, language: str) -> Response:
        body = self._error_body(error, language)
        return self._response(error.status, body, media, error.headers)

    def _response(self, status: int, body, media: str, headers=None) -> Response:
        content_type = f"{media}; charset=utf-8" if media == GRAPHQL_RESPONSE else media
        return Response(orjson.dumps(body), status, headers or {}, media_type=content_type)
