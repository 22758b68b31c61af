"""/demo in Chromium at a phone's size, every non-local request blocked: the whole cash-advance
flow on the mini-program client, screenshots in tests/browser/artifacts/demo-*.png."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx

from tests.api.flow import accepted
from tests.browser.conftest import HERE
from tests.node import run_node
from tests.servers import ServerProcess, seeded_server_env

DOCUMENTS = HERE.parents[1] / "clients" / "miniprogram" / "documents"


def _gql(client: httpx.Client, name: str, variables: dict, token: str | None = None) -> dict:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    query = (DOCUMENTS / f"{name}.graphql").read_text(encoding="utf-8")
    body = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    body.raise_for_status()
    payload = body.json()
    assert "errors" not in payload, payload
    return payload["data"]


def _earlier_withdrawals(url: str, user: str, count: int) -> None:
    """Withdrawals the user made before (awaiting their code), so the history has pages."""
    with httpx.Client(base_url=url, timeout=30) as client:
        login = _gql(client, "Login", {"channel": "ALIPAY", "code": f"sandbox:{user}"})["login"]
        token = login["token"]
        for i in range(count):
            bank = ("SPABANK", "NBBANK")[i % 2]
            data = _gql(client, "BankOffer", {"code": bank, "channel": "ALIPAY"}, token)
            offer, debit = data["bank"]["offer"], data["viewer"]["debitCards"][0]
            quote = _gql(client, "CreateQuote", {"input": {
                "bankCode": bank, "creditCardId": offer["creditCardId"], "amount": f"{200 + i}.00",
                "repaymentType": "SINGLE_MONTH", "periods": 1}}, token)["createQuote"]
            made = _gql(client, "CreateWithdrawal", {"input": {
                "quoteId": quote["id"], "debitCardId": debit["id"], "purpose": "CONSUMPTION",
                "acceptedDisclosureVersion": quote["disclosure"]["version"], **accepted(quote),
                "idempotencyKey": str(uuid.uuid4())}}, token)["createWithdrawal"]
            assert made["__typename"] == "Withdrawal", made


def test_the_whole_flow_on_a_phone_with_the_internet_cut_off(dev_server):
    user = f"demo-{uuid.uuid4().hex[:8]}"
    _earlier_withdrawals(dev_server.url, user, 5)
    started = time.monotonic()
    outcome = run_node(HERE / "demo.mjs", dev_server.url, user, timeout=240)
    seconds = time.monotonic() - started
    assert outcome["failure"] is None, outcome
    assert outcome["blocked"] == [], "the demo tried to reach another host"
    assert outcome["violations"] == [], "the demo broke its own Content-Security-Policy"
    assert outcome["errors"] == [], outcome
    assert outcome["ok"], outcome
    assert outcome["facts"]["historyItems"] == 6
    for shot in outcome["shots"]:
        assert (HERE / "artifacts" / shot).stat().st_size > 10_000, shot
    print(f"\ndemo flow in Chromium: {seconds:.1f} s; screenshots: {', '.join(outcome['shots'])}")


def test_the_demo_is_served_only_its_own_files(dev_server):
    page = httpx.get(f"{dev_server.url}/demo")
    assert page.status_code == 200
    csp = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src", "img-src"):
        assert csp[name].split()[0] == "'self'", (name, csp)
    assert "https://" not in page.text and "<script>" not in page.text
    client = httpx.get(f"{dev_server.url}/demo/client/index.js")
    assert client.status_code == 200 and client.headers["content-type"].startswith("text/javascript")
    for probe in ("/demo/client/../../../pyproject.toml", "/demo/client/%2e%2e/package.json",
                  "/demo/..%2f..%2fsettings.py", "/demo/nothing.js", "/demo/client/"):
        assert httpx.get(f"{dev_server.url}{probe}").status_code == 404, probe


def test_prod_serves_no_demo_unless_enabled(database_url, tmp_path: Path):
    prod = {"env": "prod", "simulated_banks": "true"}
    env = seeded_server_env(database_url, tmp_path, **prod)
    with ServerProcess(env, tmp_path) as server:
        assert httpx.get(f"{server.url}/demo").status_code == 404
        assert httpx.get(f"{server.url}/demo/demo.js").status_code == 404
    enabled = seeded_server_env(database_url, tmp_path, demo="true", **prod)
    with ServerProcess(enabled, tmp_path) as server:
        assert httpx.get(f"{server.url}/demo").status_code == 200


async def test_without_the_client_the_demo_says_what_is_missing(tmp_path: Path):
    from starlette.requests import Request

    from api.http.pages import DemoPage

    page = DemoPage(client_dir=tmp_path / "nowhere")
    answer = await page.page(Request({"type": "http", "method": "GET", "headers": []}))
    assert answer.status_code == 503
    assert b"clients/miniprogram" in answer.body
