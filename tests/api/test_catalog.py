"""The bank catalog over HTTP: listing order, lookups, bad input."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from sqlmodel import func, select

from api.services.catalog import DEFAULT_CATALOG_FILE, Catalog, Channel, seed_catalog
from db.models import Bank, BankChannel
from tests.api.flow import User
from tests.conftest import gql

BANK_FIELDS = """
  id code name nameEn shortName logoUrl brandColor tagline channel availability usable
  unusableReason entryHint
"""


async def test_alipay_lists_usable_banks_first(client):
    body = await gql(client, f"{{ banks(channel: ALIPAY) {{ {BANK_FIELDS} }} }}")
    banks = body["data"]["banks"]
    assert [b["code"] for b in banks] == ["NBBANK", "CEB", "SPABANK", "HXBANK", "SPDB", "CITIC"]
    assert [b["availability"] for b in banks] == ["PILOT"] * 3 + ["ONBOARDING"] * 3
    # The shipped pilots are open to sandbox users: who is in is known once signed in.
    assert [b["usable"] for b in banks] == [False] * 6
    assert [b["unusableReason"] for b in banks] == ["SIGN_IN_FOR_PILOT"] * 3 + ["COMING_SOON"] * 3
    user = await User.sign_in(client, "catalog-reader")
    signed_in = (await user.q(f"{{ banks(channel: ALIPAY) {{ {BANK_FIELDS} }} }}"))["data"]
    assert [b["usable"] for b in signed_in["banks"]] == [True] * 3 + [False] * 3
    assert [b["unusableReason"] for b in signed_in["banks"]][:3] == [None] * 3
    ceb = banks[1]
    assert ceb["name"] == "光大银行" and ceb["nameEn"] == "China Everbright Bank"
    assert ceb["logoUrl"].endswith("/static/banks/CEB.svg") and ceb["logoUrl"].startswith("http")
    assert ceb["channel"] == "ALIPAY"


async def test_wechat_has_ningbo_onboarding(client):
    body = await gql(client, "{ banks(channel: WECHAT) { code availability } }")
    banks = body["data"]["banks"]
    assert [b["code"] for b in banks[:2]] == ["CEB", "SPABANK"]
    assert {b["code"]: b["availability"] for b in banks}["NBBANK"] == "ONBOARDING"


async def test_suspended_banks_are_not_listed(client, app):
    db = app.state.services.db
    async with db.write() as session:
        row = await session.get(BankChannel, ("CEB", "ALIPAY"))
        row.availability = "SUSPENDED"
    app.state.services.catalog.invalidate()
    body = await gql(client, "{ banks(channel: ALIPAY) { code } }")
    assert "CEB" not in [b["code"] for b in body["data"]["banks"]]
    body = await gql(client, '{ bank(code: "CEB", channel: ALIPAY) { code } }')
    assert body["data"]["bank"] is None


async def test_bank_lookup(client):
    body = await gql(client, '{ bank(code: "SPABANK", channel: WECHAT) { code availability } }')
    assert body["data"]["bank"] == {"code": "SPABANK", "availability": "PILOT"}
    body = await gql(client, '{ bank(code: "NOPE", channel: WECHAT) { code } }')
    assert body == {"data": {"bank": None}}


async def _counts(db) -> tuple[int, int]:
    async with db.read() as session:
        banks = (await session.exec(select(func.count()).select_from(Bank))).one()
        channels = (await session.exec(select(func.count()).select_from(BankChannel))).one()
    return banks, channels


async def test_unknown_channel_is_a_graphql_error(client, app, caplog):
    before = await _counts(app.state.services.db)
    body = await gql(client, "{ banks(channel: MARS) { code } }")
    assert "data" not in body  # a request error: execution never began
    assert "MARS" in body["errors"][0]["extensions"]["detail"]
    variables = await gql(client, "query($c: Channel!) { banks(channel: $c) { code } }", {"c": "x"})
    assert "Channel" in variables["errors"][0]["extensions"]["detail"]
    assert await _counts(app.state.services.db) == before
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_malformed_query_and_non_json_body(client, caplog):
    body = await gql(client, "{ banks(channel: ALIPAY) { code ")
    assert body["errors"][0]["extensions"]["detail"].startswith("Syntax Error")
    response = await client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_mutation_over_get_is_refused(client):
    response = await client.get("/graphql", params={"query": "mutation { __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "GET" in response.json()["errors"][0]["extensions"]["detail"]


async def test_query_over_get_works(client):
    response = await client.get("/graphql", params={"query": "{ banks(channel: WECHAT) { code } }"})
    assert response.status_code == 200
    assert response.json()["data"]["banks"][0]["code"] == "CEB"


async def test_seed_is_idempotent(app):
    db = app.state.services.db
    before = await _counts(db)
    report = await seed_catalog(db)
    assert report.banks == 6 and report.changes == []
    assert await _counts(db) == before == (6, 12)


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok", "database": "ok"}


async def test_bank_logo(client):
    response = await client.get("/static/banks/CEB.svg")
    assert response.status_code == 200 and response.headers["content-type"].startswith("image/svg")
    assert "光大" in response.text
    assert (await client.get("/static/banks/NOPE.svg")).status_code == 404


class Counted:
    """The app's database, counting (and, until ``release`` is set, holding back) one
    catalog's readings only: the app's own background work reads the same database."""

    def __init__(self, db) -> None:
        self._db = db
        self.reads = []
        self.release = asyncio.Event()

    @asynccontextmanager
    async def read(self):
        self.reads.append(1)
        await self.release.wait()
        async with self._db.read() as session:
            yield session


async def test_a_stale_catalog_is_read_once_for_everyone_asking(app):
    counted = Counted(app.state.services.db)
    reads, release = counted.reads, counted.release
    catalog = Catalog(counted, cache_seconds=0)  # always stale: every call wants a reading

    # A page's resolvers ask at the same moment: one reading answers them all.
    asking = [asyncio.ensure_future(catalog.banks(Channel.ALIPAY)) for _ in range(20)]
    asking.append(asyncio.ensure_future(catalog.bank("CEB", Channel.ALIPAY)))
    await asyncio.sleep(0)
    release.set()
    *lists, ceb = await asyncio.gather(*asking)
    assert len(reads) == 1
    assert ceb.code == "CEB" and all(b == lists[0] for b in lists)
    assert "CEB" in [b.code for b in lists[0]]

    # One who gives up does not take the reading away from the others.
    release.clear()
    first = asyncio.ensure_future(catalog.banks(Channel.ALIPAY))
    second = asyncio.ensure_future(catalog.banks(Channel.ALIPAY))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == lists[0]
    assert first.cancelled() and len(reads) == 2

    # A reading under way when the catalog changes is not joined by later callers.
    release.clear()
    before = asyncio.ensure_future(catalog.banks(Channel.ALIPAY))
    await asyncio.sleep(0)
    catalog.invalidate()
    after = asyncio.ensure_future(catalog.banks(Channel.ALIPAY))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(before, after)
    assert len(reads) == 4


class Clock:
    """Stands in for the catalog's ``time``: its ``monotonic()`` moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


async def test_a_stale_catalog_answers_at_once_while_one_reading_refreshes_it(app, monkeypatch):
    """Requests that find the cache stale (but not twice as old) do not wait for the reading
    that refreshes it; once it is twice as old, they do."""
    clock = Clock()
    monkeypatch.setattr("api.services.catalog.time", clock)
    counted = Counted(app.state.services.db)
    reads, release = counted.reads, counted.release
    catalog = Catalog(counted, cache_seconds=5)
    release.set()
    first = await catalog.banks(Channel.ALIPAY)
    assert len(reads) == 1

    clock.now += 6  # stale, not yet old
    release.clear()
    stale = await asyncio.wait_for(catalog.banks(Channel.ALIPAY), timeout=5)
    again = await asyncio.wait_for(catalog.bank("CEB", Channel.ALIPAY), timeout=5)
    assert stale == first and again.code == "CEB"
    assert len(reads) == 2  # one reading under way for both
    release.set()
    await asyncio.sleep(0.05)  # the reading finishes
    clock.now += 4  # ten seconds after the first reading, four after the second
    assert await catalog.banks(Channel.ALIPAY) == first and len(reads) == 2  # fresh again

    clock.now += 11  # twice as old: wait for the reading
    release.clear()
    waiting = asyncio.ensure_future(catalog.banks(Channel.ALIPAY))
    await asyncio.sleep(0.05)
    assert not waiting.done() and len(reads) == 3
    release.set()
    assert await waiting == first


async def test_seed_reports_each_change_and_suspends_what_the_file_left_out(app, tmp_path):
    db = app.state.services.db
    text = DEFAULT_CATALOG_FILE.read_text(encoding="utf-8")
    start = text.index('[[bank]]\ncode = "SPDB"')
    end = text.index("[[bank]]", start + 1)
    trimmed = tmp_path / "catalog.toml"
    trimmed.write_text(
        text[:start].replace('tagline = "额度内取现，按日计息"', 'tagline = "新口号"') + text[end:],
        encoding="utf-8",
    )
    report = await seed_catalog(db, trimmed)
    assert report.banks == 5
    assert sorted(map(str, report.changes)) == [
        "CEB: tagline: 额度内取现，按日计息 -> 新口号",
        "SPDB ALIPAY: availability: ONBOARDING -> SUSPENDED (not in the catalog file)",
        "SPDB WECHAT: availability: ONBOARDING -> SUSPENDED (not in the catalog file)",
    ]
    assert (await seed_catalog(db, trimmed)).changes == []  # said once, done once
    async with db.read() as session:
        assert (await session.get(BankChannel, ("SPDB", "ALIPAY"))).availability == "SUSPENDED"
