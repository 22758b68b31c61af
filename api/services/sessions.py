"""Session tokens: signed, expiring, naming the user and the channel.

Tokens are JWTs (HS256) signed with ``CARDCASH_SECRET_KEY``, so every replica with the same key
accepts every other replica's tokens, and nothing is stored per session. A process remembers
the tokens it has already checked until they expire: a user's requests carry the same token,
and checking its signature and claims again cost about 4 % of an offers page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from api.services.lru import LRU

ISSUER = "cardcash"
AUDIENCE = "cardcash-session"
MAX_TOKEN_LENGTH = 2048
CHECKED_TOKENS = 4096  # valid tokens a process remembers (about 1.5 MB at most)


class InvalidSession(Exception):
    """The token is missing a part, tampered with, expired or not ours. ``reason``: EXPIRED
    when only its time is up (signing in again is the remedy), else INVALID."""

    def __init__(self, message: str, reason: str = "INVALID") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """Who a valid token speaks for."""

    user_id: str
    channel: str
    expires_at: datetime


class SessionTokens:
    """Issues and checks session tokens.

    Example::

        tokens = SessionTokens(key, ttl=timedelta(hours=24))
        token, expires_at = tokens.issue("usr_…", "WECHAT")
        tokens.verify(token).user_id == "usr_…"
    """

    def __init__(self, key: bytes, ttl: timedelta) -> None:
        if len(key) < 32:
            raise ValueError("a session signing key needs at least 32 bytes")
        self._key = key
        self._ttl = ttl
        self._checked = LRU[str, SessionClaims](CHECKED_TOKENS)

    def issue(
        self, user_id: str, channel: str, *, now: datetime | None = None
    ) -> tuple[str, datetime]:
        now = now or datetime.now(UTC)
        expires_at = (now + self._ttl).replace(microsecond=0)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "ch": channel,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        return jwt.encode(claims, self._key, algorithm="HS256"), expires_at

    def verify(self, token: str) -> SessionClaims:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidSession("malformed token")
        claims = self._checked.get(token)
        if claims is None:
            return self._checked.put(token, self._decode(token))
        if claims.expires_at.timestamp() <= time.time():  # as PyJWT judges exp, no leeway
            self._checked.discard(token)
            raise InvalidSession("session expired", "EXPIRED")
        return claims

    def _decode(self, token: str) -> SessionClaims:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidSession("session expired", "EXPIRED") from exc
        except jwt.PyJWTError as exc:
            raise InvalidSession("invalid session token") from exc
        user_id, channel = claims.get("sub"), claims.get("ch")
        if not isinstance(user_id, str) or channel not in ("WECHAT", "ALIPAY"):
            raise InvalidSession("invalid session token")
        return SessionClaims(user_id, channel, datetime.fromtimestamp(claims["exp"], UTC))
