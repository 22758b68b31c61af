"""A fake of WeChat's ``/sns/jscode2session``, close enough to catch real mistakes.

Codes are one-time: the first exchange answers ``openid``/``session_key``, the next one
errcode 40163; unknown codes answer 40029. A wrong appid or secret answers 40013/40125.
Like WeChat it answers HTTP 200 with JSON labelled ``text/plain``. Tests can script any
code's answer (see :class:`Scripted`) and read how many requests arrived.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.channels.scripted import Scripted


@dataclass
class IssuedCode:
    openid: str
    unionid: str | None
    used: bool = False


@dataclass
class FakeWeChat:
    """State and behaviour of the fake; ``app`` is the ASGI app to serve."""

    app_id: str = "wx5f1e0c9d8b7a6f43"
    app_secret: str = field(default_factory=lambda: "secret-" + secrets.token_hex(12))
    requests: list[dict[str, str]] = field(default_factory=list)
    issued: dict[str, IssuedCode] = field(default_factory=dict)
    scripted: dict[str, Scripted | int] = field(default_factory=dict)
    #: Every session_key handed out, so tests can prove none of them leaked.
    session_keys: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/sns/jscode2session", self._jscode2session)])

    def reset(self) -> None:
        """Forget codes, scripts and requests between tests."""
        self.requests.clear()
        self.issued.clear()
        self.scripted.clear()
        self.session_keys.clear()

    def issue_code(self, openid: str | None = None, unionid: str | None = None) -> str:
        """What ``wx.login()`` would give the mini-program: a fresh 32-character code."""
        code = secrets.token_urlsafe(24)[:32]
        self.issued[code] = IssuedCode(openid or "o" + secrets.token_urlsafe(20)[:27], unionid)
        return code

    def script(self, code: str, answer: Scripted | int) -> None:
        """Answer ``code`` with a raw response, or with WeChat's JSON for an errcode."""
        self.scripted[code] = answer

    async def _jscode2session(self, request: Request) -> Response:
        query = dict(request.query_params)
        self.requests.append(query)
        code = query.get("js_code", "")
        scripted = self.scripted.get(code)
        if isinstance(scripted, Scripted):
            return await scripted.respond()
        if isinstance(scripted, int):
            return _answer({"errcode": scripted, "errmsg": f"scripted error, rid: {code[:4]}"})
        if query.get("appid") != self.app_id:
            return _answer({"errcode": 40013, "errmsg": "invalid appid"})
        if query.get("secret") != self.app_secret:
            return _answer({"errcode": 40125, "errmsg": "invalid appsecret"})
        if query.get("grant_type") != "authorization_code":
            return _answer({"errcode": 40002, "errmsg": "invalid grant_type"})
        issued = self.issued.get(code)
        if issued is None:
            return _answer({"errcode": 40029, "errmsg": "invalid code"})
        if issued.used:
            return _answer({"errcode": 40163, "errmsg": "code been used"})
        issued.used = True
        session_key = secrets.token_urlsafe(18)
        self.session_keys.append(session_key)
        answer = {"session_key": session_key, "openid": issued.openid}
        if issued.unionid:
            answer["unionid"] = issued.unionid
        return _answer(answer)


def _answer(payload: dict[str, object]) -> Response:
    return Response(json.dumps(payload), media_type="text/plain")
