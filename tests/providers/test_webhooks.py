"""The SDK's callback signing: signature, replay window, secret rotation and clean parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from providers import CallbackEvent, ProviderError, ProviderErrorCode, WithdrawalState
from providers.webhooks import CallbackSigner, decode_event, encode_event, sign, verify

E = ProviderErrorCode
EVENT = CallbackEvent("w-1", "REF-1", WithdrawalState.SUCCEEDED, Decimal("500.00"), "CNY",
                      datetime(2026, 3, 10, 8, 30, tzinfo=UTC))
NOW = 1_800_000_000


def code_of(call) -> ProviderErrorCode:
    with pytest.raises(ProviderError) as caught:
        call()
    return caught.value.code


def test_a_signed_callback_round_trips_exactly():
    signer = CallbackSigner("s3cret", header="X-Bank-Signature", clock=lambda: NOW)
    headers, body = signer.signed(EVENT)
    assert headers["X-Bank-Signature"].startswith(f"t={NOW},v1=")
    assert json.loads(body)["amount"] == "500.00"
    assert signer.construct_event(headers, body) == EVENT
    assert signer.construct_event({k.lower(): v for k, v in headers.items()}, body) == EVENT


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 3_600])
def test_outside_the_replay_window_is_refused(offset):
    body = encode_event(EVENT)
    header = sign(body, "k", at=NOW + offset)
    assert code_of(lambda: verify(header, body, "k", now=NOW)) is E.INVALID_SIGNATURE
    assert verify(header, body, "k", now=NOW + offset) == NOW + offset


def test_inside_the_window_either_way_is_accepted():
    body = encode_event(EVENT)
    for offset in (-300, 0, 300):
        assert verify(sign(body, "k", at=NOW + offset), body, "k", now=NOW) == NOW + offset


@pytest.mark.parametrize("header", [None, "", "garbage", "t=abc,v1=00", f"t={NOW}", "v1=00",
                                    f"t={NOW},v1=" + "0" * 64, f"t={NOW + 1},v1=SIGNATURE"])
def test_missing_garbled_or_wrong_signatures_are_refused(header):
    body = encode_event(EVENT)
    real = sign(body, "k", at=NOW).split("v1=")[1]
    header = header.replace("SIGNATURE", real) if header else header
    assert code_of(lambda: verify(header, body, "k", now=NOW)) is E.INVALID_SIGNATURE


def test_a_tampered_body_or_another_secret_is_refused():
    body = encode_event(EVENT)
    header = sign(body, "k", at=NOW)
    assert code_of(lambda: verify(header, body.replace(b"500.00", b"5000.00"), "k", now=NOW)) is (
        E.INVALID_SIGNATURE)
    assert code_of(lambda: verify(header, body, "other", now=NOW)) is E.INVALID_SIGNATURE


def test_an_old_secret_is_accepted_while_it_is_rotated_out():
    body = encode_event(EVENT)
    old_header = sign(body, "old", at=NOW)
    rotating = CallbackSigner("new", old_secrets=("old",), clock=lambda: NOW)
    assert rotating.verify({"X-Cardcash-Signature": old_header}, body) == NOW
    assert code_of(lambda: CallbackSigner("new", clock=lambda: NOW).verify(
        {"X-Cardcash-Signature": old_header}, body)) is E.INVALID_SIGNATURE


def test_the_signature_is_checked_before_the_body_is_read():
    signer = CallbackSigner("k", clock=lambda: NOW)
    assert code_of(lambda: signer.construct_event({}, b"not json")) is E.INVALID_SIGNATURE


GOOD = json.loads(encode_event(EVENT))


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b"null", b"{}", b'"text"',
    *(json.dumps({k: v for k, v in GOOD.items() if k != key}).encode()
      for key in GOOD if key != "failure_reason"),
    json.dumps({**GOOD, "amount": 500.0}).encode(),
    json.dumps({**GOOD, "amount": "NaN"}).encode(),
    json.dumps({**GOOD, "amount": "lots"}).encode(),
    json.dumps({**GOOD, "state": "PAID"}).encode(),
    json.dumps({**GOOD, "occurred_at": "2026-03-10T08:30:00"}).encode(),
    json.dumps({**GOOD, "request_id": ""}).encode(),
    json.dumps({**GOOD, "failure_reason": 12}).encode(),
    b"[" * 100_000,
])
def test_a_malformed_body_is_an_invalid_response(body):
    assert code_of(lambda: decode_event(body)) is E.INVALID_RESPONSE


def test_expected_fields_must_match():
    body = encode_event(EVENT, bank_code="CEB")
    assert decode_event(body, expect={"bank_code": "CEB"}) == EVENT
    assert code_of(lambda: decode_event(body, expect={"bank_code": "SPDB"})) is (
        E.INVALID_RESPONSE)


def test_a_signer_with_its_own_clock_signs_and_checks_by_it():
    later = NOW + timedelta(hours=2).total_seconds()
    signer = CallbackSigner("k", clock=lambda: later)
    headers, body = signer.signed(EVENT)
    assert signer.construct_event(headers, body) == EVENT
    assert code_of(lambda: CallbackSigner("k", clock=lambda: NOW).construct_event(
        headers, body)) is E.INVALID_SIGNATURE
