"""A user's steps through the API, shared by the withdrawal tests."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime

from tests.conftest import gql

LOGIN = """mutation($code: String!, $channel: Channel!) {
  login(input: {channel: $channel, code: $code}) {
    ... on LoginSuccess { token viewer { id } } ... on Error { code message } } }"""

CARDS = """{ viewer { creditCards { id bankCode kind last4 maskedNumber }
                      debitCards { id bankCode kind last4 maskedNumber } } }"""

QUOTE = """mutation($input: CreateQuoteInput!) { createQuote(input: $input) {
  __typename
  ... on Quote { id amount { amount currency } apr aprMethod periods repaymentType
    totalInterest { amount } totalFee { amount } totalRepayment { amount } platformFee { amount }
    schedule { period dueDate principal { amount } interest { amount } fee { amount } total { amount } }
    disclosure { version text digest } dataSharingConsent { version text digest }
    createdAt expiresAt }
  ... on Error { code message }
  ... on ValidationError { field } ... on AmountError { field } } }"""

WITHDRAWAL_FIELDS = """id status amount { amount currency } purpose failureReason failureCode
  attemptsLeft acceptedDisclosureVersion createdAt updatedAt bank { code }
  debitCard { id last4 } creditCard { id } quote { id apr }
  events { fromStatus toStatus source detail occurredAt }"""

CREATE = (
    """mutation($input: CreateWithdrawalInput!) { createWithdrawal(input: $input) {
  __typename ... on Withdrawal { """
    + WITHDRAWAL_FIELDS
    + """ } ... on Error { code message } ... on IdempotencyError { withdrawalId }
  ... on QuoteError { field } } }"""
)

CONFIRM = (
    """mutation($id: ID!, $code: String!) {
  confirmWithdrawal(input: {withdrawalId: $id, verificationCode: $code}) {
  __typename ... on Withdrawal { """
    + WITHDRAWAL_FIELDS
    + """ } ... on Error { code message } ... on VerificationError { attemptsLeft }
  ... on WithdrawalError { currentStatus } } }"""
)

GET = "query($id: ID!) { withdrawal(id: $id) { " + WITHDRAWAL_FIELDS + " } }"


def shown_digest(version: str, text: str) -> str:
    """The digest a client computes over what it showed (as docs/terms.md defines it)."""
    return hashlib.sha256(f"{version}\n{text}".encode()).hexdigest()


def accepted(quote: dict, at: datetime | None = None) -> dict:
    """The consent fields of a user accepting ``quote`` now (or ``at``)."""
    disclosure = quote["disclosure"]
    return {
        "acceptedDisclosureDigest": shown_digest(disclosure["version"], disclosure["text"]),
        "acceptedAt": (at or datetime.now(UTC)).isoformat(timespec="milliseconds"),
        "acceptedDataSharingVersion": quote["dataSharingConsent"]["version"],
    }


class User:
    """A signed-in sandbox user driving the API."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    @classmethod
    async def sign_in(cls, client, name: str, channel: str = "ALIPAY") -> User:
        body = await gql(client, LOGIN, {"code": f"sandbox:{name}", "channel": channel})
        return cls(client, body["data"]["login"]["token"])

    async def q(self, query: str, variables: dict | None = None) -> dict:
        return await gql(self.client, query, variables, headers=self.headers)

    async def cards(self) -> tuple[dict[str, dict], list[dict]]:
        viewer = (await self.q(CARDS))["data"]["viewer"]
        return {c["bankCode"]: c for c in viewer["creditCards"]}, viewer["debitCards"]

    async def quote(
        self,
        bank: str = "CEB",
        amount="3000.00",
        kind="INSTALLMENT",
        periods=12,
        card_id: str | None = None,
    ) -> dict:
        if card_id is None:
            credit, _ = await self.cards()
            card_id = credit[bank]["id"]
        variables = {
            "input": {
                "bankCode": bank,
                "creditCardId": card_id,
                "amount": amount,
                "repaymentType": kind,
                "periods": periods,
            }
        }
        return (await self.q(QUOTE, variables))["data"]["createQuote"]

    async def withdraw(
        self,
        quote: dict,
        *,
        key: str | None = None,
        debit_id: str | None = None,
        purpose: str = "CONSUMPTION",
        accept: str | None = "quote",
        **consent: object,
    ) -> dict:
        """``consent`` overrides the input's consent fields (acceptedAt, ...), by name."""
        if debit_id is None:
            _, debit = await self.cards()
            debit_id = debit[0]["id"]
        version = quote["disclosure"]["version"] if accept == "quote" else accept
        variables = {
            "input": {
                "quoteId": quote["id"],
                "debitCardId": debit_id,
                "purpose": purpose,
                **accepted(quote),
                "acceptedDisclosureVersion": version,
                **consent,
                "idempotencyKey": key or str(uuid.uuid4()),
            }
        }
        return (await self.q(CREATE, variables))["data"]["createWithdrawal"]

    async def confirm(self, withdrawal_id: str, code: str = "123456") -> dict:
        body = await self.q(CONFIRM, {"id": withdrawal_id, "code": code})
        return body["data"]["confirmWithdrawal"]

    async def get(self, withdrawal_id: str) -> dict | None:
        return (await self.q(GET, {"id": withdrawal_id}))["data"]["withdrawal"]

    async def wait_for(self, withdrawal_id: str, *statuses: str, timeout: float = 10) -> dict:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            w = await self.get(withdrawal_id)
            if w["status"] in statuses:
                return w
            assert asyncio.get_running_loop().time() < deadline, f"still {w['status']}"
            await asyncio.sleep(0.05)
