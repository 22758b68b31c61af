"""Operators and the audit log: who may use the operator surface, and what they changed.

An operator's token is made by ``cardcash admin operator create`` and shown once; only its
SHA-256 is stored. The token is 256 random bits, so a fast hash is enough: nothing is to be
gained by guessing, and a slow hash would only slow every operator request. A session token
of a user is a signed JWT of another shape: it never matches an operator's hash.

Example::

    operators = Operators(db)
    operator, token = await operators.create("alice", actor="cli:root")
    assert (await operators.authenticate(token)).name == "alice"
    await operators.revoke("alice", actor="cli:root")
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update

from db.engine import Database
from db.models import AuditEntry, Operator
from db.types import utcnow

TOKEN_PREFIX = "cco_"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_TOKEN = re.compile(r"^cco_[A-Za-z0-9_-]{43}$")
_TOUCH_EVERY = timedelta(minutes=1)


class OperationError(ValueError):
    """An operator's request that cannot be done; ``code`` is stable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class OperatorView:
    id: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def actor(self) -> str:
        return f"operator:{self.name}"


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    before: Any
    after: Any


def _view(row: Operator) -> OperatorView:
    return OperatorView(row.id, row.name, row.created_at, row.revoked_at, row.last_used_at)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def audit(session, actor: str, action: str, target: str, before: Any, after: Any) -> None:
    """Add one audit entry to ``session``: it commits with the change it describes, or not at
    all."""
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            target=target,
            before=json.dumps(before, sort_keys=True, ensure_ascii=False, default=str),
            after=json.dumps(after, sort_keys=True, ensure_ascii=False, default=str),
        )
    )


class Operators:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, *, actor: str) -> tuple[OperatorView, str]:
        """A new operator and their token (shown this once; only its hash is kept)."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise OperationError(
                "INVALID", "an operator name is 1-64 of a-z, 0-9, '.', '_' and '-'"
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = Operator(id="opr_" + secrets.token_hex(8), name=name, token_hash=token_hash(token))
        try:
            async with self._db.write() as session:
                session.add(row)
                await session.flush()
                audit(session, actor, "operator.create", name, None, {"id": row.id})
        except IntegrityError:
            raise OperationError("CONFLICT", f"an operator named {name} exists") from None
        return _view(row), token

    async def revoke(self, name: str, *, actor: str) -> OperatorView:
        """Revoke the operator's token at once, on every replica (each request checks it)."""
        async with self._db.write() as session:
            row = (await session.exec(select(Operator).where(Operator.name == name))).first()
            if row is None:
                raise OperationError("NOT_FOUND", f"no operator named {name}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                audit(session, actor, "operator.revoke", name, {"revoked": False}, {"revoked": True})
            return _view(row)

    async def list(self) -> list[OperatorView]:
        async with self._db.read() as session:
            rows = await session.exec(select(Operator).order_by(col(Operator.name)))
            return [_view(r) for r in rows]

    async def authenticate(self, token: str) -> OperatorView | None:
        """The operator whose live token this is, else None (malformed, unknown, revoked)."""
        if not isinstance(token, str) or not _TOKEN.match(token):
            return None
        async with self._db.read() as session:
            row = (
                await session.exec(select(Operator).where(Operator.token_hash == token_hash(token)))
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > _TOUCH_EVERY:
            async with self._db.write() as session:
                await session.exec(
                    update(Operator).where(col(Operator.id) == row.id).values(last_used_at=now)
                )
        return _view(row)

    async def audit_log(self, *, first: int = 50, before_id: int | None = None) -> list[AuditView]:
        """The newest entries first; ``before_id`` pages back."""
        first = max(1, min(first, 500))
        query = select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(first)
        if before_id is not None:
            query = query.where(col(AuditEntry.id) < before_id)
        async with self._db.read() as session:
            rows = await session.exec(query)
            return [
                AuditView(
                    r.id, r.at, r.actor, r.action, r.target, json.loads(r.before),
                    json.loads(r.after),
                )
                for r in rows
            ]
