"""The tables. The schema is created only by the migrations in ``db/migrations``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from db.types import UTCDateTime, utcnow

CHANNELS = ("WECHAT", "ALIPAY")
AVAILABILITIES = ("LIVE", "PILOT", "ONBOARDING", "SUSPENDED")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Bank(SQLModel, table=True):
    """A bank in the catalog; what the service collection page draws."""

    __tablename__ = "banks"

    code: str = Field(primary_key=True, max_length=16)
    name: str = Field(max_length=64)
    name_en: str = Field(max_length=128)
    short_name: str = Field(max_length=16)
    logo_url: str = Field(max_length=512)
    brand_color: str = Field(max_length=7)
    tagline: str = Field(max_length=128)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class BankChannel(SQLModel, table=True):
    """A bank's availability on one channel."""

    __tablename__ = "bank_channels"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="ck_bank_channels_channel"),
        CheckConstraint(_in("availability", AVAILABILITIES), name="ck_bank_channels_availability"),
        Index("ix_bank_channels_channel_position", "channel", "position"),
    )

    bank_code: str = Field(foreign_key="banks.code", primary_key=True, max_length=16)
    channel: str = Field(primary_key=True, max_length=8)
    availability: str = Field(max_length=16)
    position: int = Field(description="Display order within the channel.")
    entry_hint: str = Field(max_length=128, description="Where users find the bank on the channel.")
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class User(SQLModel, table=True):
    """A mini-program user, identified by (channel, channel user id).

    The same person on WeChat and on Alipay is two users: the channels give unrelated ids.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="ck_users_channel"),
        UniqueConstraint("channel", "channel_user_id", name="uq_users_channel_user"),
    )

    id: str = Field(primary_key=True, max_length=32)
    channel: str = Field(max_length=8)
    channel_user_id: str = Field(max_length=128)
    union_id: str | None = Field(default=None, max_length=128)
    is_sandbox: bool = False
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    last_login_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class Card(SQLModel, table=True):
    """A card a bank reported for a user. Holds the bank's opaque token and the last four
    digits, never a card number."""

    __tablename__ = "cards"
    __table_args__ = (
        CheckConstraint(_in("kind", ("CREDIT", "DEBIT")), name="ck_cards_kind"),
        UniqueConstraint("user_id", "kind", "issuer_code", "card_ref", name="uq_cards_identity"),
        Index("ix_cards_user_provider", "user_id", "provider_code"),
    )

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    provider_code: str = Field(max_length=16, description="The bank whose provider reported it.")
    kind: str = Field(max_length=8)
    issuer_code: str = Field(max_length=16)
    card_ref: str = Field(max_length=128)
    last4: str = Field(max_length=4)
    product_name: str = Field(default="", max_length=64)
    first_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    last_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
