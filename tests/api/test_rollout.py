"""Rollout per bank and channel: a PILOT bank is open to its allow-list, to a share of users
chosen from their ids, or to sandbox users; everyone else sees it as not usable, with why."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from api.services.catalog import (
    DEFAULT_CATALOG_FILE,
    CatalogFileError,
    Rollout,
    read_catalog_file,
    rollout_bucket,
    seed_catalog,
)
from api.services.ids import derived_id
from tests.api.flow import User
from tests.conftest import FAST_BANKS, gql
from tests.servers import ServerProcess, server_env

PAGE = """{ viewer { id creditCards { bankCode } }
  banks(channel: ALIPAY) { code availability usable unusableReason
    offer { __typename ... on Error { code } } } }"""


def catalog_with(tmp_path: Path, ceb_alipay: str) -> Path:
    """The shipped catalog with CEB's Alipay entry replaced by ``ceb_alipay``."""
    text = DEFAULT_CATALOG_FILE.read_text(encoding="utf-8")
    start = text.index("channels.ALIPAY", text.index('code = "CEB"'))
    end = text.index("\n", start)
    path = tmp_path / "catalog.toml"
    path.write_text(text[:start] + f"channels.ALIPAY = {ceb_alipay}" + text[end:], "utf-8")
    return path


async def page(user: User) -> tuple[str, dict[str, dict], set[str]]:
    data = (await user.q(PAGE))["data"]
    cards = {c["bankCode"] for c in data["viewer"]["creditCards"]}
    return data["viewer"]["id"], {b["code"]: b for b in data["banks"]}, cards


async def test_only_allow_listed_users_get_the_pilot_banks_offer(client, app, tmp_path):
    listed = await User.sign_in(client, "pilot-in")
    other = await User.sign_in(client, "pilot-out")
    listed_id, _, _ = await page(listed)
    path = catalog_with(
        tmp_path, f'{{ availability = "PILOT", pilot = {{ users = ["{listed_id}"] }}, position = 2 }}'
    )
    await seed_catalog(app.state.services.db, path)
    app.state.services.catalog.invalidate()

    _, banks, cards = await page(listed)
    assert banks["CEB"]["usable"] is True and banks["CEB"]["unusableReason"] is None
    assert banks["CEB"]["offer"]["__typename"] == "CashAdvanceOffer"
    assert "CEB" in cards
    assert (await listed.quote("CEB", "1000.00"))["__typename"] == "Quote"

    _, banks, cards = await page(other)
    ceb = banks["CEB"]
    assert ceb["availability"] == "PILOT"  # still listed, as a pilot
    assert ceb["usable"] is False and ceb["unusableReason"] == "NOT_IN_PILOT"
    assert ceb["offer"] == {"__typename": "BankError", "code": "BANK_NOT_AVAILABLE"}
    assert "CEB" not in cards  # nor asked for the user's cards there
    # The other pilots (sandbox users) still let them in.
    assert banks["NBBANK"]["usable"] is True and "NBBANK" in cards
    # A quote for the card the listed user holds is refused to anyone else, typed.
    credit, _ = await listed.cards()
    refused = await other.quote("CEB", "1000.00", card_id=credit["CEB"]["id"])
    assert refused["code"] == "BANK_NOT_AVAILABLE"

    anonymous = await gql(client, "{ banks(channel: ALIPAY) { code usable unusableReason } }")
    ceb = next(b for b in anonymous["data"]["banks"] if b["code"] == "CEB")
    assert ceb == {"code": "CEB", "usable": False, "unusableReason": "SIGN_IN_FOR_PILOT"}


async def test_a_pilot_without_anyone_is_closed_and_live_is_open(client, app, tmp_path):
    user = await User.sign_in(client, "pilot-nobody")
    await seed_catalog(app.state.services.db, catalog_with(tmp_path, '{ availability = "PILOT" }'))
    app.state.services.catalog.invalidate()
    _, banks, _ = await page(user)
    assert banks["CEB"]["unusableReason"] == "NOT_IN_PILOT"

    await seed_catalog(app.state.services.db, catalog_with(tmp_path, '{ availability = "LIVE" }'))
    app.state.services.catalog.invalidate()
    # (Another user: the first one's card list from a moment ago is reused for a few seconds.)
    _, banks, cards = await page(await User.sign_in(client, "live-anyone"))
    assert banks["CEB"]["usable"] is True and "CEB" in cards
    anonymous = await gql(client, '{ bank(code: "CEB", channel: ALIPAY) { usable } }')
    assert anonymous["data"]["bank"] == {"usable": True}


async def test_a_percentage_pilot_lets_in_the_same_users_every_time(start_app, tmp_path):
    client, app = await start_app(rate_login_per_minute=1000)
    path = catalog_with(tmp_path, '{ availability = "PILOT", pilot = { percent = 50 } }')
    await seed_catalog(app.state.services.db, path)
    app.state.services.catalog.invalidate()
    seen = {}
    for i in range(12):
        user = await User.sign_in(client, f"pilot-share-{i}")
        user_id, banks, _ = await page(user)
        expected = rollout_bucket("CEB", user_id) < 5000
        assert banks["CEB"]["usable"] is expected, (user_id, banks["CEB"])
        seen[user_id] = banks["CEB"]["usable"]
        again = await page(await User.sign_in(client, f"pilot-share-{i}"))
        assert again[1]["CEB"]["usable"] is seen[user_id]  # the same user stays in or out
    assert set(seen.values()) == {True, False}


@pytest.mark.parametrize("percent", ["0.5", "2.5", "10", "50", "99"])
def test_a_percentage_is_close_over_ten_thousand_users(percent):
    rollout = Rollout(percent=Decimal(percent))
    users = [derived_id("user", "rollout", str(i)) for i in range(10_000)]
    admitted = [u for u in users if rollout.admits("CEB", u, False)]
    share = len(admitted) / len(users) * 100
    # Binomial spread at n=10,000: within ±1 point (over 4 standard deviations at 50 %).
    assert abs(share - float(percent)) < 1.0, share
    assert admitted == [u for u in users if rollout.admits("CEB", u, False)]  # stable
    # Each bank picks its own users: another bank's 50 % overlaps this one's by chance only.
    if percent == "50":
        other = {u for u in users if rollout.admits("SPABANK", u, False)}
        assert 2300 < len(other & set(admitted)) < 2700


def test_rollout_parts_each_let_a_user_in():
    user, sandbox = derived_id("user", "a"), derived_id("user", "b")
    assert not Rollout().admits("CEB", user, True)
    assert Rollout(users=frozenset({user})).admits("CEB", user, False)
    assert Rollout(sandbox_users=True).admits("CEB", sandbox, True)
    assert not Rollout(sandbox_users=True).admits("CEB", sandbox, False)
    assert Rollout(percent=Decimal(100)).open_to_all


@pytest.mark.parametrize(
    ("pilot", "message"),
    [
        ('{ percent = 101 }', "from 0 to 100"),
        ('{ percent = -1 }', "from 0 to 100"),
        ('{ percent = 2.555 }', "two decimals"),
        ('{ percent = "lots" }', "number"),
        ('{ users = ["alice"] }', "not a cardcash user id"),
        ('{ users = "usr_x" }', "list of user ids"),
        ('{ sandbox_users = "yes" }', "true or false"),
        ('{ everyone = true }', "unknown field everyone"),
        ('"all"', "must be a table"),
    ],
)
def test_a_bad_rollout_in_the_catalog_file_is_named(tmp_path, pilot, message):
    path = catalog_with(tmp_path, f'{{ availability = "PILOT", pilot = {pilot} }}')
    with pytest.raises(CatalogFileError, match=message) as error:
        read_catalog_file(path)
    assert "CEB" in str(error.value) and "ALIPAY" in str(error.value)


async def test_a_blocked_or_missing_plugin_is_shown_not_usable(start_app):
    # SPABANK's plugin is refused at start-up: its guard options are not valid.
    options = FAST_BANKS | {"SPABANK": {"guard_read_timeout_s": "soon"}}
    client, app = await start_app(banks_blocked=["CEB"], bank_options=options)
    assert "SPABANK" in app.state.services.registry.failures
    user = await User.sign_in(client, "plugin-less")
    _, banks, cards = await page(user)
    assert banks["CEB"]["usable"] is False and banks["CEB"]["unusableReason"] == "BANK_DISABLED"
    assert banks["CEB"]["offer"]["code"] == "BANK_NOT_AVAILABLE"
    assert banks["SPABANK"]["unusableReason"] == "BANK_NOT_LOADED"
    assert banks["SPABANK"]["offer"]["code"] == "BANK_UNAVAILABLE"
    assert banks["NBBANK"]["usable"] is True
    assert cards == {"NBBANK"}


async def _listed(client: httpx.AsyncClient) -> set[str]:
    body = (await client.post("/graphql", json={"query": "{ banks(channel: ALIPAY) { code } }"}))
    return {b["code"] for b in body.json()["data"]["banks"]}


async def test_suspended_leaves_every_replica_within_one_refresh(database_url, tmp_path):
    """Two real server processes on one database; the catalog is changed by `cardcash seed`
    from outside both. The second replica stops listing the bank within its refresh time,
    and a withdrawal in flight there goes on to its end."""
    from tests.api.test_cli import run

    cache = 1.0
    env = server_env(
        database_url,
        tmp_path / "data",
        catalog_cache_seconds=str(cache),
        # The bank waits for the holder's code: the withdrawal stays in flight, whatever the
        # machine's speed, until the test confirms it after the bank is suspended.
        bank_options='{"*": {"latency_ms": "0", "failure_rate": "0", "settlement_delay_s": "0.3",'
        ' "verification_required": "true"}}',
    )
    assert run(["seed"], env, tmp_path).returncode == 0
    with ServerProcess(env, tmp_path) as first, ServerProcess(env, tmp_path) as second:
        async with (
            httpx.AsyncClient(base_url=first.url, timeout=30) as a,
            httpx.AsyncClient(base_url=second.url, timeout=30) as b,
        ):
            user = await User.sign_in(b, "suspended-in-flight")
            credit, _ = await user.cards()
            quote = await user.quote("CEB", "1000.00")
            withdrawal = await user.withdraw(quote)
            assert withdrawal["status"] == "VERIFICATION_REQUIRED", withdrawal
            assert "CEB" in await _listed(a) and "CEB" in await _listed(b)

            env_suspend = env | {
                "CARDCASH_CATALOG_FILE": str(
                    catalog_with(tmp_path, '{ availability = "SUSPENDED" }')
                )
            }
            refused = run(["seed"], env_suspend, tmp_path)
            assert refused.returncode != 0 and "CEB on ALIPAY (1)" in refused.stderr
            assert "CEB" in await _listed(b)  # nothing changed
            seeded = run(["seed", "--force"], env_suspend, tmp_path)
            assert seeded.returncode == 0, seeded.stderr
            assert "CEB ALIPAY: availability: PILOT -> SUSPENDED" in seeded.stdout
            suspended_at = time.monotonic()
            # Each replica refreshes on its own clock, so each is given the same bound: a
            # replica re-reads a catalog older than `cache` seconds, and until that read is in
            # serves what it had (never older than twice `cache`); an anonymous page made from
            # it is reused for `cache` seconds more.
            for replica in (b, a):
                while "CEB" in await _listed(replica):
                    assert time.monotonic() - suspended_at < 3 * cache + 1.5, "still listed"
                    await asyncio.sleep(0.05)
            refused = await user.quote("CEB", "1000.00", card_id=credit["CEB"]["id"])
            assert refused["code"] == "BANK_NOT_FOUND"
            # In flight at a suspended bank, it goes on to its end.
            confirmed = await user.confirm(withdrawal["id"])
            assert confirmed["status"] in ("PROCESSING", "SUCCEEDED"), confirmed
            done = await user.wait_for(withdrawal["id"], "SUCCEEDED", "FAILED", timeout=20)
            assert done["status"] == "SUCCEEDED"
            assert done["bank"]["code"] == "CEB"  # history still names the suspended bank
