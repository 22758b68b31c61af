"""The operator surface: /admin/graphql behind operator tokens, and `cardcash admin`."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlmodel import func, select

from db.models import AuditEntry, BankChannel, Operator
from tests.api.flow import User
from tests.api.test_cli import _env, run
from tests.conftest import FAST_BANKS

SET_BANK = """mutation($input: SetBankChannelInput!) { setBankChannel(input: $input) {
  bankCode channel availability inFlight rollout { users percent sandboxUsers } } }"""
AUDIT = "{ auditLog { actor action target before after } }"
LOOKUP = """query($q: String!) { withdrawal(idOrReference: $q) { id status bankReference
  creditCard debitCard userChannel amount events { fromStatus toStatus source detail } } }"""


async def admin(client, query: str, variables: dict | None = None, token: str | None = None,
                **headers: str):
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await client.post(
        "/admin/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )


async def operator_token(app, name: str = "ops-ann") -> str:
    return (await app.state.services.operators.create(name, actor="cli:test"))[1]


async def audit_count(app) -> int:
    async with app.state.services.db.read() as session:
        return (await session.exec(select(func.count()).select_from(AuditEntry))).one()


async def ceb_alipay(app) -> BankChannel:
    async with app.state.services.db.read() as session:
        return await session.get(BankChannel, ("CEB", "ALIPAY"))


async def test_the_operator_api_is_off_unless_configured(client, app):
    token = await operator_token(app)
    response = await admin(client, "{ me { name } }", token=token)
    assert response.status_code == 404


class TestRefusedWithoutOperatorCredentials:
    """Every way of asking without a live operator token is refused before anything runs,
    and changes nothing."""

    SUSPEND = {"input": {"bankCode": "CEB", "channel": "ALIPAY", "availability": "SUSPENDED"}}

    @pytest.fixture
    async def served(self, start_app):
        client, app = await start_app(admin=True)
        return client, app

    async def _refused(self, client, app, **headers):
        before = (await ceb_alipay(app)).availability, await audit_count(app)
        response = await client.post(
            "/admin/graphql", json={"query": SET_BANK, "variables": self.SUSPEND}, headers=headers
        )
        assert response.status_code == 401, response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert ((await ceb_alipay(app)).availability, await audit_count(app)) == before
        return response

    async def test_no_token(self, served):
        await self._refused(*served)

    async def test_a_users_session_token(self, served):
        client, app = served
        user = await User.sign_in(client, "not-an-operator")
        await self._refused(client, app, **user.headers)
        # The same token is good on the users' API: it is refused here for what it is.
        assert (await user.q("{ viewer { id } }"))["data"]["viewer"]["id"]

    @pytest.mark.parametrize(
        "header",
        [
            "Bearer cco_" + "A" * 43,  # the shape of a token, but no operator's
            "Bearer cco_short",
            "Basic b3BzOm9wcw==",
            "Bearer ",
            "cco_" + "A" * 43,
        ],
    )
    async def test_a_wrong_token(self, served, header):
        await self._refused(*served, authorization=header)

    async def test_a_revoked_token(self, served):
        client, app = served
        token = await operator_token(app, "ops-leaver")
        assert (await admin(client, "{ me { name } }", token=token)).status_code == 200
        await app.state.services.operators.revoke("ops-leaver", actor="cli:test")
        await self._refused(client, app, authorization=f"Bearer {token}")

    async def test_get_is_not_served(self, served):
        client, app = served
        token = await operator_token(app)
        response = await client.get(
            "/admin/graphql", params={"query": "{ me { name } }"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert response.status_code == 405


async def test_tokens_are_kept_hashed(start_app):
    client, app = await start_app(admin=True)
    token = await operator_token(app)
    async with app.state.services.db.read() as session:
        row = (await session.exec(select(Operator))).one()
    assert token not in repr(row.model_dump()) and len(row.token_hash) == 64


async def test_bank_rollout_changes_take_effect_and_are_audited(start_app):
    client, app = await start_app(admin=True)
    token = await operator_token(app)
    user = await User.sign_in(client, "admin-pilot")
    user_id = (await user.q("{ viewer { id } }"))["data"]["viewer"]["id"]

    closed = {"bankCode": "CEB", "channel": "ALIPAY", "sandboxUsers": False}
    body = (await admin(client, SET_BANK, {"input": closed}, token=token)).json()
    assert body["data"]["setBankChannel"]["rollout"] == {
        "users": [], "percent": "0.00", "sandboxUsers": False
    }
    ceb = "{ bank(code: \"CEB\", channel: ALIPAY) { usable unusableReason } }"
    assert (await user.q(ceb))["data"]["bank"] == {
        "usable": False, "unusableReason": "NOT_IN_PILOT"
    }
    opened = {"bankCode": "CEB", "channel": "ALIPAY", "addUsers": [user_id], "percent": "5"}
    body = (await admin(client, SET_BANK, {"input": opened}, token=token)).json()
    assert body["data"]["setBankChannel"]["rollout"]["users"] == [user_id]
    assert (await user.q(ceb))["data"]["bank"] == {"usable": True, "unusableReason": None}

    suspend = {"bankCode": "CEB", "channel": "ALIPAY", "availability": "SUSPENDED"}
    await admin(client, SET_BANK, {"input": suspend}, token=token)
    assert (await user.q(ceb))["data"]["bank"] is None

    log = (await admin(client, AUDIT, token=token)).json()["data"]["auditLog"]
    changes = [e for e in log if e["action"] == "bank.set"]
    assert [e["target"] for e in changes] == ["CEB/ALIPAY"] * 3
    assert {e["actor"] for e in changes} == {"operator:ops-ann"}
    newest, middle, oldest = changes
    assert oldest["before"]["pilot"]["sandbox_users"] is True
    assert oldest["after"]["pilot"]["sandbox_users"] is False
    assert middle["after"]["pilot"] == {
        "users": [user_id], "percent": "5.00", "sandbox_users": False
    }
    assert (newest["before"]["availability"], newest["after"]["availability"]) == (
        "PILOT", "SUSPENDED",
    )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"bankCode": "NOPE", "channel": "ALIPAY", "availability": "LIVE"}, "NOT_FOUND"),
        ({"bankCode": "CEB", "channel": "ALIPAY", "percent": "120"}, "INVALID"),
        ({"bankCode": "CEB", "channel": "ALIPAY", "addUsers": ["bob"]}, "INVALID"),
    ],
)
async def test_a_bad_change_is_refused_and_changes_nothing(start_app, change, code):
    client, app = await start_app(admin=True)
    token = await operator_token(app)
    before = (await ceb_alipay(app)).model_dump(), await audit_count(app)
    body = (await admin(client, SET_BANK, {"input": change}, token=token)).json()
    assert body["errors"][0]["extensions"]["code"] == code
    assert ((await ceb_alipay(app)).model_dump(), await audit_count(app)) == before


async def test_stuck_withdrawals_a_forced_sync_and_the_lookup(start_app):
    # No status sync in this process: the withdrawal stays PROCESSING until forced.
    client, app = await start_app(admin=True, status_sync=False)
    token = await operator_token(app)
    user = await User.sign_in(client, "admin-stuck")
    withdrawal = await user.withdraw(await user.quote("CEB", "1000.00"))
    if withdrawal["status"] == "VERIFICATION_REQUIRED":
        withdrawal = await user.confirm(withdrawal["id"])
    assert withdrawal["status"] == "PROCESSING"
    await asyncio.sleep(1.2)  # past the bank's settlement (0.3 s) and the 1 s threshold

    stuck = """{ stuckWithdrawals(olderThanSeconds: 1) { status withdrawals { id bankCode
      stuckSeconds } } }"""
    groups = (await admin(client, stuck, token=token)).json()["data"]["stuckWithdrawals"]
    by_status = {g["status"]: g["withdrawals"] for g in groups}
    assert set(by_status) == {"PENDING", "VERIFICATION_REQUIRED", "PROCESSING"}
    assert [w["id"] for w in by_status["PROCESSING"]] == [withdrawal["id"]]
    assert by_status["PROCESSING"][0]["stuckSeconds"] >= 1
    later = "{ stuckWithdrawals(olderThanSeconds: 3600) { withdrawals { id } } }"
    assert all(
        not g["withdrawals"]
        for g in (await admin(client, later, token=token)).json()["data"]["stuckWithdrawals"]
    )

    sync = "mutation($id: ID!) { forceStatusSync(withdrawalId: $id) { id status } }"
    body = (await admin(client, sync, {"id": withdrawal["id"]}, token=token)).json()
    assert body["data"]["forceStatusSync"]["status"] == "SUCCEEDED"
    again = (await admin(client, sync, {"id": withdrawal["id"]}, token=token)).json()
    assert again["errors"][0]["extensions"]["code"] == "INVALID_STATE"
    entry = (await admin(client, AUDIT, token=token)).json()["data"]["auditLog"][0]
    assert entry == {
        "actor": "operator:ops-ann", "action": "withdrawal.sync", "target": withdrawal["id"],
        "before": {"status": "PROCESSING"}, "after": {"status": "SUCCEEDED"},
    }

    found = (await admin(client, LOOKUP, {"q": withdrawal["id"]}, token=token)).json()
    record = found["data"]["withdrawal"]
    assert record["status"] == "SUCCEEDED" and record["userChannel"] == "ALIPAY"
    assert [e["toStatus"] for e in record["events"]][-1] == "SUCCEEDED"
    assert "STATUS_SYNC" in {e["source"] for e in record["events"]}
    assert re.fullmatch(r"\*{4} \*{4} \*{4} \d{4}", record["creditCard"])
    assert re.fullmatch(r"\*{4} \*{4} \*{4} \d{4}", record["debitCard"])
    by_reference = await admin(client, LOOKUP, {"q": record["bankReference"]}, token=token)
    assert by_reference.json()["data"]["withdrawal"]["id"] == withdrawal["id"]
    missing = await admin(client, LOOKUP, {"q": "no-such-reference"}, token=token)
    assert missing.json()["data"]["withdrawal"] is None


async def test_provider_health_shows_the_guards_figures(start_app):
    client, app = await start_app(
        admin=True, banks_blocked=["CITIC"], bank_options=FAST_BANKS
    )
    token = await operator_token(app)
    user = await User.sign_in(client, "admin-health")
    await user.cards()
    query = """{ providerHealth { bankCode pluginStatus reason breakerState calls
      outcomes recentCalls errorRate latencyP50Ms latencyP95Ms } }"""
    rows = {
        r["bankCode"]: r
        for r in (await admin(client, query, token=token)).json()["data"]["providerHealth"]
    }
    ceb = rows["CEB"]
    assert ceb["pluginStatus"] == "loaded" and ceb["breakerState"] == "closed"
    assert ceb["calls"] >= 1 and ceb["outcomes"]["ok"] >= 1 and ceb["errorRate"] == 0
    assert ceb["latencyP50Ms"] is not None and ceb["latencyP95Ms"] >= ceb["latencyP50Ms"]
    assert rows["CITIC"]["pluginStatus"] == "blocked" and rows["CITIC"]["breakerState"] is None


def test_cardcash_admin_commands(tmp_path, database_url):
    env = _env(tmp_path, database_url)
    assert run(["migrate"], env, tmp_path).returncode == 0
    assert run(["seed"], env, tmp_path).returncode == 0

    created = run(["admin", "operator", "create", "ops-cli"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.splitlines()[-1]
    assert re.fullmatch(r"cco_[A-Za-z0-9_-]{43}", token)
    duplicate = run(["admin", "operator", "create", "ops-cli"], env, tmp_path)
    assert duplicate.returncode != 0 and "CONFLICT" in duplicate.stderr

    changed = run(
        ["admin", "bank", "CEB", "alipay", "--availability", "live", "--sandbox-users", "no"],
        env, tmp_path,
    )
    assert changed.returncode == 0, changed.stderr
    assert re.match(r"CEB\s+ALIPAY\s+LIVE", changed.stdout)
    refused = run(["admin", "bank", "CEB", "ALIPAY", "--percent", "lots"], env, tmp_path)
    assert refused.returncode != 0 and "INVALID" in refused.stderr

    banks = run(["admin", "banks"], env, tmp_path).stdout
    assert re.search(r"CEB\s+ALIPAY\s+LIVE", banks) and re.search(r"SPABANK\s+ALIPAY\s+PILOT", banks)
    revoked = run(["admin", "operator", "revoke", "ops-cli"], env, tmp_path)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout

    audit = run(["admin", "audit"], env, tmp_path).stdout.splitlines()
    actions = [line.split()[4] for line in audit]
    assert actions == ["operator.revoke", "bank.set", "operator.create"]
    assert all(line.split()[3].startswith("cli:") for line in audit)
    assert '"availability": "PILOT"' in audit[1] and '"availability": "LIVE"' in audit[1]

    health = run(["admin", "health"], env, tmp_path)
    assert health.returncode == 0 and re.search(r"CEB\s+loaded\s+breaker closed\s+healthy",
                                                health.stdout)
    assert run(["admin", "withdrawal", "wdr_nothing"], env, tmp_path).returncode == 1
