"""Sign-in: exchange a channel's one-time code for a cardcash session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.services.accounts import Account, Accounts
from api.services.catalog import Channel
from api.services.channels import ChannelLoginError, ChannelRouter
from api.services.channels.sandbox import SANDBOX_PREFIX
from api.services.sessions import SessionTokens

__all__ = ["ChannelLoginError", "LoginService", "SignedIn"]


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    expires_at: datetime
    account: Account


class LoginService:
    """Exchanges the code with the channel, finds or creates the user, issues a token.

    Nothing is written unless the channel vouched for the user.
    """

    def __init__(
        self, routers: dict[Channel, ChannelRouter], accounts: Accounts, tokens: SessionTokens
    ) -> None:
        self._routers = routers
        self._accounts = accounts
        self._tokens = tokens

    async def login(self, channel: Channel, code: str) -> SignedIn:
        identity = await self._routers[channel].exchange(code)
        account, generation = await self._accounts.sign_in(
            channel,
            identity.channel_user_id,
            identity.union_id,
            is_sandbox=code.startswith(SANDBOX_PREFIX),
            real_name_id=identity.real_name_id,
        )
        token, expires_at = self._tokens.issue(account.id, channel.value, generation=generation)
        return SignedIn(token, expires_at, account)
