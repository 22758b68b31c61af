"""What every resolver gets as ``info.context``."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from api.messages import pick_language
from api.runtime import Services
from api.services.sessions import SessionClaims


@dataclass
class Context:
    """The request's context: the process's services, the connection, per-request caches."""

    services: Services
    request: HTTPConnection
    response: Any = None
    loaders: dict[str, Any] = field(default_factory=dict)
    connection_params: dict[str, Any] | None = None
    #: The WebSocket's session (its token checked at connection_init), None without a token.
    session: SessionClaims | None = None
    account: Any = None
    operation_name: str | None = None
    operation_type: str | None = None

    @property
    def request_id(self) -> str | None:
        """The id the request middleware gave this request (echoed in X-Request-ID)."""
        return self.request.scope.get("state", {}).get("request_id")

    @functools.cached_property
    def language(self) -> str:
        """The catalog users' messages come from: the request's ``Accept-Language`` (over
        WebSocket, connection_init's ``Accept-Language`` first), zh-CN when it names neither
        zh nor en."""
        params = self.connection_params or {}
        wanted = params.get("Accept-Language") or params.get("accept-language")
        if not isinstance(wanted, str):
            wanted = self.request.headers.get("accept-language")
        return pick_language(wanted)

    @property
    def client_address(self) -> str | None:
        client = self.request.client
        return client.host if client else None
