"""The ASGI application: GraphQL over HTTP and WebSocket, health checks, bank logos."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from html import escape

import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL

from api.runtime import Services, build_services
from api.schema import build_schema
from api.schema.context import Context
from api.services.catalog import Channel
from api.services.errors import DomainError, ErrorCode
from api.settings import Settings

log = logging.getLogger("cardcash")
MAX_CALLBACK_BYTES = 64 * 1024


class GraphQLApp(GraphQL):
    """Strawberry's ASGI app with cardcash's context and a fast JSON encoder."""

    def __init__(self, services_ref: dict, **kwargs) -> None:
        super().__init__(**kwargs)
        self._services_ref = services_ref

    async def get_context(self, request: HTTPConnection, response=None) -> Context:
        return Context(services=self._services_ref["services"], request=request, response=response)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await super().__call__(scope, receive, send)
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            response = self._request_error(exc)
        await response(scope, receive, send)

    def _request_error(self, exc: HTTPException) -> Response:
        """A request that is not GraphQL: a JSON error body a client can read, not plain text."""
        status, headers, code = exc.status_code, {}, "BAD_REQUEST"
        if "not allowed when using GET" in exc.reason:
            # GraphQL over HTTP: a mutation over GET is a method error.
            status, headers, code = 405, {"Allow": "POST"}, "METHOD_NOT_ALLOWED"
        body = {"errors": [{"message": exc.reason, "extensions": {"code": code}}]}
        return Response(orjson.dumps(body), status, headers, media_type="application/json")


def create_app(settings: Settings | None = None) -> Starlette:
    """The cardcash ASGI app. ``uvicorn --factory api.app:create_app`` serves it."""
    settings = settings or Settings()
    ref: dict[str, Services] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await build_services(settings)
        ref["services"] = services
        app.state.services = services
        await services.start()
        try:
            yield
        finally:
            await services.aclose()

    graphql = GraphQLApp(
        ref,
        schema=build_schema(introspection=settings.introspection_enabled),
        graphql_ide="graphiql" if settings.graphiql_enabled else None,
        allow_queries_via_get=True,
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await ref["services"].db.ping()
        except Exception as exc:  # any failure means not ready; say which kind
            log.warning("readiness check failed: %s", type(exc).__name__)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    async def bank_logo(request: Request) -> Response:
        code = request.path_params["code"]
        listing = None
        for channel in Channel:
            listing = listing or await ref["services"].catalog.bank(code, channel)
        if listing is None:
            return JSONResponse({"error": "unknown bank"}, 404)
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96" viewBox="0 0 96 96">'
            f'<circle cx="48" cy="48" r="46" fill="{escape(listing.brand_color)}"/>'
            '<text x="48" y="58" font-size="28" text-anchor="middle" fill="#fff" '
            f'font-family="sans-serif">{escape(listing.short_name)}</text></svg>'
        )
        return Response(
            svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
        )

    async def bank_callback(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_CALLBACK_BYTES:
            return JSONResponse({"status": "rejected", "reason": "too large"}, 413)
        try:
            outcome = await ref["services"].withdrawals.handle_callback(
                request.path_params["bank"], request.headers, body
            )
        except DomainError as exc:
            status = {ErrorCode.BANK_NOT_FOUND: 404, ErrorCode.WITHDRAWAL_NOT_FOUND: 404}.get(
                exc.code, 400
            )
            return JSONResponse({"status": "rejected", "reason": exc.message}, status)
        return JSONResponse({"status": outcome})

    return Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/static/banks/{code:str}.svg", bank_logo),
            Route("/callbacks/{bank:str}", bank_callback, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
