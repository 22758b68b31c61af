"""Session tokens: signed, expiring, naming the user and the channel; and sessions ended early.

Tokens are JWTs (HS256) signed with ``CARDCASH_SECRET_KEY``, so every replica with the same key
accepts every other replica's tokens. A process remembers the tokens it has already checked
until they expire: a user's requests carry the same token, and checking its signature and
claims again cost about 4 % of an offers page.

Each token names its session (``jti``) and the user's session generation it was issued in
(``gen``). A session can end before its token expires (:class:`Sessions`): by logout, which
records the session id as revoked, or by "log out everywhere", which raises the user's
generation so that every token issued before is refused. Both are kept in the database, so
every replica refuses the token; a replica remembers what it read for at most
``staleness`` seconds (a revocation made by the replica itself holds there at once).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from cachetools import LRUCache
from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from api.services.ids import new_id
from db.engine import Database
from db.models import RevokedSession, User
from db.types import utcnow

ISSUER = "cardcash"
AUDIENCE = "cardcash-session"
MAX_TOKEN_LENGTH = 2048
MAX_SESSION_ID_LENGTH = 64
CHECKED_TOKENS = 4096  # valid tokens a process remembers (about 1.5 MB at most)
#: Sessions and users whose revocation state a process remembers (for ``staleness`` seconds).
CHECKED_SESSIONS = 16_384


class InvalidSession(Exception):
    """The token is missing a part, tampered with, expired, ended or not ours. ``reason``:
    EXPIRED when only its time is up, REVOKED when it was logged out (signing in again is the
    remedy of both), else INVALID."""

    def __init__(self, message: str, reason: str = "INVALID") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """Who a valid token speaks for, and which session it is."""

    user_id: str
    channel: str
    expires_at: datetime
    #: The token's ``jti``; for a token issued before tokens had one, a digest of the token.
    session_id: str = ""
    #: The user's session generation when the token was issued (0 before there was one).
    generation: int = 0


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
        self._checked: LRUCache[str, SessionClaims] = LRUCache(CHECKED_TOKENS)

    def issue(
        self, user_id: str, channel: str, *, generation: int = 0, now: datetime | None = None
    ) -> tuple[str, datetime]:
        now = now or datetime.now(UTC)
        expires_at = (now + self._ttl).replace(microsecond=0)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": user_id,
            "ch": channel,
            "jti": new_id("session"),
            "gen": generation,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        return jwt.encode(claims, self._key, algorithm="HS256"), expires_at

    def verify(self, token: str) -> SessionClaims:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidSession("malformed token")
        claims = self._checked.get(token)
        if claims is None:
            self._checked[token] = claims = self._decode(token)
            return claims
        if claims.expires_at.timestamp() <= time.time():  # as PyJWT judges exp, no leeway
            self._checked.pop(token, None)
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
        session_id = claims.get("jti")
        if session_id is None:
            # Issued before tokens named their session: the token itself identifies it.
            session_id = "tok_" + hashlib.sha256(token.encode()).hexdigest()[:40]
        generation = claims.get("gen", 0)
        if (
            not isinstance(session_id, str)
            or not 0 < len(session_id) <= MAX_SESSION_ID_LENGTH
            or type(generation) is not int
            or generation < 0
        ):
            raise InvalidSession("invalid session token")
        return SessionClaims(
            user_id,
            channel,
            datetime.fromtimestamp(claims["exp"], UTC),
            session_id,
            generation,
        )


class Sessions:
    """Sessions ended before their token expires, as every replica sees them.

    ``logout`` revokes one session; ``logout_everywhere`` every session of a user issued so
    far. ``check`` refuses a token of an ended session with ``InvalidSession`` (reason
    REVOKED). What ``check`` read from the database is reused for ``staleness`` seconds at
    most: a session ended on another replica is refused here within that time, and one ended
    on this replica at once. An ended session never comes back, so a refusal is remembered
    for good.

    Example::

        sessions = Sessions(db, staleness=1.0)
        await sessions.check(claims)          # nothing: the session is live
        await sessions.logout(claims)         # True: it was live, now it is not
        await sessions.check(claims)          # InvalidSession, reason REVOKED
    """

    def __init__(
        self, db: Database, *, staleness: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self.staleness = staleness
        self._clock = clock
        #: session id -> (revoked, when read); user id -> (generation, when read).
        self._revoked: LRUCache[str, tuple[bool, float]] = LRUCache(CHECKED_SESSIONS)
        self._generations: LRUCache[str, tuple[int, float]] = LRUCache(CHECKED_SESSIONS)

    async def check(self, claims: SessionClaims) -> None:
        """Nothing when the session is live; InvalidSession (REVOKED) when it has ended."""
        if await self.ended(claims):
            raise InvalidSession("session revoked", "REVOKED")

    async def ended(self, claims: SessionClaims) -> bool:
        """True when the session was logged out, alone or with all of its user's."""
        now = self._clock()
        revoked = self._revoked.get(claims.session_id)
        generation = self._generations.get(claims.user_id)
        if (revoked is not None and revoked[0]) or (
            generation is not None and claims.generation < generation[0]
        ):
            return True
        if (
            revoked is None
            or generation is None
            or now - revoked[1] > self.staleness
            or now - generation[1] > self.staleness
        ):
            # Timed from before the read: what it returns was true at least since then.
            is_revoked, current = await self._read(claims)
            self._revoked[claims.session_id] = (is_revoked, now)
            self._generations[claims.user_id] = (current, now)
            return is_revoked or claims.generation < current
        return False

    async def _read(self, claims: SessionClaims) -> tuple[bool, int]:
        revoked = exists().where(RevokedSession.session_id == claims.session_id)
        statement = select(User.session_generation, revoked).where(User.id == claims.user_id)
        async with self._db.read_core() as connection:
            row = (await connection.execute(statement)).first()
        if row is None:  # no such user: the caller refuses the token for that
            return False, 0
        return bool(row[1]), int(row[0])

    async def logout(self, claims: SessionClaims) -> bool:
        """End this session. True when it was live; False when it had already ended (nothing
        is changed then). Rows of sessions whose tokens have expired are purged meanwhile."""
        if await self.ended(claims):
            return False
        now = utcnow()
        insert = sqlite_insert if self._db.is_sqlite else pg_insert
        statement = (
            insert(RevokedSession)
            .values(
                session_id=claims.session_id,
                user_id=claims.user_id,
                expires_at=claims.expires_at,
                revoked_at=now,
            )
            .on_conflict_do_nothing(index_elements=["session_id"])
        )
        async with self._db.write_core() as connection:
            await connection.execute(delete(RevokedSession).where(RevokedSession.expires_at <= now))
            inserted = (await connection.execute(statement)).rowcount
        self._revoked[claims.session_id] = (True, self._clock())
        return bool(inserted)

    async def logout_everywhere(self, claims: SessionClaims) -> bool:
        """End every session of the user issued so far, this one included. True when this
        session was live; False when it had already ended: a token that was logged out cannot
        end the sessions signed in since."""
        if await self.ended(claims):
            return False
        statement = (
            update(User)
            .where(User.id == claims.user_id, User.session_generation == claims.generation)
            .values(session_generation=User.session_generation + 1)
            .returning(User.session_generation)
        )
        async with self._db.write_core() as connection:
            raised = (await connection.execute(statement)).scalar()
        if raised is None:
            # Another request raised the generation past this token's since it was read.
            self._generations.pop(claims.user_id, None)
            return False
        self._generations[claims.user_id] = (int(raised), self._clock())
        return True
