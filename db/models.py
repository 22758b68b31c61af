"""The tables. The schema is created only by the migrations in ``db/migrations``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, Index
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
