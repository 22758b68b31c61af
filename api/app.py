"""The ASGI application: GraphQL over HTTP and WebSocket, health checks, metrics, bank logos
and callbacks, behind the middleware of api/http (client address, request id, logs, limits)."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from html import escape

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api import logging_setup
from api.http.admin import admin_endpoint
from api.http.anonymous import AnonymousResults
from api.http.graphql import GraphQLApp
from api.http.metrics import MetricsAccess, metrics_endpoint
from api.http.middleware import BodyLimitMiddleware, RequestContextMiddleware
from api.http.pages import DemoPage, GraphiQLPage
from api.http.persisted import ManifestError, PersistedQueries, load_manifest
from api.observability import Metrics
from api.runtime import Services, build_services, simulated_banks_warning
from api.schema import build_schema
from api.services.catalog import Channel
from api.services.errors import DomainError, ErrorCode
from api.settings import Settings, SettingsError

log = logging.getLogger("cardcash")
MAX_CALLBACK_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Starlette:
    """The cardcash ASGI app. ``uvicorn --factory api.app:create_app`` serves it."""
    settings = settings or Settings()
    ref: dict[str, Services] = {}
    metrics = Metrics(db_refresh_seconds=settings.metrics_db_refresh_seconds)
    schema = build_schema(
        introspection=settings.introspection_enabled,
        suggestions=settings.suggestions_enabled,
        mask_errors=settings.is_prod,
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_tokens=settings.graphql_max_tokens,
        max_fields=settings.graphql_max_fields,
    )
    manifest = _manifest(settings, schema)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await build_services(
            settings, on_call=metrics.on_call, on_breaker_change=metrics.on_breaker_change
        )
        metrics.track_banks(p.code for p in services.registry)
        if warning := simulated_banks_warning(services.registry, settings):
            log.warning(warning)
        if services.limits.shared and not await services.limits.ping():
            log.error(
                "rate limit storage unreachable at start; each replica counts alone until it is"
            )
        ref["services"] = services
        app.state.services = services
        app.state.metrics = metrics
        await services.start()
        # What start-up built (modules, the schema, the plugins) lives as long as the
        # process: out of the collector's sight, full collections only walk what requests
        # allocate, and their pauses stop growing with the size of the code.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            # uvicorn runs this after in-flight requests are done (or the graceful-shutdown
            # timeout passed): status sync finishes the withdrawal in hand, then all closes.
            log.info("shutting down")
            try:
                await services.aclose()
            finally:
                logging_setup.flush()  # the access lines still waiting to be written

    ide_page = GraphiQLPage() if settings.graphiql_enabled else None
    graphql = GraphQLApp(
        ref,
        persisted=PersistedQueries(
            automatic=settings.persisted_queries,
            cache_size=settings.persisted_queries_cache_size,
            manifest=manifest,
            only=settings.persisted_only,
        ),
        metrics=metrics,
        max_batch=settings.graphql_max_batch,
        operation_timeout=settings.graphql_operation_timeout_seconds,
        anonymous=AnonymousResults(
            ttl=settings.catalog_cache_seconds,
            generation=lambda: ref["services"].catalog.generation,
        ),
        schema=schema,
        graphql_ide="graphiql" if ide_page else None,
        ide_page=ide_page,
        allow_queries_via_get=True,
        allowed_origins=settings.cors_origins,
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

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/static/banks/{code:str}.svg", bank_logo),
        Route("/callbacks/{bank:str}", bank_callback, methods=["POST"]),
    ]
    if ide_page is not None:
        routes.append(Route("/static/graphiql/{name:str}", ide_page.asset))
    if settings.demo_enabled:
        demo = DemoPage()
        routes.append(Route("/demo", demo.page))
        routes.append(Route("/demo/{path:path}", demo.asset))
    if settings.admin:
        routes.append(
            Route(
                "/admin/graphql",
                admin_endpoint(lambda: ref["services"]),
                methods=["GET", "POST"],
            )
        )
    if settings.metrics:
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        access = MetricsAccess(settings.metrics_allow, token)
        routes.append(Route("/metrics", metrics_endpoint(metrics, access, lambda: ref["services"])))
    middleware = [
        # Outermost first: the real client address, then the request id and log line (which
        # see everything below, even a refused body), then the body limit, then CORS.
        Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies),
        Middleware(RequestContextMiddleware, metrics=metrics, hsts=settings.is_prod),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "x-request-id"],
                expose_headers=["x-request-id"],
                max_age=settings.cors_max_age,
            )
        )
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def _manifest(settings: Settings, schema) -> dict[str, str] | None:
    """The persisted query manifest, each operation checked against the schema at start-up:
    a manifest from an older schema fails here, not on a user's phone."""
    if settings.persisted_queries_file is None:
        return None
    try:
        manifest = load_manifest(settings.persisted_queries_file)
    except ManifestError as exc:
        raise SettingsError(str(exc)) from None
    from graphql import parse, validate

    for digest, body in manifest.items():
        try:
            errors = validate(schema._schema, parse(body))
        except Exception as exc:  # a syntax error
            errors = [exc]
        if errors:
            raise SettingsError(
                f"persisted query {digest[:12]}… does not validate against the schema: {errors[0]}"
            )
    return manifest
