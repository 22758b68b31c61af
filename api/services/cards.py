"""The user's cards, as their banks report them.

Banks are the source of truth; cardcash keeps a row per card (the bank's opaque token and the
last four digits, never a number) so that cards have stable ids, and refreshes it from the
bank when it is older than ``refresh_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import LRUCache
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from api.banks.registry import Registry
from api.services.accounts import Account
from api.services.catalog import Catalog
from api.services.errors import DomainError, ErrorCode
from api.services.ids import is_id, new_id
from db.engine import Database
from db.models import Card
from db.types import utcnow
from providers import CardInfo, CardKind, ProviderError

log = logging.getLogger("cardcash.cards")

#: Longest a process reuses a user's card list it read (see ``Cards._all``).
_LIST_REUSE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class CardView:
    """A card as users see it: bank, kind and last four digits."""

    id: str
    user_id: str
    provider_code: str
    issuer_code: str
    kind: CardKind
    last4: str
    product_name: str
    card_ref: str
    usable_for_payout: bool = True
    """For a debit card: no bank's latest report refuses payouts to it for this user."""

    @property
    def masked_number(self) -> str:
        return f"**** **** **** {self.last4}"


def _view(card: Card) -> CardView:
    return CardView(
        card.id,
        card.user_id,
        card.provider_code,
        card.issuer_code,
        CardKind(card.kind),
        card.last4,
        card.product_name,
        card.card_ref,
        not card.payout_refused_by,
    )


def _refusals(refused_by: str, bank_code: str, info: CardInfo) -> str:
    """``refused_by`` after ``bank_code`` reported ``info``: its code in or out of the set."""
    codes = set(refused_by.split())
    if info.kind is CardKind.DEBIT and info.usable_for_payout is False:
        codes.add(bank_code)
    else:
        codes.discard(bank_code)
    return " ".join(sorted(codes))[:200]


def _check(info: CardInfo) -> bool:
    return (
        isinstance(info, CardInfo)
        and isinstance(info.last4, str)
        and len(info.last4) == 4
        and info.last4.isdigit()
        and bool(info.card_ref)
        and len(info.card_ref) <= 128
        and isinstance(info.usable_for_payout, bool)
    )


class Cards:
    def __init__(
        self, db: Database, registry: Registry, catalog: Catalog, *, refresh_seconds: float = 600
    ) -> None:
        self._db = db
        self._registry = registry
        self._catalog = catalog
        self._refresh = timedelta(seconds=refresh_seconds)
        self._inflight: dict[tuple[str, str], asyncio.Future] = {}
        # Who owns a card, its kind and its bank token never change: owned() reads them here.
        self._known: LRUCache[str, CardView] = LRUCache(50_000)
        # user id → (reuse until, on the monotonic clock; the user's cards)
        self._lists: LRUCache[str, tuple[float, tuple[CardView, ...]]] = LRUCache(10_000)
        self._loading: dict[str, asyncio.Future] = {}

    async def list(self, account: Account, kind: CardKind) -> list[CardView]:
        """The user's cards of ``kind``: credit cards at the banks usable on their channel,
        debit cards that no bank refuses to pay out to.

        Debit cards are shared across banks: one row per issuer and ``card_ref``, whichever
        bank reported it (see :meth:`_sync`)."""
        cards = [c for c in await self._all(account) if c.kind is kind]
        if kind is CardKind.DEBIT:
            cards = [c for c in cards if c.usable_for_payout]
        if kind is CardKind.CREDIT:
            usable = {
                b.code
                for b in await self._catalog.banks(account.channel)
                if b.unusable_for(account) is None
            }
            cards = [c for c in cards if c.provider_code in usable]
        return cards

    async def _all(self, account: Account) -> tuple[CardView, ...]:
        """All the user's cards, refreshed from the banks whose answer is not recent.

        A page asks for them several times (offers, credit and debit cards) and a user moves
        between pages within seconds: the list this process read last is reused for a short
        while. Cards only change when a bank is asked again, which ``refresh_seconds`` already
        spaces out, so this adds at most ``_LIST_REUSE_SECONDS`` to how old a list can be.
        """
        if (cached := self._lists.get(account.id)) is not None and cached[0] > time.monotonic():
            return cached[1]
        # The resolvers of one page (credit and debit cards, offers) ask at the same moment:
        # one of them reads (and asks the banks), the others wait for its answer.
        if (pending := self._loading.get(account.id)) is not None:
            if (cards := await asyncio.shield(pending)) is not None:
                return cards
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._loading[account.id] = future
        cards = None
        try:
            cards, seen = await self._read_all(account.id)
            if stale := await self._stale_banks(account, seen):
                await asyncio.gather(*(self._sync_once(account, code) for code in stale))
                cards, seen = await self._read_all(account.id)
            reuse = min(self._refresh.total_seconds(), _LIST_REUSE_SECONDS)
            self._lists[account.id] = (time.monotonic() + reuse, cards)
            return cards
        finally:
            self._loading.pop(account.id, None)
            future.set_result(cards)  # None after a failure: the others try for themselves

    async def _read_all(self, user_id: str) -> tuple[tuple[CardView, ...], dict[str, datetime]]:
        """The user's cards in the order first seen, and when each bank last reported them."""
        async with self._db.read() as session:
            rows = list(
                await session.exec(
                    select(Card)
                    .where(Card.user_id == user_id)
                    .order_by(col(Card.first_seen_at), col(Card.id))
                )
            )
        seen: dict[str, datetime] = {}
        for card in rows:
            if card.provider_code not in seen or card.last_seen_at > seen[card.provider_code]:
                seen[card.provider_code] = card.last_seen_at
        views = tuple(_view(c) for c in rows)
        for view in views:  # the card a user picks next is one of these: owned() needs no read
            self._known[view.id] = view
        return views, seen

    async def _stale_banks(self, account: Account, seen: dict[str, datetime]) -> list[str]:
        stale_before = utcnow() - self._refresh
        return [
            b.code
            for b in await self._catalog.banks(account.channel)
            if b.unusable_for(account) is None
            and self._registry.get(b.code)
            and (b.code not in seen or seen[b.code] < stale_before)
        ]

    async def credit_card_at(self, account: Account, bank_code: str) -> CardView | None:
        """The user's (first) credit card at a bank, for its offer."""
        await self.refresh(account, only=bank_code)
        async with self._db.read() as session:
            card = (
                await session.exec(
                    select(Card)
                    .where(
                        Card.user_id == account.id,
                        Card.kind == CardKind.CREDIT.value,
                        Card.provider_code == bank_code,
                    )
                    .order_by(col(Card.first_seen_at), col(Card.id))
                )
            ).first()
        return _view(card) if card else None

    async def owned(self, account: Account, card_id: str, kind: CardKind) -> CardView:
        """The user's card with this id, or CARD_NOT_FOUND (someone else's card included)."""
        if not is_id("card", card_id):
            raise DomainError(ErrorCode.CARD_NOT_FOUND, field="cardId")
        view = self._known.get(card_id)
        if view is None:
            async with self._db.read() as session:
                card = await session.get(Card, card_id)
            if card is not None:
                self._known[card_id] = view = _view(card)
        if view is None or view.user_id != account.id or view.kind is not kind:
            reason = "credit" if kind is CardKind.CREDIT else "debit"
            raise DomainError(ErrorCode.CARD_NOT_FOUND, reason, field="cardId")
        return view

    async def by_ids(self, ids: list[str]) -> dict[str, CardView]:
        async with self._db.read() as session:
            rows = await session.exec(select(Card).where(col(Card.id).in_(ids)))
            return {c.id: _view(c) for c in rows}

    async def refresh(self, account: Account, *, only: str | None = None) -> None:
        """Ask each usable bank for the user's cards, unless its answer is recent."""
        async with self._db.read() as session:
            rows = await session.exec(
                select(Card.provider_code, func.max(Card.last_seen_at))
                .where(Card.user_id == account.id)
                .group_by(col(Card.provider_code))
            )
            seen = dict(rows.all())
        stale = await self._stale_banks(account, seen)
        await asyncio.gather(
            *(self._sync_once(account, c) for c in stale if only is None or c == only)
        )

    async def _sync_once(self, account: Account, bank_code: str) -> None:
        # Two resolvers of one page (creditCards, debitCards) need the same answer: ask once.
        key = (account.id, bank_code)
        if (pending := self._inflight.get(key)) is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            await self._sync(account, bank_code)
        finally:
            self._inflight.pop(key, None)
            future.set_result(None)

    async def _sync(self, account: Account, bank_code: str) -> None:
        provider = self._registry.get(bank_code)
        try:
            infos = await provider.list_cards(account.customer)
        except ProviderError as exc:
            log.warning("cards of bank %s unavailable: %s", bank_code, exc.code.value)
            return
        now = utcnow()
        cards = []
        for info in infos:
            if _check(info):
                cards.append(info)
            else:
                log.error("bank %s reported a malformed card; ignored", bank_code)
        # The whole answer in one transaction: were the database to fail part-way, some cards
        # would look freshly seen and the rest would stay missing until the next refresh.
        for attempt in (1, 2):
            try:
                async with self._db.write() as session:
                    for info in cards:
                        existing = (
                            await session.exec(
                                select(Card).where(
                                    Card.user_id == account.id,
                                    Card.kind == info.kind.value,
                                    Card.issuer_code == info.issuer_code,
                                    Card.card_ref == info.card_ref,
                                )
                            )
                        ).first()
                        if existing is None:
                            session.add(
                                Card(
                                    id=new_id("card"),
                                    user_id=account.id,
                                    provider_code=bank_code,
                                    kind=info.kind.value,
                                    issuer_code=info.issuer_code,
                                    card_ref=info.card_ref,
                                    last4=info.last4,
                                    product_name=info.product_name[:64],
                                    payout_refused_by=_refusals("", bank_code, info),
                                    first_seen_at=now,
                                    last_seen_at=now,
                                )
                            )
                        elif existing.provider_code == bank_code or info.kind is CardKind.DEBIT:
                            existing.last_seen_at = now
                            if existing.last4 != info.last4:  # a reissued card
                                existing.last4 = info.last4
                                self._known.pop(existing.id, None)
                        if existing is not None and info.kind is CardKind.DEBIT:
                            refused = _refusals(existing.payout_refused_by, bank_code, info)
                            if refused != existing.payout_refused_by:
                                existing.payout_refused_by = refused
                                self._known.pop(existing.id, None)
                self._lists.pop(account.id, None)
                return
            except IntegrityError:
                # Another request recorded the same card at the same moment; the second
                # attempt finds its row.
                if attempt == 2:
                    log.warning("cards of bank %s: concurrent updates; kept as they are", bank_code)
