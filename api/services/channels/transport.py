"""HTTP plumbing shared by the real channel adapters.

One place decides how a channel call is bounded (an overall deadline, a capped body) and how
transport failures become :class:`ChannelLoginError`, so WeChat and Alipay behave alike.

It also keeps secrets out of logs. WeChat's ``jscode2session`` is a GET whose query string
carries the app secret and the user's code, and httpx logs every request URL at INFO
("HTTP Request: GET https://...?secret=..."). :func:`redact_http_client_logs` puts the service's
redacting filter on the HTTP client loggers, so every URL query string (and any other secret) is
replaced before any handler sees the record, whatever handlers the process configured.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import httpx

from api.logging_setup import RedactFilter

from .base import ChannelErrorCode, ChannelLoginError

__all__ = ["MAX_BODY_BYTES", "ChannelResponse", "redact_http_client_logs", "send"]

#: A login answer is a few hundred bytes; a bigger body is not an answer we want to parse.
MAX_BODY_BYTES = 64 * 1024

# The loggers that see request URLs: httpx itself, and httpcore's (which today log only
# methods and hosts, but are covered so that a future release cannot start leaking).
_HTTP_CLIENT_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


def redact_http_client_logs() -> None:
    """Install the query-string redaction filter on the HTTP client loggers (idempotent)."""
    for name in _HTTP_CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactFilter) for existing in logger.filters):
            logger.addFilter(RedactFilter())


@dataclass(frozen=True, slots=True)
class ChannelResponse:
    """A channel's successful (HTTP 200) answer, body read in full."""

    body: bytes


class _BodyTooLarge(Exception):
    pass


async def send(
    client: httpx.AsyncClient, request: httpx.Request, *, time_budget: float, channel: str
) -> ChannelResponse:
    """Send ``request`` and return its 200 body, or raise :class:`ChannelLoginError`.

    ``time_budget`` (seconds) bounds the whole exchange, not each socket read, so a server
    that drips bytes cannot hold a login open. Messages name the channel, never the request.
    """
    try:
        async with asyncio.timeout(time_budget):
            response = await client.send(request, stream=True)
            try:
                body = await _read_capped(response)
            finally:
                await response.aclose()
    # Chaining is cut (``from None``): httpx exceptions carry the request, and with it a URL
    # that may hold secrets, into any traceback a caller logs.
    except (TimeoutError, httpx.TimeoutException):
        raise ChannelLoginError(
            ChannelErrorCode.CHANNEL_UNAVAILABLE,
            f"{channel} did not answer within {time_budget:g} s",
            retry_after=1.0,
        ) from None
    except httpx.TransportError as error:
        raise ChannelLoginError(
            ChannelErrorCode.CHANNEL_UNAVAILABLE,
            f"{channel} could not be reached ({type(error).__name__})",
            retry_after=1.0,
        ) from None
    except httpx.HTTPError as error:
        raise ChannelLoginError(
            ChannelErrorCode.CHANNEL_ERROR,
            f"{channel} sent an unreadable answer ({type(error).__name__})",
        ) from None
    except _BodyTooLarge:
        raise ChannelLoginError(
            ChannelErrorCode.CHANNEL_ERROR,
            f"{channel} sent an answer larger than {MAX_BODY_BYTES} bytes",
        ) from None
    _check_status(response, channel)
    return ChannelResponse(body=body)


async def _read_capped(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _check_status(response: httpx.Response, channel: str) -> None:
    status = response.status_code
    if status == 200:
        return
    if status == 429:
        raise ChannelLoginError(
            ChannelErrorCode.RATE_LIMITED,
            f"{channel} is throttling login requests (HTTP 429)",
            retry_after=_retry_after(response) or 1.0,
        )
    if status >= 500:
        raise ChannelLoginError(
            ChannelErrorCode.CHANNEL_UNAVAILABLE,
            f"{channel} failed with HTTP {status}",
            retry_after=_retry_after(response) or 1.0,
        )
    raise ChannelLoginError(ChannelErrorCode.CHANNEL_ERROR, f"{channel} answered HTTP {status}")


def _retry_after(response: httpx.Response) -> float | None:
    # Only the delta-seconds form: an HTTP date from a login endpoint is not worth parsing.
    value = response.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(min(int(value), 3600))
    return None
