"""Production as shipped: no "Did you mean …?" for anything misspelt, no simulated banks, and a
forged bank callback refused."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from api.banks.sandbox import callback_secret, sign_callback
from api.schema import build_schema
from providers import CallbackEvent, WithdrawalState
from tests.api.flow import User

# Each misspells something the schema has; dev answers with a suggestion for each.
MISSPELT = {
    "field": ("{ banks(channel: ALIPAY) { cod } }", None),
    "field in a fragment": (
        "query { banks(channel: ALIPAY) { ...F } } fragment F on Bank { nam }",
        None,
    ),
    "argument": ("{ banks(chanel: ALIPAY) { code } }", None),
    "enum value": ("{ banks(channel: ALIPY) { code } }", None),
    "type of a variable": (
        "query($c: Chanel!) { banks(channel: $c) { code } }",
        {"c": "ALIPAY"},
    ),
    "type condition": ("{ banks(channel: ALIPAY) { ... on Bnk { code } } }", None),
    "enum value in a variable": (
        "query($c: Channel!) { banks(channel: $c) { code } }",
        {"c": "ALIPY"},
    ),
    "input field": (
        'mutation { login(input: {channel: WECHAT, cod: "x"}) { __typename } }',
        None,
    ),
    "input field in a variable": (
        "mutation($i: LoginInput!) { login(input: $i) { __typename } }",
        {"i": {"channel": "WECHAT", "code": "x", "cod": "y"}},
    ),
    "enum value inside an input variable": (
        "mutation($i: LoginInput!) { login(input: $i) { __typename } }",
        {"i": {"channel": "WECHT", "code": "x"}},
    ),
}


async def _errors(client, query: str, variables) -> list[dict]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    errors = response.json().get("errors")
    assert errors, response.text
    return errors


@pytest.mark.parametrize("case", list(MISSPELT))
async def test_prod_never_suggests_what_exists(serve, case):
    query, variables = MISSPELT[case]
    async with serve(env="dev") as dev:
        assert "Did you mean" in str(await _errors(dev, query, variables))
    async with serve(env="prod") as prod:
        errors = await _errors(prod, query, variables)
    text = str(errors)
    assert "Did you mean" not in text and "did you mean" not in text.lower()
    # Still a clear, located error, as a client sees it in dev, less the hint.
    assert all(e["message"] and e["message"] != "Internal error" for e in errors)


async def test_suggestions_can_be_turned_on_in_prod_and_off_in_dev(serve):
    query, variables = MISSPELT["field"]
    async with serve(env="prod", suggestions=True) as prod:
        assert "Did you mean" in str(await _errors(prod, query, variables))
    async with serve(env="dev", suggestions=False) as dev:
        assert "Did you mean" not in str(await _errors(dev, query, variables))


@pytest.mark.parametrize("suggestions", [True, False])
async def test_a_misspelt_subscription_suggests_only_where_allowed(suggestions):
    schema = build_schema(introspection=False, suggestions=suggestions)
    for document in (
        "subscription($id: ID!) { withdrawal(id: $id) { statuss } }",
        "subscription($id: IDD!) { withdrawal(id: $id) { status } }",
        "subscription($id: ID!) { withdrawal(idd: $id) { status } }",
    ):
        stream = await schema.subscribe(document, variable_values={"id": "x"})
        result = stream if hasattr(stream, "errors") else await anext(aiter(stream))
        assert result.errors, document
        assert ("Did you mean" in str(result.errors)) is suggestions, result.errors


async def test_prod_serves_no_simulated_bank(serve):
    async with serve(env="prod") as prod:
        services = prod.app.state.services
        assert services.registry.codes == [] and services.registry.simulated == []
        # The catalog still lists the banks; none can be used until its real plugin is in.
        body = (
            await prod.post("/graphql", json={"query": "{ banks(channel: ALIPAY) { code } }"})
        ).json()
        assert body["data"]["banks"]
        headers, body = sign_callback(
            {"bank_code": "CEB"}, bank_code="CEB", secret=callback_secret("CEB", services.settings.data_dir)
        )
        refused = await prod.post("/callbacks/CEB", content=body, headers=headers)
        assert refused.status_code == 404


OLD_SECRET = hashlib.sha256(b"cardcash-sandbox-callback:CEB").hexdigest()  # public, derived


def _event(withdrawal_id: str) -> CallbackEvent:
    return CallbackEvent(
        request_id=withdrawal_id, bank_reference="CEB-REF", state=WithdrawalState.SUCCEEDED,
        amount=Decimal("1000.00"), currency="CNY", occurred_at=datetime.now(UTC),
    )


async def test_prod_with_simulated_banks_refuses_callbacks_signed_the_old_way(serve):
    async with serve(env="prod", simulated_banks=True) as prod:
        registry = prod.app.state.services.registry
        assert registry.simulated == registry.codes != []
        # The signature is checked before anything is looked up: refused as unverifiable.
        headers, body = sign_callback(
            _event("wdr_aaaaaaaaaaaaaaaaaaaaaaaaaa"), bank_code="CEB", secret=OLD_SECRET
        )
        answer = await prod.post("/callbacks/CEB", content=body, headers=headers)
        assert answer.status_code == 400 and "verified" in answer.json()["reason"]


async def test_a_forged_callback_never_settles_a_withdrawal(serve):
    slow = {"*": {"latency_ms": "0", "failure_rate": "0", "settlement_delay_s": "3600"}}
    async with serve(env="dev", bank_options=slow, status_sync=False) as dev:
        data_dir = dev.app.state.services.settings.data_dir
        user = await User.sign_in(dev, "victim")
        made = await user.withdraw(await user.quote("CEB", "1000.00", "SINGLE_MONTH", 1))
        if made["status"] == "VERIFICATION_REQUIRED":
            made = await user.confirm(made["id"])
        assert made["status"] == "PROCESSING", made
        for forged in (OLD_SECRET, callback_secret("CEB", data_dir.parent / "another-install"),
                       callback_secret("SPDB", data_dir)):
            headers, body = sign_callback(_event(made["id"]), bank_code="CEB", secret=forged)
            answer = await dev.post("/callbacks/CEB", content=body, headers=headers)
            assert answer.status_code == 400, answer.text
        assert (await user.get(made["id"]))["status"] == "PROCESSING"
        # The bank's own signature still goes through.
        headers, body = sign_callback(
            _event(made["id"]), bank_code="CEB", secret=callback_secret("CEB", data_dir)
        )
        answer = await dev.post("/callbacks/CEB", content=body, headers=headers)
        assert answer.json() == {"status": "applied"}
        assert (await user.get(made["id"]))["status"] == "SUCCEEDED"
