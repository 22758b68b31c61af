"""Live status as JavaScript front ends receive it: the npm ``graphql-ws`` client over ``ws``."""

from __future__ import annotations

from tests.js.conftest import HERE
from tests.node import run_node


def test_graphql_ws_client_follows_a_withdrawal_and_a_stranger_sees_nothing(server):
    outcome = run_node(HERE / "withdrawal_status.mjs", server.url, timeout=120)
    assert outcome["ok"], outcome
    assert outcome["frame"] == {"isBinary": False, "message": {"type": "connection_ack"}}
    assert outcome["statuses"] == ["VERIFICATION_REQUIRED", "PROCESSING", "SUCCEEDED"]
    assert outcome["strangerPayloads"] == [{"data": {"withdrawal": None}}]
