"""The tables. The schema is created only by the migrations in ``db/migrations``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from db.types import MoneyCents, UTCDateTime, utcnow

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
        CheckConstraint(
            "pilot_basis_points BETWEEN 0 AND 10000", name="ck_bank_channels_pilot_basis_points"
        ),
        Index("ix_bank_channels_channel_position", "channel", "position"),
    )

    bank_code: str = Field(foreign_key="banks.code", primary_key=True, max_length=16)
    channel: str = Field(primary_key=True, max_length=8)
    availability: str = Field(max_length=16)
    position: int = Field(description="Display order within the channel.")
    entry_hint: str = Field(max_length=128, description="Where users find the bank on the channel.")
    pilot_users: str = Field(
        default="[]",
        sa_column=Column(Text, nullable=False, server_default="[]"),
        description="PILOT: JSON list of the allow-listed user ids.",
    )
    pilot_basis_points: int = Field(
        default=0,
        sa_column=Column(Integer, nullable=False, server_default="0"),
        description="PILOT: the share of users let in by their id, in hundredths of a percent.",
    )
    pilot_sandbox_users: bool = Field(
        default=False,
        sa_column=Column(Boolean, nullable=False, server_default=false()),
        description="PILOT: every sandbox user is let in.",
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class User(SQLModel, table=True):
    """A mini-program user, identified by (channel, channel user id).

    The same person on WeChat and on Alipay is two users: the channels give unrelated ids.
    ``person_key`` links them where a channel tells who the person is (see
    :func:`api.services.accounts.person_key`).
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="ck_users_channel"),
        UniqueConstraint("channel", "channel_user_id", name="uq_users_channel_user"),
        Index("ix_users_person_key", "person_key"),
    )

    id: str = Field(primary_key=True, max_length=32)
    channel: str = Field(max_length=8)
    channel_user_id: str = Field(max_length=128)
    union_id: str | None = Field(default=None, max_length=128)
    person_key: str = Field(
        default="",
        sa_column=Column(String(160), nullable=False, server_default=""),
        description="The person this user is, across channels: 'real-name:<digest>', "
        "'wechat-union:<unionid>' or 'user:<id>'. The per-person daily cap counts by it.",
    )
    is_sandbox: bool = False
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    last_login_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    session_generation: int = Field(
        default=0,
        sa_column=Column(Integer, nullable=False, server_default="0"),
        description="Raised by 'sign out everywhere': tokens of an older generation are refused.",
    )


class RevokedSession(SQLModel, table=True):
    """A session signed out before its token expired (logout). Kept until that expiry, then
    purged: an expired token is refused anyway."""

    __tablename__ = "revoked_sessions"
    __table_args__ = (Index("ix_revoked_sessions_expires_at", "expires_at"),)

    session_id: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    revoked_at: datetime = Field(
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
    payout_refused_by: str = Field(
        default="",
        sa_column=Column(String(200), nullable=False, server_default=""),
        description="Codes of the banks whose latest report says this debit card cannot take "
        "a payout for its user (space-separated, sorted); empty: usable.",
    )
    first_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    last_seen_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


WITHDRAWAL_STATUSES = (
    "PENDING",
    "VERIFICATION_REQUIRED",
    "PROCESSING",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
)


class Quote(SQLModel, table=True):
    """A trial calculation shown to a user: the bank's schedule and cardcash's APR."""

    __tablename__ = "quotes"
    __table_args__ = (Index("ix_quotes_user_created", "user_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    bank_code: str = Field(foreign_key="banks.code", max_length=16)
    credit_card_id: str = Field(foreign_key="cards.id", max_length=32)
    amount: Decimal = Field(sa_column=Column(MoneyCents, nullable=False))
    currency: str = Field(max_length=3)
    repayment_type: str = Field(max_length=16)
    periods: int
    start_date: date
    schedule: str = Field(sa_column=Column(Text, nullable=False), description="JSON payments.")
    total_interest: Decimal = Field(sa_column=Column(MoneyCents, nullable=False))
    total_fee: Decimal = Field(sa_column=Column(MoneyCents, nullable=False))
    total_repayment: Decimal = Field(sa_column=Column(MoneyCents, nullable=False))
    apr: str = Field(max_length=16, description="Percentage with two decimals.")
    apr_method: str = Field(max_length=32)
    high_cost: bool = Field(
        default=False,
        sa_column=Column(Boolean, nullable=False, server_default=false()),
        description="The APR passed the high-cost threshold when quoted: the user was warned.",
    )
    agreement_version: str = Field(max_length=64)
    disclosure_version: str = Field(max_length=96)
    disclosure_text: str = Field(sa_column=Column(Text, nullable=False))
    data_sharing_version: str = Field(
        default="",
        sa_column=Column(String(96), nullable=False, server_default=""),
        description="The consent to share personal information with the bank: its version "
        "(empty on quotes made before it was asked for).",
    )
    data_sharing_text: str = Field(
        default="",
        sa_column=Column(Text, nullable=False, server_default=""),
        description="That consent's text, as the user was shown it.",
    )
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Withdrawal(SQLModel, table=True):
    """A cash advance paid out to the user's own debit card.

    ``id`` is derived from (user, idempotency key) and is the request id the bank receives,
    so a retry after a crash reaches the bank as the same request.
    """

    __tablename__ = "withdrawals"
    __table_args__ = (
        CheckConstraint(_in("status", WITHDRAWAL_STATUSES), name="ck_withdrawals_status"),
        UniqueConstraint("user_id", "idempotency_key", name="uq_withdrawals_idempotency"),
        UniqueConstraint("quote_id", name="uq_withdrawals_quote"),
        Index("ix_withdrawals_user_created", "user_id", "created_at", "id"),
        Index("ix_withdrawals_next_sync", "next_sync_at"),
        # At most one withdrawal per credit card being handed to its bank at a time, across
        # every replica: the bank sees one request per card, its limit checks in order.
        Index(
            "uq_withdrawals_card_pending",
            "credit_card_id",
            unique=True,
            sqlite_where=text("status = 'PENDING'"),
            postgresql_where=text("status = 'PENDING'"),
        ),
    )

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32)
    idempotency_key: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    quote_id: str = Field(foreign_key="quotes.id", max_length=32)
    bank_code: str = Field(foreign_key="banks.code", max_length=16)
    credit_card_id: str = Field(foreign_key="cards.id", max_length=32)
    debit_card_id: str = Field(foreign_key="cards.id", max_length=32)
    amount: Decimal = Field(sa_column=Column(MoneyCents, nullable=False))
    currency: str = Field(max_length=3)
    repayment_type: str = Field(max_length=16)
    periods: int
    purpose: str = Field(max_length=32)
    disclosure_version: str = Field(max_length=96)
    disclosure_accepted_at: datetime = Field(
        sa_column=Column(UTCDateTime, nullable=False),
        description="When the user accepted, as their client stated it (within the quote's "
        "life); before migration 0010, when the request was received.",
    )
    disclosure_digest: str | None = Field(
        default=None,
        max_length=64,
        description="SHA-256 of the accepted disclosure (api.services.disclosure.digest).",
    )
    data_sharing_version: str | None = Field(
        default=None, max_length=96, description="The data-sharing consent the user gave."
    )
    data_sharing_digest: str | None = Field(
        default=None, max_length=64, description="SHA-256 of that consent's text as shown."
    )
    status: str = Field(max_length=24)
    failure_code: str | None = Field(default=None, max_length=32)
    failure_reason: str | None = Field(
        default=None, max_length=256, description="The bank's own words: for operators only."
    )
    decline_reason: str | None = Field(
        default=None, max_length=32, description="providers.DeclineReason of a bank's refusal."
    )
    bank_reference: str | None = Field(default=None, max_length=128)
    booked_terms_digest: str | None = Field(
        default=None,
        max_length=64,
        description="providers.terms_digest of the terms the bank says it booked (SDK 1.2); "
        "null when it did not say (an older plugin).",
    )
    verification_attempts: int = 0
    expected_arrival: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    next_sync_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    sync_attempts: int = 0
    sync_lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class WithdrawalEvent(SQLModel, table=True):
    """One status change of a withdrawal, with its time and source."""

    __tablename__ = "withdrawal_events"
    __table_args__ = (Index("ix_withdrawal_events_withdrawal", "withdrawal_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    withdrawal_id: str = Field(foreign_key="withdrawals.id", max_length=32)
    from_status: str | None = Field(default=None, max_length=24)
    to_status: str = Field(max_length=24)
    source: str = Field(max_length=16)
    detail: str = Field(default="", max_length=256)
    occurred_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


class Operator(SQLModel, table=True):
    """Someone who may use the operator surface (/admin/graphql). Only a hash of their token
    is kept: a copy of the database opens nothing."""

    __tablename__ = "operators"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=64, unique=True)
    token_hash: str = Field(max_length=64, unique=True, description="SHA-256 of the token, hex.")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    last_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))


class AuditEntry(SQLModel, table=True):
    """One change made through the operator surface: who, when, what, before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    actor: str = Field(max_length=96, description='"operator:<name>" or "cli:<os user>".')
    action: str = Field(max_length=48)
    target: str = Field(max_length=128)
    before: str = Field(sa_column=Column(Text, nullable=False), description="JSON.")
    after: str = Field(sa_column=Column(Text, nullable=False), description="JSON.")


class Reconciliation(SQLModel, table=True):
    """The latest reconciliation of one bank's day: cardcash's records against its statement."""

    __tablename__ = "reconciliations"
    __table_args__ = (
        CheckConstraint(
            _in("result", ("CLEAN", "DISCREPANCIES", "UNSUPPORTED", "FAILED")),
            name="ck_reconciliations_result",
        ),
    )

    bank_code: str = Field(primary_key=True, max_length=16)
    day: date = Field(primary_key=True, description="The bank's business day (Asia/Shanghai).")
    result: str = Field(max_length=16)
    ours: int = Field(description="Withdrawals cardcash has for the day.")
    theirs: int = Field(description="Withdrawals on the bank's statement.")
    discrepancies: int
    report: str = Field(sa_column=Column(Text, nullable=False), description="The JSON report.")
    ran_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
