"""The bank catalog: which banks each channel lists, in what order, and whether they can be used."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import col, func, select

import db as db_package
from api import messages
from db.engine import Database
from db.models import Bank, BankChannel, User, Withdrawal
from db.types import utcnow

if TYPE_CHECKING:
    from api.services.accounts import Account

DEFAULT_CATALOG_FILE = Path(db_package.__file__).with_name("data") / "catalog.toml"


class Channel(StrEnum):
    """The mini-program platform a user comes from."""

    WECHAT = "WECHAT"
    ALIPAY = "ALIPAY"


class BankAvailability(StrEnum):
    """Whether a bank's cash advance can be used on a channel."""

    LIVE = "LIVE"
    PILOT = "PILOT"
    ONBOARDING = "ONBOARDING"
    SUSPENDED = "SUSPENDED"

    @property
    def usable(self) -> bool:
        return self in (BankAvailability.LIVE, BankAvailability.PILOT)

    @property
    def listed(self) -> bool:
        return self is not BankAvailability.SUSPENDED


_ORDER = {BankAvailability.LIVE: 0, BankAvailability.PILOT: 0, BankAvailability.ONBOARDING: 1}


class Unusable(StrEnum):
    """Why a listed bank cannot be used by a viewer. Values are stable: clients branch on them."""

    COMING_SOON = "COMING_SOON"
    """ONBOARDING: listed, not open to anyone yet."""
    SUSPENDED = "SUSPENDED"
    """Withdrawn for now: not listed; only a user's history still names it."""
    SIGN_IN_FOR_PILOT = "SIGN_IN_FOR_PILOT"
    """PILOT not open to everyone, and nobody is signed in: who is in cannot be told."""
    NOT_IN_PILOT = "NOT_IN_PILOT"
    """PILOT, and the viewer is not one of its users."""
    BANK_DISABLED = "BANK_DISABLED"
    """The bank's plugin is switched off by configuration (CARDCASH_BANKS_BLOCKED/ENABLED)."""
    BANK_NOT_LOADED = "BANK_NOT_LOADED"
    """The bank's plugin is not installed or failed to load."""


#: A rollout percentage is kept in hundredths of a percent: 10,000 buckets of users.
BUCKETS = 10_000


def rollout_bucket(bank_code: str, user_id: str) -> int:
    """The user's bucket (0–9,999) in the bank's rollout: the same every time for the same
    pair, and unrelated between banks, so each pilot picks its own users."""
    digest = hashlib.sha256(f"{bank_code}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True, slots=True)
class Rollout:
    """Who a PILOT bank is open to on a channel: the allow-listed users, a share of all users
    chosen from their ids (``percent``, 0–100 with two decimals), and, when ``sandbox_users``,
    every sandbox user (the dev catalog's pilots, so the sandbox flow works). Anyone in any of
    these is in. A LIVE bank ignores it; it is kept so a bank can go back to its pilot."""

    users: frozenset[str] = frozenset()
    percent: Decimal = Decimal("0.00")
    sandbox_users: bool = False

    @property
    def basis_points(self) -> int:
        return int(self.percent * 100)

    @property
    def open_to_all(self) -> bool:
        return self.basis_points >= BUCKETS

    def admits(self, bank_code: str, user_id: str, is_sandbox: bool) -> bool:
        """Whether the user is in the pilot."""
        if self.open_to_all or user_id in self.users or (self.sandbox_users and is_sandbox):
            return True
        points = self.basis_points
        return points > 0 and rollout_bucket(bank_code, user_id) < points

    def to_dict(self) -> dict:
        """JSON-ready, for the audit log and the operator's answers."""
        return {
            "users": sorted(self.users),
            "percent": str(self.percent),
            "sandbox_users": self.sandbox_users,
        }

    @classmethod
    def of(cls, row: BankChannel) -> Rollout:
        return cls(
            users=frozenset(json.loads(row.pilot_users or "[]")),
            percent=(Decimal(row.pilot_basis_points) / 100).quantize(_CENT),
            sandbox_users=row.pilot_sandbox_users,
        )

    def store(self, row: BankChannel) -> bool:
        """Write the rollout into ``row``; True when that changed anything."""
        values = {
            "pilot_users": json.dumps(sorted(self.users)),
            "pilot_basis_points": self.basis_points,
            "pilot_sandbox_users": self.sandbox_users,
        }
        changed = False
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed = True
        return changed


_CENT = Decimal("0.01")
_USER_ID = re.compile(r"^usr_[a-z0-9]{26}$")


def parse_percent(value: object) -> Decimal:
    """A rollout percentage: 0–100 with at most two decimals (``5``, ``"2.5"``); else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("percent must be a number from 0 to 100")
    try:
        percent = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"percent must be a number from 0 to 100, not {value!r}") from None
    if not percent.is_finite() or not 0 <= percent <= 100:
        raise ValueError(f"percent must be from 0 to 100, not {value}")
    if percent != percent.quantize(Decimal("0.01")):
        raise ValueError(f"percent has at most two decimals, not {value}")
    return percent.quantize(_CENT)


def parse_users(values: object) -> frozenset[str]:
    """An allow-list of cardcash user ids (``usr_…``, as `viewer { id }` shows them)."""
    if not isinstance(values, list):
        raise ValueError("users must be a list of user ids")
    for value in values:
        if not isinstance(value, str) or not _USER_ID.match(value):
            raise ValueError(f"users: {value!r} is not a cardcash user id (usr_…)")
    return frozenset(values)


def parse_rollout(spec: object) -> Rollout:
    """The ``pilot`` table of a catalog channel entry: ``users``, ``percent``, ``sandbox_users``."""
    if not isinstance(spec, dict):
        raise ValueError("pilot must be a table: { users = [...], percent = 5, sandbox_users = true }")
    unknown = set(spec) - {"users", "percent", "sandbox_users"}
    if unknown:
        raise ValueError(f"pilot: unknown field {sorted(unknown)[0]}")
    sandbox = spec.get("sandbox_users", False)
    if not isinstance(sandbox, bool):
        raise ValueError("pilot.sandbox_users must be true or false")
    return Rollout(
        users=parse_users(spec.get("users", [])),
        percent=parse_percent(spec.get("percent", 0)),
        sandbox_users=sandbox,
    )


@dataclass(frozen=True, slots=True)
class BankListing:
    """A bank as one channel shows it."""

    code: str
    name: str
    name_en: str
    short_name: str
    logo_url: str
    brand_color: str
    tagline: str
    channel: Channel
    availability: BankAvailability
    position: int
    entry_hint: str
    rollout: Rollout = field(default_factory=Rollout)

    @property
    def named(self) -> messages.Named:
        """The bank's name in the language a message is read in."""
        return messages.Named(self.name, self.name_en)

    def unusable_for(self, account: Account | None) -> Unusable | None:
        """Why ``account`` (None: nobody signed in) cannot use the bank here, by its
        availability and rollout; None when it can. The plugin is the Banks service's check."""
        if self.availability is BankAvailability.LIVE:
            return None
        if self.availability is BankAvailability.SUSPENDED:
            return Unusable.SUSPENDED
        if self.availability is not BankAvailability.PILOT:
            return Unusable.COMING_SOON
        if self.rollout.open_to_all:
            return None
        if account is None:
            return Unusable.SIGN_IN_FOR_PILOT
        if self.rollout.admits(self.code, account.id, account.is_sandbox):
            return None
        return Unusable.NOT_IN_PILOT


class CatalogFileError(ValueError):
    """The catalog data file is not valid; the message names the entry and the field."""


_CODE = re.compile(r"^[A-Z0-9]{2,16}$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")


def read_catalog_file(path: Path) -> list[tuple[Bank, list[BankChannel]]]:
    """Parse and check a catalog TOML file (see ``db/data/catalog.toml``)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogFileError(f"cannot read catalog file {path.name}: {exc}") from exc
    entries = data.get("bank")
    if not isinstance(entries, list) or not entries:
        raise CatalogFileError(f"{path.name}: no [[bank]] entries")
    result, seen = [], set()
    for i, entry in enumerate(entries, 1):
        where = f"{path.name}: bank #{i}"
        try:
            code = entry["code"]
            if not isinstance(code, str) or not _CODE.match(code):
                raise CatalogFileError(f"{where}: code must be 2–16 of A–Z and 0–9")
            if code in seen:
                raise CatalogFileError(f"{where}: duplicate code {code}")
            seen.add(code)
            color = entry.get("brand_color", "#333333")
            if not _COLOR.match(color):
                raise CatalogFileError(f"{where} ({code}): brand_color must look like #RRGGBB")
            bank = Bank(
                code=code,
                name=entry["name"],
                name_en=entry["name_en"],
                short_name=entry["short_name"],
                logo_url=entry.get("logo_url", f"/static/banks/{code}.svg"),
                brand_color=color,
                tagline=entry.get("tagline", ""),
            )
            channels = []
            for channel_name, spec in entry.get("channels", {}).items():
                try:
                    channel = Channel(channel_name)
                    availability = BankAvailability(spec["availability"])
                except ValueError as exc:
                    raise CatalogFileError(f"{where} ({code}): {exc}") from exc
                try:
                    rollout = parse_rollout(spec.get("pilot", {}))
                except ValueError as exc:
                    raise CatalogFileError(f"{where} ({code}) {channel_name}: {exc}") from exc
                row = BankChannel(
                    bank_code=code,
                    channel=channel.value,
                    availability=availability.value,
                    position=int(spec.get("position", 100)),
                    entry_hint=spec.get("entry_hint", ""),
                )
                rollout.store(row)
                channels.append(row)
        except KeyError as exc:
            raise CatalogFileError(f"{where}: missing field {exc.args[0]}") from exc
        result.append((bank, channels))
    return result


_BANK_FIELDS = ("name", "name_en", "short_name", "logo_url", "brand_color", "tagline")
_CHANNEL_FIELDS = ("availability", "position", "entry_hint")
#: Statuses whose outcome is still open: a withdrawal in one is "in flight".
IN_FLIGHT = ("PENDING", "VERIFICATION_REQUIRED", "PROCESSING")


@dataclass(frozen=True, slots=True)
class CatalogChange:
    """One change ``cardcash seed`` made (or would make): a field of a bank, or of a bank on
    one channel, from ``before`` (None: a new entry) to ``after``."""

    bank_code: str
    channel: str | None
    field: str
    before: object
    after: object
    note: str = ""

    def __str__(self) -> str:
        where = self.bank_code + (f" {self.channel}" if self.channel else "")
        if self.before is None:
            what = f"added: {self.field} {self.after}"
        else:
            what = f"{self.field}: {self.before} -> {self.after}"
        return f"{where}: {what}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What seeding did: the number of banks in the file and every change made."""

    banks: int
    changes: list[CatalogChange]


class SuspensionRefused(Exception):
    """Seeding would suspend banks on channels where withdrawals are in flight."""

    def __init__(self, in_flight: dict[tuple[str, str], int]) -> None:
        self.in_flight = in_flight
        listed = ", ".join(f"{bank} on {channel} ({n})" for (bank, channel), n in in_flight.items())
        super().__init__(
            f"not suspending banks with withdrawals in flight: {listed}; wait until they are "
            "done, or pass --force (they go on to their end either way)"
        )


async def in_flight_withdrawals(session, bank_code: str | None = None) -> dict[tuple[str, str], int]:
    """(bank, channel) → the number of withdrawals there whose outcome is still open."""
    query = (
        select(Withdrawal.bank_code, User.channel, func.count())
        .join(User, User.id == Withdrawal.user_id)
        .where(col(Withdrawal.status).in_(IN_FLIGHT))
        .group_by(col(Withdrawal.bank_code), col(User.channel))
    )
    if bank_code is not None:
        query = query.where(Withdrawal.bank_code == bank_code)
    return {(bank, channel): n for bank, channel, n in await session.exec(query)}


async def seed_catalog(db: Database, path: Path | None = None, *, force: bool = False) -> SeedReport:
    """Load the catalog file into the database, updating rows in place, and say what changed.

    Running it again with the same file changes nothing. A bank or channel entry missing from
    the file is kept but suspended, so history that refers to it stays valid; suspending one
    (so, or by the file) where withdrawals are in flight raises :class:`SuspensionRefused`
    and changes nothing, unless ``force``: those withdrawals go on to their end all the same.
    """
    entries = read_catalog_file(path or DEFAULT_CATALOG_FILE)
    now = utcnow()
    changes: list[CatalogChange] = []
    async with db.write() as session:
        known = {
            (row.bank_code, row.channel): row for row in await session.exec(select(BankChannel))
        }
        for bank, channels in entries:
            existing = await session.get(Bank, bank.code)
            if existing is None:
                session.add(bank)
                changes.append(CatalogChange(bank.code, None, "bank", None, bank.name_en))
            else:
                for name in _BANK_FIELDS:
                    if getattr(existing, name) != getattr(bank, name):
                        changes.append(
                            CatalogChange(
                                bank.code, None, name, getattr(existing, name), getattr(bank, name)
                            )
                        )
                        setattr(existing, name, getattr(bank, name))
                        existing.updated_at = now
            await session.flush()
            for channel in channels:
                row = known.pop((channel.bank_code, channel.channel), None)
                if row is None:
                    session.add(channel)
                    changes.append(
                        CatalogChange(
                            channel.bank_code, channel.channel, "availability", None,
                            channel.availability,
                        )
                    )
                    continue
                _update_channel(row, channel, now, changes)
        for row in known.values():
            if row.availability != BankAvailability.SUSPENDED:
                changes.append(
                    CatalogChange(
                        row.bank_code, row.channel, "availability", row.availability,
                        BankAvailability.SUSPENDED.value, "not in the catalog file",
                    )
                )
                row.availability = BankAvailability.SUSPENDED.value
                row.updated_at = now
        suspended = {
            (c.bank_code, c.channel)
            for c in changes
            if c.field == "availability" and c.after == BankAvailability.SUSPENDED.value
            and c.before is not None
        }
        if suspended and not force:
            busy = {
                key: n for key, n in (await in_flight_withdrawals(session)).items()
                if key in suspended
            }
            if busy:
                raise SuspensionRefused(busy)  # the write rolls back: nothing changed
    return SeedReport(len(entries), changes)


def _update_channel(row: BankChannel, wanted: BankChannel, now, changes: list) -> None:
    before, after = Rollout.of(row), Rollout.of(wanted)
    changed = False
    for name in _CHANNEL_FIELDS:
        if getattr(row, name) != getattr(wanted, name):
            changes.append(
                CatalogChange(
                    row.bank_code, row.channel, name, getattr(row, name), getattr(wanted, name)
                )
            )
            setattr(row, name, getattr(wanted, name))
            changed = True
    if before != after:
        changes.append(
            CatalogChange(
                row.bank_code, row.channel, "pilot", _rollout_text(before), _rollout_text(after)
            )
        )
        after.store(row)
        changed = True
    if changed:
        row.updated_at = now


def _rollout_text(rollout: Rollout) -> str:
    parts = []
    if rollout.users:
        parts.append(f"{len(rollout.users)} users")
    if rollout.percent:
        parts.append(f"{rollout.percent}%")
    if rollout.sandbox_users:
        parts.append("sandbox users")
    return "{" + ", ".join(parts) + "}" if parts else "{nobody}"


_Listings = tuple[list[BankListing], dict[str, BankListing]]


class Catalog:
    """Reads the catalog, with a short in-process cache: it changes rarely and is read on
    every page view. A view older than ``cache_seconds`` is read again; until that reading
    is done, requests get the view they had, never one older than twice ``cache_seconds``.
    ``invalidate()`` makes the next request wait for a fresh reading."""

    def __init__(self, db: Database, *, public_url: str = "", cache_seconds: float = 5.0) -> None:
        self._db = db
        self._public_url = public_url.rstrip("/")
        self._cache_seconds = cache_seconds
        self._cache: dict[Channel, tuple[float, list[BankListing], dict[str, BankListing]]] = {}
        self._in_flight: dict[Channel, asyncio.Task[_Listings]] = {}
        #: Changes on every invalidate(); caches built on the catalog compare it.
        self.generation = 0

    async def banks(self, channel: Channel) -> list[BankListing]:
        """The banks listed on ``channel``: usable first, then onboarding; suspended omitted."""
        return (await self._load(channel))[0]

    async def bank(self, code: str, channel: Channel) -> BankListing | None:
        """One listed bank on ``channel``, or None when unknown or suspended there."""
        listing = (await self._load(channel))[1].get(code)
        return listing if listing is not None and listing.availability.listed else None

    async def any_bank(self, code: str, channel: Channel) -> BankListing | None:
        """A bank on ``channel`` whatever its availability: history names suspended banks too."""
        return (await self._load(channel))[1].get(code)

    def invalidate(self) -> None:
        """Forget what was read, so the next read sees the database."""
        self._cache.clear()
        self._in_flight.clear()
        self.generation += 1

    async def _load(self, channel: Channel) -> _Listings:
        cached = self._cache.get(channel)
        if cached is not None:
            age = time.monotonic() - cached[0]
            if age < self._cache_seconds:
                return cached[1], cached[2]
            if age < 2 * self._cache_seconds:
                # Stale but not old: one reading refreshes it while the requests of that
                # moment answer from it. The reading is a task of its own, which under load
                # runs a whole turn of the loop later; waiting for it cost each of them two
                # turns (150 ms at figure 3's load, every time the cache ran out).
                self._read_in_flight(channel)
                return cached[1], cached[2]
        return await asyncio.shield(self._read_in_flight(channel))

    def _read_in_flight(self, channel: Channel) -> asyncio.Task[_Listings]:
        """The reading of ``channel`` under way, or a new one. When the cache runs out under
        load, every request of that moment (and each asks several times a page) would read
        the catalog: one reading serves them all. It runs as a task of its own, so a caller
        that gives up does not cancel it for the others."""
        reading = self._in_flight.get(channel)
        if reading is None:
            reading = asyncio.ensure_future(self._read(channel))
            self._in_flight[channel] = reading
            reading.add_done_callback(lambda done: self._read_done(channel, done))
        return reading

    def _read_done(self, channel: Channel, task: asyncio.Task[_Listings]) -> None:
        if self._in_flight.get(channel) is task:
            del self._in_flight[channel]
        if not task.cancelled():
            task.exception()  # retrieved: every waiter that was still there has raised it

    async def _read(self, channel: Channel) -> _Listings:
        generation, now = self.generation, time.monotonic()
        async with self._db.read() as session:
            rows = await session.exec(
                select(Bank, BankChannel)
                .join(BankChannel, BankChannel.bank_code == Bank.code)
                .where(BankChannel.channel == channel.value)
            )
            every = [self._listing(bank, bc) for bank, bc in rows]
        by_code = {b.code: b for b in every}
        listings = sorted(
            (b for b in every if b.availability.listed),
            key=lambda b: (_ORDER[b.availability], b.position, b.code),
        )
        if generation == self.generation:  # not from before an invalidate()
            self._cache[channel] = (now, listings, by_code)
        return listings, by_code

    def _listing(self, bank: Bank, bc: BankChannel) -> BankListing:
        logo = bank.logo_url
        if logo.startswith("/"):
            logo = self._public_url + logo
        return BankListing(
            code=bank.code,
            name=bank.name,
            name_en=bank.name_en,
            short_name=bank.short_name,
            logo_url=logo,
            brand_color=bank.brand_color,
            tagline=bank.tagline,
            channel=Channel(bc.channel),
            availability=BankAvailability(bc.availability),
            position=bc.position,
            entry_hint=bc.entry_hint,
            rollout=Rollout.of(bc),
        )
