"""ASGI middleware around every route: request ids, the request log line, HTTP metrics,
security headers, a crash barrier, and the request body limit."""

from __future__ import annotations

import logging
import os
import re
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.logging_setup import log_access, request_id_var, user_id_var
from api.messages import pick_language
from api.observability import Metrics, RequestRecord, request_record_var
from api.schema import codes
from providers.scrub import redact

log = logging.getLogger("cardcash.http")

REQUEST_ID_HEADER = "x-request-id"
# A proxy's request id is kept when it is plainly an id; anything else is replaced.
_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{8,64}")

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-site",
}
# GraphiQL (dev only) is the one HTML page; everything else may load nothing at all.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000; includeSubDomains"

_REQUEST_ID_RAW = REQUEST_ID_HEADER.encode()
_DEFAULT_HEADERS_HTML = tuple(
    (name.encode(), value.encode())
    for name, value in (*SECURITY_HEADERS.items(), ("cache-control", "no-store"))
)
_DEFAULT_HEADERS = (*_DEFAULT_HEADERS_HTML, (b"content-security-policy", API_CSP.encode()))
_HSTS_RAW = (b"strict-transport-security", HSTS.encode())


def _header(scope: Scope, name: bytes, default=b""):
    """The first value of a header (ASGI names are lower-case), without a dict of them all."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return value
    return default


def error_body(detail: str, code: str, scope: Scope) -> bytes:
    """A GraphQL-shaped error body, for answers given before GraphQL is reached: the users'
    sentence for ``code`` in the request's language, ``detail`` for the developer."""
    extensions = {"code": code, "requestId": request_id_var.get()}
    language = pick_language(_header(scope, b"accept-language").decode("latin-1"))
    error = codes.localized({"message": detail, "extensions": extensions}, language)
    return orjson.dumps({"errors": [error]})


async def send_json(send: Send, status: int, body: bytes, headers=()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestContextMiddleware:
    """Gives each request an id, headers, one log line and its metrics; turns a crash into a
    masked 500.

    The id is the caller's ``X-Request-ID`` when it looks like one (a proxy's), else a new one;
    it is echoed in the response header, put on every log record written while serving, and in
    the ``extensions.requestId`` of GraphQL errors. The log line carries method, route, status,
    duration, GraphQL operation, user id and outcome; never the query string or the body.
    """

    def __init__(self, app: ASGIApp, *, metrics: Metrics | None, hsts: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.hsts = hsts

    def _with_headers(self, raw: list, request_id: str) -> list:
        """The response's headers plus the request id and the security headers it does not
        set itself (one pass over raw headers: this runs on every response)."""
        headers = []
        present = set()
        html = False
        for name, value in raw:
            lower = name.lower()
            if lower == _REQUEST_ID_RAW:
                continue
            headers.append((name, value))
            present.add(lower)
            if lower == b"content-type" and value.startswith(b"text/html"):
                html = True
        headers.append((_REQUEST_ID_RAW, request_id.encode("latin-1")))
        for name, value in _DEFAULT_HEADERS_HTML if html else _DEFAULT_HEADERS:
            if name not in present:
                headers.append((name, value))
        if self.hsts and _HSTS_RAW[0] not in present:
            headers.append(_HSTS_RAW)
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        incoming = _header(scope, _REQUEST_ID_RAW).decode("latin-1")
        # 32 random hex digits, as uuid4().hex but without making a UUID object.
        # A client's id is kept when it is an id: not one that holds a card number or a
        # secret, which every log line of the request would then carry.
        kept = _GOOD_ID.fullmatch(incoming) and redact(incoming) == incoming
        request_id = incoming if kept else os.urandom(16).hex()
        record = RequestRecord()
        tokens = (
            request_id_var.set(request_id),
            user_id_var.set(None),
            request_record_var.set(record),
        )
        scope.setdefault("state", {})["request_id"] = request_id
        try:
            if scope["type"] == "websocket":
                return await self.app(scope, receive, send)
            await self._http(scope, receive, send, request_id, record)
        finally:
            request_id_var.reset(tokens[0])
            user_id_var.reset(tokens[1])
            request_record_var.reset(tokens[2])

    async def _http(
        self, scope: Scope, receive: Receive, send: Send, request_id: str, record: RequestRecord
    ) -> None:
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = self._with_headers(message.get("headers") or [], request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error serving %s %s", scope["method"], scope["path"])
            record.outcome = "internal_error"
            if not response_started:
                body = error_body(codes.MASKED_MESSAGE, codes.INTERNAL_SERVER_ERROR, scope)
                await send_json(send_with_headers, 500, body)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            route_label = getattr(route, "path_format", None) or "unmatched"
            if self.metrics is not None:
                self.metrics.observe_http(route_label, scope["method"], status, seconds)
            client = scope.get("client")
            write_access_line(scope["method"], route_label, status, seconds, record, client)


def write_access_line(
    method: str, route: str, status: int | None, seconds: float, record: RequestRecord, client
) -> None:
    """The ``cardcash.access`` line of one request, or of one operation over the WebSocket
    (``method`` WS, no ``status``: the socket's answer is its messages)."""
    outcome = record.outcome or ("ok" if status is None or status < 400 else "rejected")
    failed = outcome == "internal_error" if status is None else status >= 500
    log_access(
        logging.ERROR if failed else logging.INFO,
        f"{method} {route} {status if status is not None else outcome}",
        {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": int(seconds * 100_000 + 0.5) / 100,  # round(ms, 2), quicker
            "operation": record.operation,
            "operation_type": record.operation_type,
            "outcome": outcome,
            "error_codes": record.error_codes or None,
            "client": client[0] if client else None,
            "user_id": user_id_var.get(),
        },
    )


class BodyTooLarge(Exception):
    """The request body went past the limit while it was being read."""


class BodyLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413, counting bytes as they arrive.

    A declared ``Content-Length`` over the limit is refused before a byte is read; a chunked
    body is cut off at the first chunk that crosses it, so nothing large is ever buffered.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = _header(scope, b"content-length", None)
        if declared is not None:
            if not declared.isdigit():
                return await send_json(
                    send, 400, error_body("invalid Content-Length", codes.BAD_REQUEST, scope)
                )
            if int(declared) > self.max_bytes:
                return await self._too_large(scope, send)
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        detail = f"the request body is larger than {self.max_bytes} bytes"
        body = error_body(detail, codes.PAYLOAD_TOO_LARGE, scope)
        await send_json(send, 413, body, [(b"connection", b"close")])
