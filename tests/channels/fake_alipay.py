"""A fake Alipay OpenAPI gateway serving ``alipay.system.oauth.token``.

It checks requests the way the real gateway does: the RSA2 signature against the app's
public key (the signing string is rebuilt here independently of the adapter's code), the
app id, method, version, sign type and a timestamp within ten minutes of Shanghai time.
Answers are signed with the fake's own Alipay key over the exact text of the response node,
which it writes compactly with unescaped Chinese, as Alipay does, so an adapter that
re-serialises the node before checking the signature fails.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.channels.scripted import Scripted

SUCCESS_NODE = "alipay_system_oauth_token_response"
SHANGHAI = timezone(timedelta(hours=8))


@dataclass
class IssuedAuthCode:
    open_id: str | None
    user_id: str | None
    used: bool = False


@dataclass(frozen=True)
class ScriptedError:
    """Answer with this ``error_response`` (signed unless ``signed`` is False)."""

    code: str
    sub_code: str
    msg: str = "Business Failed"
    sub_msg: str = "错误"
    signed: bool = True


@dataclass
class FakeAlipay:
    """State and behaviour of the fake gateway; ``app`` is the ASGI app to serve.

    ``sign_mode`` decides how answers are signed: ``"valid"``, ``"unsigned"``,
    ``"wrong_key"`` (signed by another key) or ``"tampered"`` (open_id changed after signing).
    ``escape_slashes`` reproduces Alipay escaping ``/`` as ``\\/`` after signing.
    """

    app_public_key: rsa.RSAPublicKey
    alipay_private_key: rsa.RSAPrivateKey
    app_id: str = "2021004100000001"
    requests: list[dict[str, str]] = field(default_factory=list)
    request_meta: list[dict[str, str]] = field(default_factory=list)
    issued: dict[str, IssuedAuthCode] = field(default_factory=dict)
    scripted: dict[str, Scripted | ScriptedError] = field(default_factory=dict)
    #: Every access and refresh token handed out, so tests can prove none of them leaked.
    tokens: list[str] = field(default_factory=list)
    sign_mode: str = "valid"
    escape_slashes: bool = False
    extra_fields: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.app = Starlette(routes=[Route("/gateway.do", self._gateway, methods=["POST"])])

    def reset(self) -> None:
        """Forget codes, scripts, requests and answer modes between tests."""
        self.requests.clear()
        self.request_meta.clear()
        self.issued.clear()
        self.scripted.clear()
        self.tokens.clear()
        self.sign_mode = "valid"
        self.escape_slashes = False
        self.extra_fields = {}

    def issue_code(self, *, open_id: str | None = "default", user_id: str | None = None) -> str:
        """What ``my.getAuthCode()`` would give: a fresh 32-hex-digit auth code."""
        code = secrets.token_hex(16)
        if open_id == "default":
            open_id = "074a" + secrets.token_urlsafe(30)[:40].replace("-", "x").replace("_", "y")
        self.issued[code] = IssuedAuthCode(open_id=open_id, user_id=user_id)
        return code

    def script(self, code: str, answer: Scripted | ScriptedError) -> None:
        """Answer ``code`` with a raw response or an Alipay error."""
        self.scripted[code] = answer

    async def _gateway(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8")
        params = dict(parse_qsl(raw, keep_blank_values=True))
        self.requests.append(params)
        self.request_meta.append(
            {
                "content_type": request.headers.get("content-type", ""),
                "query": request.url.query,
            }
        )
        scripted = self.scripted.get(params.get("code", ""))
        if isinstance(scripted, Scripted):
            return await scripted.respond()
        problem = self._check_request(params)
        if problem is not None:
            return self._error(problem)
        if isinstance(scripted, ScriptedError):
            return self._error(scripted)
        issued = self.issued.get(params["code"])
        if issued is None or issued.used:
            return self._error(ScriptedError("40002", "isv.code-invalid", "Invalid Arguments"))
        issued.used = True
        return self._success(issued)

    def _check_request(self, params: dict[str, str]) -> ScriptedError | None:
        invalid = "Invalid Arguments"
        for name in ("app_id", "method", "charset", "sign_type", "sign", "timestamp", "version"):
            if not params.get(name):
                return ScriptedError("40001", f"isv.missing-{name.replace('_', '-')}", invalid)
        if params["app_id"] != self.app_id:
            return ScriptedError("40002", "isv.invalid-app-id", invalid)
        if params["method"] != "alipay.system.oauth.token" or params["version"] != "1.0":
            return ScriptedError("40002", "isv.invalid-method", invalid)
        if params["sign_type"] != "RSA2" or params["charset"] != "utf-8":
            return ScriptedError("40002", "isv.invalid-signature-type", invalid)
        if not self._signature_valid(params):
            return ScriptedError("40002", "isv.invalid-signature", invalid)
        try:
            sent = datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return ScriptedError("40002", "isv.invalid-timestamp", invalid)
        now = datetime.now(SHANGHAI).replace(tzinfo=None)
        if abs(now - sent) > timedelta(minutes=10):
            return ScriptedError("40002", "isv.invalid-timestamp", invalid)
        if params.get("grant_type") != "authorization_code" or not params.get("code"):
            return ScriptedError("40002", "isv.grant-type-invalid", invalid)
        return None

    def _signature_valid(self, params: dict[str, str]) -> bool:
        content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
        try:
            self.app_public_key.verify(
                base64.b64decode(params["sign"]),
                content.encode("utf-8"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def _success(self, issued: IssuedAuthCode) -> Response:
        access_token = "authusrB" + secrets.token_hex(16)
        refresh_token = "authusrB" + secrets.token_hex(16)
        self.tokens += [access_token, refresh_token]
        node: dict[str, object] = {
            "access_token": access_token,
            "auth_start": datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "expires_in": 1296000,
            "re_expires_in": 2592000,
            "refresh_token": refresh_token,
        }
        if issued.open_id:
            node["open_id"] = issued.open_id
        if issued.user_id:
            node["user_id"] = issued.user_id
        node.update(self.extra_fields)
        return self._signed(SUCCESS_NODE, node, tamper=self.sign_mode == "tampered")

    def _error(self, error: ScriptedError) -> Response:
        node = {
            "code": error.code,
            "msg": error.msg,
            "sub_code": error.sub_code,
            "sub_msg": error.sub_msg,
        }
        return self._signed("error_response", node, unsigned=not error.signed)

    def _signed(
        self, name: str, node: dict[str, object], *, tamper: bool = False, unsigned: bool = False
    ) -> Response:
        text = json.dumps(node, ensure_ascii=False, separators=(",", ":"))
        key = self.alipay_private_key
        if self.sign_mode == "wrong_key":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signature = base64.b64encode(
            key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        ).decode()
        if tamper:
            text = text.replace(str(node["open_id"]), "074aATTACKER")
        if self.escape_slashes:
            text = text.replace("/", "\\/")
        body = '{"' + name + '": ' + text
        if self.sign_mode != "unsigned" and not unsigned:
            body += ', "sign": "' + signature + '"'
        body += "}"
        # Alipay labels its JSON text/html.
        return Response(body.encode("utf-8"), media_type="text/html;charset=utf-8")
