"""The SDK's callback sender: retries with backoff, signs every attempt anew, gives up loudly,
and does not resend what the receiver refused.

A real HTTP receiver on 127.0.0.1 answers as scripted (an error status a given number of
times, then 200) and keeps what arrived, so the sender is judged by what went over the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from providers import CallbackEvent, WithdrawalState
from providers.webhooks import CallbackSender, CallbackSigner, decode_event, header_value

EVENT = CallbackEvent("w-7", "REF-7", WithdrawalState.SUCCEEDED, Decimal("1234.50"), "CNY",
                      datetime(2026, 3, 10, 8, 30, tzinfo=UTC))
HEADER = "X-Bank-Signature"


class Receiver:
    """Answers ``statuses`` in turn (the last one from then on); keeps (path, headers, body)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.arrived: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.arrived.append((self.path, dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else (
                    receiver.statuses[0])
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/callbacks/{{bank}}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made: list[Receiver] = []

    def make(statuses):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for r in made:
        r.close()


def ticking_signer() -> CallbackSigner:
    """A signer whose clock moves 100 s each time it is read, so each signing is visible."""
    ticks = itertools.count(1_800_000_000, 100)
    return CallbackSigner("s3cret", header=HEADER, clock=lambda: next(ticks))


async def test_a_callback_is_retried_until_the_receiver_takes_it(receiver):
    bank = receiver([503, 500, 200])
    signer = ticking_signer()
    sender = CallbackSender(bank.url, signer, bank_code="MYBANK", backoff_s=0.01)
    try:
        assert await sender.deliver(EVENT) is True
    finally:
        await sender.aclose()
    assert len(bank.arrived) == 3
    stamps = []
    for path, headers, body in bank.arrived:
        assert path == "/callbacks/MYBANK"
        header = header_value(headers, HEADER)
        stamp = int(header.split(",")[0].removeprefix("t="))
        stamps.append(stamp)
        # Each attempt verifies on its own, at the time it was signed.
        check = CallbackSigner("s3cret", header=HEADER, tolerance_s=1, clock=lambda s=stamp: s)
        assert check.construct_event(headers, body) == EVENT
        assert decode_event(body) == EVENT
    assert stamps == sorted(set(stamps)), "a retry reused an earlier attempt's signature"


async def test_a_callback_nobody_takes_is_given_up_after_its_attempts_and_logged(
    receiver, caplog
):
    bank = receiver([500])
    sender = CallbackSender(bank.url, ticking_signer(), bank_code="MYBANK", attempts=3,
                            backoff_s=0.01)
    caplog.set_level(logging.WARNING, logger="cardcash.providers")
    try:
        assert await sender.deliver(EVENT) is False
    finally:
        await sender.aclose()
    assert len(bank.arrived) == 3
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == ["bank=MYBANK callback for w-7 not delivered after 3 attempts (HTTP 500)"]


@pytest.mark.parametrize("status", [400, 404, 413])
async def test_a_callback_the_receiver_refuses_is_not_sent_again(receiver, caplog, status):
    bank = receiver([status, 200])
    sender = CallbackSender(bank.url, ticking_signer(), bank_code="MYBANK", backoff_s=0.01)
    caplog.set_level(logging.WARNING, logger="cardcash.providers")
    try:
        assert await sender.deliver(EVENT) is False
    finally:
        await sender.aclose()
    assert len(bank.arrived) == 1
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [f"bank=MYBANK callback for w-7 refused by the receiver (HTTP {status}): "
                      "not retried"]


@pytest.mark.parametrize("status", [408, 425, 429, 502])
async def test_a_busy_or_failing_receiver_is_tried_again(receiver, status):
    bank = receiver([status, 200])
    sender = CallbackSender(bank.url, ticking_signer(), bank_code="MYBANK", backoff_s=0.01)
    try:
        assert await sender.deliver(EVENT) is True
    finally:
        await sender.aclose()
    assert len(bank.arrived) == 2


async def test_an_unreachable_receiver_is_retried_then_given_up(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = CallbackSender(f"http://127.0.0.1:{port}/callbacks/{{bank}}", ticking_signer(),
                            bank_code="MYBANK", attempts=2, backoff_s=0.01)
    caplog.set_level(logging.WARNING, logger="cardcash.providers")
    try:
        assert await sender.deliver(EVENT) is False
    finally:
        await sender.aclose()
    assert any("after 2 attempts (ConnectError)" in r.getMessage() for r in caplog.records)


async def test_send_returns_at_once_and_close_cancels_what_is_still_retrying(receiver):
    slow = receiver([503])
    sender = CallbackSender(slow.url, ticking_signer(), bank_code="MYBANK", attempts=50,
                            backoff_s=0.2)
    task = sender.send(EVENT)
    assert not task.done()
    await asyncio.sleep(0.05)
    await sender.aclose(grace_s=0.1)
    assert task.cancelled()
    tried = len(slow.arrived)
    await asyncio.sleep(0.3)
    assert 1 <= tried == len(slow.arrived) < 50
