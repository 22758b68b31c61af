"""The two HTML pages cardcash serves in development: GraphiQL at ``/graphql`` and the
mobile demo of the cash-advance flow at ``/demo``.

Both load only files served by cardcash itself, under a Content-Security-Policy that allows
nothing else: GraphiQL's files are the vendored, integrity-checked ones of :mod:`api.vendor`;
the demo is plain HTML, CSS and JavaScript modules (no build step) plus the mini-program client
of ``clients/miniprogram`` through its browser adapter.
"""

from __future__ import annotations

import logging
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api import vendor

log = logging.getLogger("cardcash.pages")

#: What the pages may load: their own scripts, styles, images and fonts, and this server's
#: HTTP and WebSocket endpoints. Styles set through the DOM (GraphiQL's editors) need no
#: ``unsafe-inline``; ``data:`` covers GraphiQL's inline icons and fonts.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"}
#: Files of the pages themselves change with the code: revalidate them; the vendored ones
#: only with the lock, so a day of caching is safe.
_OWN_CACHE = "no-cache"
_VENDOR_CACHE = "public, max-age=86400"

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}

_MISSING_ASSETS = """<!doctype html><html lang="en"><meta charset="utf-8">
<title>GraphiQL is not installed</title>
<h1>GraphiQL's files are not installed</h1>
<p>cardcash serves GraphiQL from its own copy of the files, so it works without internet
access. Install them with <code>.venv/bin/cardcash assets</code> (<code>make install</code>
runs it), then reload this page.</p><p>{reason}</p></html>"""

_MISSING_CLIENT = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>cardcash demo</title>
<h1>演示页需要 clients/miniprogram</h1>
<p>The demo runs on the mini-program client in <code>clients/miniprogram/</code>, which is
part of a cardcash checkout but not of the Python package. Run the server from a checkout
(<code>make run</code>) to open <code>/demo</code>.</p></html>"""


def _file_response(path: Path, cache: str) -> Response:
    media = _MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return Response(
        path.read_bytes(),
        media_type=media,
        headers={"Cache-Control": cache, "Content-Security-Policy": PAGE_CSP},
    )


class GraphiQLPage:
    """GraphiQL's page and files. Reads and checks the vendored files once, at start-up."""

    OWN_FILES = ("graphiql-start.js", "graphiql-page.css")

    def __init__(self, vendor_dir: Path = vendor.VENDOR_DIR) -> None:
        self.problem: str | None = None
        try:
            self.assets = vendor.load(vendor_dir)
        except vendor.VendorError as exc:
            self.assets = {}
            self.problem = str(exc)
            log.warning("GraphiQL unavailable: %s", exc)
        html = (vendor.STATIC_DIR / "graphiql.html").read_text(encoding="utf-8")
        for name, asset in self.assets.items():
            html = html.replace("{" + name + "}", asset.integrity)
        self.html = html

    def response(self) -> Response:
        """The page, or, when the files are missing or altered, a page saying how to fix it."""
        if self.problem is not None:
            from html import escape

            body = _MISSING_ASSETS.format(reason=escape(self.problem))
            return HTMLResponse(body, 503, headers=_PAGE_HEADERS)
        return HTMLResponse(self.html, headers=_PAGE_HEADERS)

    async def asset(self, request: Request) -> Response:
        """``GET /static/graphiql/{name}``: a vendored file or one of the page's own."""
        name = request.path_params["name"]
        if name in self.OWN_FILES:
            return _file_response(vendor.STATIC_DIR / name, _OWN_CACHE)
        asset = self.assets.get(name)
        if asset is None:
            return Response("not found", 404, media_type="text/plain")
        return Response(
            asset.body,
            media_type=f"{asset.media_type}; charset=utf-8",
            headers={"Cache-Control": _VENDOR_CACHE},
        )


#: The mini-program client the demo runs on, served from the source tree (it is not part of
#: the Python package: a deployment that enables the demo runs from a checkout).
CLIENT_DIR = Path(__file__).resolve().parents[2] / "clients" / "miniprogram" / "src"
DEMO_DIR = vendor.STATIC_DIR / "demo"


class DemoPage:
    """``/demo``: the cash-advance flow as a mobile web page, on the mini-program client.

    Plain files, no build step: the page's own from ``api/static/demo`` and the client's
    ES modules from ``clients/miniprogram/src`` (under ``/demo/client/``).
    """

    def __init__(self, demo_dir: Path = DEMO_DIR, client_dir: Path = CLIENT_DIR) -> None:
        self.demo_dir = demo_dir.resolve()
        self.client_dir = client_dir.resolve()

    async def page(self, request: Request) -> Response:
        """``GET /demo``, or a page saying what is missing when the client is not there."""
        if not (self.client_dir / "index.js").is_file():
            return HTMLResponse(_MISSING_CLIENT, 503, headers=_PAGE_HEADERS)
        html = (self.demo_dir / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    async def asset(self, request: Request) -> Response:
        """``GET /demo/{path}``: a file of the page, or of the client under ``client/``."""
        path = request.path_params["path"]
        if path in ("", "index.html"):
            return await self.page(request)
        root = self.demo_dir
        if path.startswith("client/"):
            root, path = self.client_dir, path.removeprefix("client/")
        target = (root / path).resolve()
        if (
            not target.is_relative_to(root)
            or target.suffix not in _MEDIA_TYPES
            or not target.is_file()
        ):
            return Response("not found", 404, media_type="text/plain")
        return _file_response(target, _OWN_CACHE)
