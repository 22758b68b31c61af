"""The bank catalog: which banks each channel lists, in what order, and whether they can be used."""

from __future__ import annotations

import asyncio
import re
import time
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from sqlmodel import select

import db as db_package
from db.engine import Database
from db.models import Bank, BankChannel
from db.types import utcnow

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

    @property
    def usable(self) -> bool:
        return self.availability.usable


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
                channels.append(
                    BankChannel(
                        bank_code=code,
                        channel=channel.value,
                        availability=availability.value,
                        position=int(spec.get("position", 100)),
                        entry_hint=spec.get("entry_hint", ""),
                    )
                )
        except KeyError as exc:
            raise CatalogFileError(f"{where}: missing field {exc.args[0]}") from exc
        result.append((bank, channels))
    return result


async def seed_catalog(db: Database, path: Path | None = None) -> int:
    """Load the catalog file into the database, updating rows in place. Returns the bank count.

    Running it again with the same file changes nothing; a bank or channel entry removed from
    the file is kept but suspended, so history that refers to it stays valid.
    """
    entries = read_catalog_file(path or DEFAULT_CATALOG_FILE)
    now = utcnow()
    async with db.write() as session:
        known = {
            (row.bank_code, row.channel): row for row in await session.exec(select(BankChannel))
        }
        for bank, channels in entries:
            existing = await session.get(Bank, bank.code)
            if existing is None:
                session.add(bank)
            else:
                for field in (
                    "name",
                    "name_en",
                    "short_name",
                    "logo_url",
                    "brand_color",
                    "tagline",
                ):
                    if getattr(existing, field) != getattr(bank, field):
                        setattr(existing, field, getattr(bank, field))
                        existing.updated_at = now
            await session.flush()
            for channel in channels:
                row = known.pop((channel.bank_code, channel.channel), None)
                if row is None:
                    session.add(channel)
                    continue
                for field in ("availability", "position", "entry_hint"):
                    if getattr(row, field) != getattr(channel, field):
                        setattr(row, field, getattr(channel, field))
                        row.updated_at = now
        for row in known.values():
            if row.availability != BankAvailability.SUSPENDED:
                row.availability = BankAvailability.SUSPENDED.value
                row.updated_at = now
    return len(entries)


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
        self._reading: dict[Channel, asyncio.Task[_Listings]] = {}
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
        self._reading.clear()
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
                self._reading_of(channel)
                return cached[1], cached[2]
        return await asyncio.shield(self._reading_of(channel))

    def _reading_of(self, channel: Channel) -> asyncio.Task[_Listings]:
        """The reading of ``channel`` under way, or a new one. When the cache runs out under
        load, every request of that moment (and each asks several times a page) would read
        the catalog: one reading serves them all. It runs as a task of its own, so a caller
        that gives up does not cancel it for the others."""
        reading = self._reading.get(channel)
        if reading is None:
            reading = asyncio.ensure_future(self._read(channel))
            self._reading[channel] = reading
            reading.add_done_callback(lambda done: self._read_done(channel, done))
        return reading

    def _read_done(self, channel: Channel, task: asyncio.Task[_Listings]) -> None:
        if self._reading.get(channel) is task:
            del self._reading[channel]
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
        )
