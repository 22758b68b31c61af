"""Preparing a run through the API, as users would: sign in, list cards, ask for quotes.

Preparation is not timed; it runs with bounded concurrency so that large runs stay quick.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import httpx

T = TypeVar("T")

LOGIN = """mutation($code: String!) { login(input: {channel: WECHAT, code: $code}) {
  ... on LoginSuccess { token viewer { id } } ... on Error { code message } } }"""
CARDS = """{ viewer { creditCards { id bankCode } debitCards { id bankCode } } }"""
QUOTE = """mutation($input: CreateQuoteInput!) { createQuote(input: $input) {
  __typename ... on Quote { id disclosure { version digest } dataSharingConsent { version } }
  ... on Error { code message } } }"""
CATALOG = (
    "query Catalog { banks(channel: WECHAT) { id code name nameEn shortName logoUrl brandColor "
    "tagline channel availability usable entryHint } }"
)
OFFERS = """query Offers { banks(channel: WECHAT) { code name logoUrl availability usable
  offer { __typename
    ... on CashAdvanceOffer { creditCardId availableLimit { amount currency }
      minAmount { amount } maxAmount { amount } dailyRemaining { amount }
      repaymentOptions { repaymentType periods apr representativeAmount { amount } }
      platformFee { amount } arrivalDescription }
    ... on Error { code message } } } }"""
HISTORY = """query History($after: String) { viewer { withdrawals(first: 20, after: $after) {
  edges { cursor node { id status amount { amount currency } purpose repaymentType periods
    createdAt updatedAt } }
  pageInfo { hasNextPage endCursor } } } }"""
CREATE = """mutation($input: CreateWithdrawalInput!) { createWithdrawal(input: $input) {
  __typename ... on Withdrawal { id status amount { amount currency } createdAt }
  ... on Error { code message } } }"""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Api:
    """A GraphQL client for preparation (not for load)."""

    def __init__(self, url: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        # Idle connections are dropped well before uvicorn's 5 s keep-alive timeout: at
        # httpx's default (also 5 s), a request sent just as the server closes its connection
        # fails with a ReadError.
        limits = httpx.Limits(keepalive_expiry=2.0)
        self.http = httpx.AsyncClient(base_url=url, timeout=60, transport=transport, limits=limits)

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.http.aclose()

    async def q(self, query: str, variables: dict | None = None, token: str = "") -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        r.raise_for_status()
        body = r.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {json.dumps(body['errors'])[:500]}")
        return body["data"]

    async def login(self, name: str) -> str:
        result = (await self.q(LOGIN, {"code": f"bench-{name}"}))["login"]
        if "token" not in result:
            raise RuntimeError(f"login {name} failed: {result}")
        return result["token"]

    async def cards(self, token: str) -> tuple[dict[str, str], str]:
        viewer = (await self.q(CARDS, token=token))["viewer"]
        credit = {c["bankCode"]: c["id"] for c in viewer["creditCards"]}
        return credit, viewer["debitCards"][0]["id"]

    async def quote(self, token: str, bank: str, card_id: str, amount: str = "100.00") -> dict:
        variables = {
            "input": {
                "bankCode": bank,
                "creditCardId": card_id,
                "amount": amount,
                "repaymentType": "SINGLE_MONTH",
                "periods": 1,
            }
        }
        result = (await self.q(QUOTE, variables, token))["createQuote"]
        if result["__typename"] != "Quote":
            raise RuntimeError(f"quote refused: {result}")
        return result


def withdrawal_input(quote: dict, debit_card_id: str, purpose: str = "CONSUMPTION") -> dict:
    """createWithdrawal's variables for ``quote``, with a fresh idempotency key."""
    return {
        "input": {
            "quoteId": quote["id"],
            "debitCardId": debit_card_id,
            "purpose": purpose,
            "acceptedDisclosureVersion": quote["disclosure"]["version"],
            "acceptedDisclosureDigest": quote["disclosure"]["digest"],
            "acceptedAt": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "acceptedDataSharingVersion": quote["dataSharingConsent"]["version"],
            "idempotencyKey": str(uuid.uuid4()),
        }
    }


async def bounded(limit: int, jobs: list[Callable[[], Awaitable[T]]]) -> list[T]:
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(j) for j in jobs)))
