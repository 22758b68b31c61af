"""Users: created on first sign-in, keyed by (channel, channel user id)."""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import LRUCache
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from api.services.catalog import Channel
from api.services.ids import new_id
from db.engine import Database
from db.models import User
from db.types import utcnow
from providers import Customer


@dataclass(frozen=True, slots=True)
class Account:
    """A signed-in user, as the domain sees them."""

    id: str
    channel: Channel
    channel_user_id: str
    is_sandbox: bool

    @property
    def customer(self) -> Customer:
        """How banks know this user."""
        return Customer(channel=self.channel.value, channel_user_id=self.channel_user_id)


#: How strongly a person key links users: a real-name identity over a union id over none.
_STRENGTH = {"real-name": 2, "wechat-union": 1, "user": 0}


def person_key(
    channel: Channel, user_id: str, union_id: str | None, real_name_id: str | None
) -> str:
    """The person a user is, as far as their channel tells: the real-name identity it
    vouched for (the same on every channel), else WeChat's union id (the same across the apps
    of one Open Platform account), else the user alone. The per-person daily cap adds up
    the withdrawals of every user with the same key.

    Example::

        >>> person_key(Channel.WECHAT, "user_1", "oU1", None)
        'wechat-union:oU1'
        >>> person_key(Channel.ALIPAY, "user_2", None, None)
        'user:user_2'
    """
    if real_name_id:
        return f"real-name:{real_name_id}"
    if union_id and channel is Channel.WECHAT:
        return f"wechat-union:{union_id}"
    return f"user:{user_id}"


def _stronger(new: str, old: str) -> bool:
    """Whether ``new`` links the user at least as strongly as ``old`` and differs from it:
    a sign-in that tells less than an earlier one (no real-name identity this time) keeps
    the earlier link."""
    return new != old and _strength(new) >= _strength(old)


def _strength(key: str) -> int:
    return _STRENGTH.get(key.partition(":")[0], -1)


def _account(user: User) -> Account:
    return Account(user.id, Channel(user.channel), user.channel_user_id, user.is_sandbox)


class Accounts:
    """Users. An account's identity never changes once created, so lookups by id are kept in
    a bounded in-process cache: every authenticated request needs one."""

    def __init__(self, db: Database, *, cache_size: int = 50_000) -> None:
        self._db = db
        self._cache: LRUCache[str, Account] = LRUCache(cache_size)

    async def sign_in(
        self,
        channel: Channel,
        channel_user_id: str,
        union_id: str | None,
        *,
        is_sandbox: bool,
        real_name_id: str | None = None,
    ) -> tuple[Account, int]:
        """The user with this channel identity, created on first sign-in, and their session
        generation (what a token issued now carries: see ``api.services.sessions``). The
        person they are (:func:`person_key`) is kept up to date with what the channel tells.

        Two first sign-ins at once (two replicas, a double tap) end with one user: the
        unique constraint decides, and the loser reads the winner's row.
        """
        for _ in range(2):
            async with self._db.write() as session:
                user = (
                    await session.exec(
                        select(User).where(
                            User.channel == channel.value, User.channel_user_id == channel_user_id
                        )
                    )
                ).first()
                if user is not None:
                    user.last_login_at = utcnow()
                    if union_id and user.union_id != union_id:
                        user.union_id = union_id
                    key = person_key(channel, user.id, union_id, real_name_id)
                    if _stronger(key, user.person_key):
                        user.person_key = key
                    return _account(user), user.session_generation
            try:
                async with self._db.write() as session:
                    user_id = new_id("user")
                    user = User(
                        id=user_id,
                        channel=channel.value,
                        channel_user_id=channel_user_id,
                        union_id=union_id,
                        person_key=person_key(channel, user_id, union_id, real_name_id),
                        is_sandbox=is_sandbox,
                    )
                    session.add(user)
                return _account(user), 0
            except IntegrityError:
                continue
        raise RuntimeError("could not create or find the user")  # pragma: no cover

    async def get(self, user_id: str) -> Account | None:
        if (account := self._cache.get(user_id)) is not None:
            return account
        async with self._db.read() as session:
            user = await session.get(User, user_id)
        if user is None:
            return None
        self._cache[user_id] = account = _account(user)
        return account
