"""``/metrics``: Prometheus text format, for internal addresses or a bearer token only."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.observability import Metrics


class MetricsAccess:
    """Who may read the metrics: a client in one of ``networks``, or one with ``token``.

    The client address is the one after trusted proxy headers are applied, so a request that
    came through the public proxy is judged by its real origin, not the proxy's address.
    """

    def __init__(self, networks: list[str], token: str | None = None) -> None:
        self._networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self._token = token.encode() if token else None

    def allows(self, request: Request) -> bool:
        if self._token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(
                given.strip().encode(), self._token
            ):
                return True
        host = request.client.host if request.client else None
        try:
            address = ipaddress.ip_address(host) if host else None
        except ValueError:
            return False
        return address is not None and any(address in net for net in self._networks)


def metrics_endpoint(metrics: Metrics, access: MetricsAccess, services: Callable):
    async def endpoint(request: Request) -> Response:
        if not access.allows(request):
            return JSONResponse({"error": "forbidden"}, 403)
        await metrics.refresh(services())
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return endpoint
