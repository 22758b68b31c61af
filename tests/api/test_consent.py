"""Evidence of consent: what the user accepted (the disclosure's digest, the data-sharing
consent) and when by their own clock, bounded by the quote's life, and the export of it all."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from db.models import AuditEntry, Withdrawal
from tests.api.flow import User, accepted, shown_digest
from tests.api.test_admin import admin, operator_token
from tests.api.test_cli import _env, run

EVIDENCE = "query($id: ID!) { withdrawalEvidence(id: $id) }"
CONSENT = "acceptedAt acceptedDisclosureDigest acceptedDataSharingVersion acceptedDisclosureVersion"


async def withdrawals(app) -> int:
    async with app.state.services.db.read() as session:
        return (await session.exec(select(func.count()).select_from(Withdrawal))).one()


def at(text: str, **delta: float) -> datetime:
    return datetime.fromisoformat(text) + timedelta(**delta)


async def test_the_quote_serves_the_data_sharing_consent_in_the_users_language(client):
    user = await User.sign_in(client, "consent-lang")
    zh = await user.quote("CEB", "2000.00", "INSTALLMENT", 6)
    user.headers["Accept-Language"] = "en"
    en = await user.quote("CEB", "2000.00", "INSTALLMENT", 6)
    for quote in (zh, en):
        consent = quote["dataSharingConsent"]
        assert consent["version"] == "CEB+ds1"
        assert consent["digest"] == shown_digest(consent["version"], consent["text"])
        assert quote["disclosure"]["digest"] == shown_digest(
            quote["disclosure"]["version"], quote["disclosure"]["text"]
        )
        # Its own consent: none of its text is in the disclosure.
        assert consent["text"] not in quote["disclosure"]["text"]
    assert "个人信息" in zh["dataSharingConsent"]["text"] and "光大" in zh["dataSharingConsent"]["text"]
    assert "personal information" in en["dataSharingConsent"]["text"]
    assert "Everbright" in en["dataSharingConsent"]["text"]
    # One version, two texts: the digest tells which the user read.
    assert zh["dataSharingConsent"]["digest"] != en["dataSharingConsent"]["digest"]


async def test_a_withdrawal_records_what_was_accepted_and_when(client):
    user = await User.sign_in(client, "consent-when")
    quote = await user.quote("SPABANK", "1200.00", "SINGLE_MONTH", 1)
    stated = at(quote["createdAt"], seconds=0.25)
    await asyncio.sleep(0.5)  # received later than accepted
    made = await user.withdraw(quote, acceptedAt=stated.isoformat())
    assert made["__typename"] == "Withdrawal", made
    w = (await user.q("query($id: ID!) { withdrawal(id: $id) { " + CONSENT + " createdAt } }",
                      {"id": made["id"]}))["data"]["withdrawal"]
    assert datetime.fromisoformat(w["acceptedAt"]) == stated
    assert datetime.fromisoformat(w["createdAt"]) >= stated + timedelta(seconds=0.2)
    assert w["acceptedDisclosureDigest"] == quote["disclosure"]["digest"]
    assert w["acceptedDataSharingVersion"] == quote["dataSharingConsent"]["version"]


async def test_a_client_clock_a_little_ahead_is_accepted(client):
    user = await User.sign_in(client, "consent-skew")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    ahead = datetime.now(UTC) + timedelta(seconds=90)
    made = await user.withdraw(quote, acceptedAt=ahead.isoformat())
    assert made["__typename"] == "Withdrawal", made


def _refusals() -> list:
    def other_digest(q):
        return {"acceptedDisclosureDigest": hashlib.sha256(b"something else").hexdigest()}

    def edited_text(q):  # the text shown was not the quote's: one character changed
        d = q["disclosure"]
        return {"acceptedDisclosureDigest": shown_digest(d["version"], d["text"] + " ")}

    def other_version_digest(q):
        return {"acceptedDisclosureDigest": shown_digest("CEB-AGR-0+d1", q["disclosure"]["text"])}

    return [
        pytest.param(other_digest, "DISCLOSURE_NOT_ACCEPTED", "acceptedDisclosureDigest",
                     id="another-digest"),
        pytest.param(edited_text, "DISCLOSURE_NOT_ACCEPTED", "acceptedDisclosureDigest",
                     id="edited-text"),
        pytest.param(other_version_digest, "DISCLOSURE_NOT_ACCEPTED", "acceptedDisclosureDigest",
                     id="other-version-digest"),
        pytest.param(lambda q: {"acceptedDisclosureDigest": ""}, "DISCLOSURE_NOT_ACCEPTED",
                     "acceptedDisclosureDigest", id="empty-digest"),
        pytest.param(lambda q: {"acceptedAt": at(q["createdAt"], seconds=-1).isoformat()},
                     "DISCLOSURE_NOT_ACCEPTED", "acceptedAt", id="before-the-quote"),
        pytest.param(lambda q: {"acceptedAt": at(q["createdAt"], days=-400).isoformat()},
                     "DISCLOSURE_NOT_ACCEPTED", "acceptedAt", id="long-before"),
        pytest.param(lambda q: {"acceptedAt": q["expiresAt"]},
                     "DISCLOSURE_NOT_ACCEPTED", "acceptedAt", id="at-expiry"),
        pytest.param(lambda q: {"acceptedAt": at(q["createdAt"], minutes=5).isoformat()},
                     "DISCLOSURE_NOT_ACCEPTED", "acceptedAt", id="in-the-future"),
        pytest.param(lambda q: {"acceptedDataSharingVersion": ""},
                     "DATA_SHARING_NOT_ACCEPTED", "acceptedDataSharingVersion", id="no-sharing"),
        pytest.param(lambda q: {"acceptedDataSharingVersion": "SPDB+ds1"},
                     "DATA_SHARING_NOT_ACCEPTED", "acceptedDataSharingVersion",
                     id="another-banks-sharing"),
        pytest.param(lambda q: {"acceptedDataSharingVersion": q["disclosure"]["version"]},
                     "DATA_SHARING_NOT_ACCEPTED", "acceptedDataSharingVersion",
                     id="disclosure-as-sharing"),
    ]


@pytest.mark.parametrize(("change", "code", "field"), _refusals())
async def test_a_consent_that_does_not_hold_is_refused_and_changes_nothing(
    client, app, change, code, field
):
    user = await User.sign_in(client, "consent-refused")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    refused = await user.withdraw(quote, **change(quote))
    assert refused["__typename"] == "QuoteError", refused
    assert refused["code"] == code and refused["field"] == field, refused
    assert await withdrawals(app) == 0
    # The same quote, accepted as shown, still works: nothing was used up.
    assert (await user.withdraw(quote))["__typename"] == "Withdrawal"


@pytest.mark.parametrize("stated", ["2026-12-07T20:00:00", "yesterday", ""])
async def test_a_time_of_acceptance_without_its_offset_is_refused(client, app, stated):
    user = await User.sign_in(client, "consent-naive")
    quote = await user.quote("CEB", "1000.00", "INSTALLMENT", 3)
    body = await user.q(
        "mutation($input: CreateWithdrawalInput!) { createWithdrawal(input: $input) { "
        "__typename } }",
        {"input": {"quoteId": quote["id"], "debitCardId": (await user.cards())[1][0]["id"],
                   "purpose": "CONSUMPTION", "acceptedDisclosureVersion":
                   quote["disclosure"]["version"], **accepted(quote), "acceptedAt": stated,
                   "idempotencyKey": "naive-time-1"}},
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    assert await withdrawals(app) == 0


async def test_the_evidence_of_a_withdrawal_holds_what_was_shown_accepted_and_booked(
    start_app, database_url, tmp_path
):
    client, app = await start_app(admin=True)
    token = await operator_token(app)
    user = await User.sign_in(client, "consent-export")
    quote = await user.quote("CEB", "3000.00", "INSTALLMENT", 12)
    stated = at(quote["createdAt"], seconds=0.1)
    await asyncio.sleep(0.3)  # the user reads, accepts, and the request arrives later
    made = await user.withdraw(quote, acceptedAt=stated.isoformat())
    if made["status"] == "VERIFICATION_REQUIRED":
        made = await user.confirm(made["id"])
    for _ in range(50):
        if (await user.get(made["id"]))["status"] == "SUCCEEDED":
            break
        await asyncio.sleep(0.1)
    body = (await admin(client, EVIDENCE, {"id": made["id"]}, token=token)).json()
    document = body["data"]["withdrawalEvidence"]
    assert document["format"] == "cardcash-withdrawal-evidence/1"
    shown, consent = document["shown"], document["accepted"]
    assert shown["quote"]["id"] == quote["id"] and shown["quote"]["apr"] == quote["apr"]
    assert shown["quote"]["platform_fee"] == "0.00"
    assert [p["total"] for p in shown["quote"]["schedule"]] == [
        p["total"]["amount"] for p in quote["schedule"]
    ]
    assert shown["disclosure"]["text"] == quote["disclosure"]["text"]
    assert shown["data_sharing_consent"]["text"] == quote["dataSharingConsent"]["text"]
    # Anyone can check the digests against the texts kept, without cardcash.
    for part in ("disclosure", "data_sharing_consent"):
        kept = shown[part]
        assert consent[part]["digest"] == shown_digest(kept["version"], kept["text"])
        assert consent[part]["matches"] is True
    assert datetime.fromisoformat(consent["accepted_at_client"]) == stated
    assert datetime.fromisoformat(consent["received_at"]) > stated
    booked = document["booked"]
    assert booked["status"] == "SUCCEEDED" and booked["bank_reference"]
    moves = [(e["from_status"], e["to_status"]) for e in document["events"]]
    assert moves[0] == (None, "PENDING") and moves[-1][1] == "SUCCEEDED"
    assert document["withdrawal"]["debit_card"].startswith("**** **** **** ")

    async with app.state.services.db.read() as session:
        entry = (await session.exec(select(AuditEntry).order_by(AuditEntry.id.desc()))).first()
    assert (entry.actor, entry.action, entry.target) == (
        "operator:ops-ann", "withdrawal.export", made["id"]
    )
    missing = (await admin(client, EVIDENCE, {"id": "wdr_nothing"}, token=token)).json()
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    # The same document from a shell, for an operator without the API.
    env = _env(tmp_path, database_url)
    printed = await asyncio.to_thread(run, ["admin", "evidence", made["id"]], env, tmp_path)
    assert printed.returncode == 0, printed.stderr
    from_cli = json.loads(printed.stdout)
    assert from_cli["accepted"] == consent and from_cli["shown"] == shown
    absent = await asyncio.to_thread(run, ["admin", "evidence", "wdr_nothing"], env, tmp_path)
    assert absent.returncode != 0 and "NOT_FOUND" in absent.stderr


@pytest.mark.parametrize("literal", ['""', '"2026-12-07T20:00:00"', '"soon"', "12"])
async def test_a_bad_time_written_in_the_document_is_the_clients_mistake(client, literal):
    user = await User.sign_in(client, "consent-literal")
    body = await user.q(
        "mutation { createWithdrawal(input: {quoteId: \"q\", debitCardId: \"d\", "
        "purpose: CONSUMPTION, acceptedDisclosureVersion: \"v\", acceptedDisclosureDigest: "
        f"\"x\", acceptedAt: {literal}, acceptedDataSharingVersion: \"s\", "
        "idempotencyKey: \"literal-time\"}) { __typename } }"
    )
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", body
