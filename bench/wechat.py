"""A stand-in for WeChat's ``/sns/jscode2session``, so that the bench signs users in through
the production login path (the WeChat adapter), not the development-only sandbox login.

A code ``bench-<name>`` answers the openid of ``<name>`` (the same one every time) with a fresh
session key, as WeChat answers a code from ``wx.login()``; a wrong app id or secret is refused
with WeChat's error codes. Served by uvicorn like the baselines (``bench.servers.wechat``).
"""

from __future__ import annotations

import hashlib
import json
import secrets

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

APP_ID = "wxbench0123456789"
APP_SECRET = "bench-wechat-secret-0123456789abcdef"


def _answer(payload: dict[str, object]) -> Response:
    # WeChat labels its JSON text/plain.
    return Response(json.dumps(payload), media_type="text/plain")


async def jscode2session(request: Request) -> Response:
    query = request.query_params
    if query.get("appid") != APP_ID:
        return _answer({"errcode": 40013, "errmsg": "invalid appid"})
    if query.get("secret") != APP_SECRET:
        return _answer({"errcode": 40125, "errmsg": "invalid appsecret"})
    code = query.get("js_code", "")
    if not code.startswith("bench-"):
        return _answer({"errcode": 40029, "errmsg": "invalid code"})
    openid = "o" + hashlib.sha256(code.encode()).hexdigest()[:27]
    return _answer({"openid": openid, "session_key": secrets.token_urlsafe(18)})


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def wechat() -> Starlette:
    return Starlette(
        routes=[Route("/healthz", healthz), Route("/sns/jscode2session", jscode2session)]
    )
