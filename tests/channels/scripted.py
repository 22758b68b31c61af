"""Canned misbehaviour for the fake channel servers: garbage, errors, hangs and drips."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.responses import Response, StreamingResponse


@dataclass(frozen=True)
class Scripted:
    """A raw answer a fake sends instead of its normal behaviour.

    ``delay`` holds the answer back (a hung server); ``drip`` sends the body one byte at a
    time with that pause between bytes (a server that answers, but too slowly).
    """

    body: bytes = b""
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drip: float = 0.0

    async def respond(self) -> Response:
        """Build the Starlette response, after any configured delay."""
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.drip:
            return StreamingResponse(
                self._dripping(), status_code=self.status, media_type=self.content_type
            )
        return Response(
            self.body, status_code=self.status, media_type=self.content_type, headers=self.headers
        )

    async def _dripping(self) -> AsyncIterator[bytes]:
        for byte in self.body:
            yield bytes([byte])
            await asyncio.sleep(self.drip)


HTML_PAGE = Scripted(
    b"<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html"
)
NOT_JSON = Scripted(b'{"openid": "oAbc", ', content_type="text/plain")
JSON_ARRAY = Scripted(b'["openid", "oAbc"]')
SERVER_ERROR = Scripted(b"upstream failed", status=502, content_type="text/plain")
NOT_FOUND = Scripted(b"not found", status=404, content_type="text/plain")
THROTTLED = Scripted(
    b"slow down", status=429, content_type="text/plain", headers={"Retry-After": "7"}
)
HUGE = Scripted(b'{"padding": "' + b"x" * (200 * 1024) + b'"}')
