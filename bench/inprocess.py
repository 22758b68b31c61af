"""``python -m bench.inprocess [--n 300]``: the SQLite write path measured in one process.

No HTTP server and no load generator: the app is driven through ``httpx.ASGITransport``, as the
tests drive it, so what is timed is the service's own work (plus the transport's, a few tenths
of a millisecond). It prints:

- one ``db.write()`` transaction with one INSERT, and one ``db.read()`` with one SELECT;
- createQuote one at a time (figure 4's document), mean and p50;
- createWithdrawal one at a time and with 32 in flight (figure 3's document), and the same
  concurrency against ``bench/baselines.py``'s ``insert_row`` (one row per request).

The machine is shared: compare figures from the same run, and run it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from api.app import create_app
from api.services.catalog import seed_catalog
from api.settings import Settings
from bench import client
from bench.servers import bank_options
from db.migrate import upgrade

UNLIMITED = 1_000_000_000


def line(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return (
        f"{name:<40} mean {statistics.fmean(ms):6.3f} ms  p50 {ms[len(ms) // 2]:6.3f} ms  "
        f"p90 {ms[int(len(ms) * 0.9)]:6.3f} ms  (n={len(ms)})"
    )


async def timed(n: int, step) -> list[float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        await step(i)
        times.append(time.perf_counter() - started)
    return times


async def rate(concurrency: int, jobs: list) -> float:
    """Requests per second with ``concurrency`` in flight over ``jobs``."""
    pending = iter(jobs)

    async def worker() -> None:
        for job in pending:
            await job()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(jobs) / (time.perf_counter() - started)


def bench_settings(
    url: str, workdir: Path, catalog_file: Path | None = None, wechat: str | None = None
) -> Settings:
    """Production-like settings for an app driven in process: no latency, no rate limits;
    users sign in through the WeChat adapter, against the stand-in at ``wechat`` (started
    here when not given)."""
    from bench import wechat as stand_in
    from bench.servers import wechat_url

    return Settings(
        wechat_app_id=stand_in.APP_ID,
        wechat_app_secret=stand_in.APP_SECRET,
        wechat_api_url=wechat or wechat_url(),
        database_url=url,
        data_dir=workdir / "data",
        log_level="WARNING",
        graphiql=False,
        introspection=False,
        bank_options=json.loads(bank_options(0)),
        catalog_file=catalog_file,
        rate_login_per_minute=UNLIMITED,
        rate_money_per_minute=UNLIMITED,
        rate_address_per_minute=UNLIMITED,
        rate_quote_per_minute=UNLIMITED,
    )


async def cardcash(workdir: Path, n: int, concurrency: int) -> None:
    url = f"sqlite+aiosqlite:///{workdir / 'cardcash.db'}"
    await upgrade(url)
    settings = bench_settings(url, workdir)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        db = app.state.services.db
        await seed_catalog(db)

        async with db.write() as session:
            await session.exec(text("CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, k TEXT)"))

        async def insert(_: int) -> None:
            async with db.write() as session:
                await session.exec(text("INSERT INTO bench_rows (k) VALUES ('k')"))

        async def select(_: int) -> None:
            async with db.read() as session:
                (await session.exec(text("SELECT count(*) FROM banks"))).one()

        await timed(100, insert)
        print(line("db.write(): one INSERT", await timed(20 * n, insert)))
        print(line("db.read(): one SELECT", await timed(20 * n, select)))

        async with client.Api("http://bench", httpx.ASGITransport(app=app)) as api:
            # One withdrawal in flight per card (CARD_BUSY): requests go round-robin over
            # more users than are ever in flight.
            users = []
            for i in range(4 * concurrency):
                token = await api.login(f"inproc{i}")
                credit, debit = await api.cards(token)
                users.append((token, credit["CEB"], debit))

            token, card, _ = users[0]
            quote_input = {
                "input": {
                    "bankCode": "CEB",
                    "creditCardId": card,
                    "amount": "3000.00",
                    "repaymentType": "INSTALLMENT",
                    "periods": 12,
                }
            }

            async def quote(_: int) -> None:
                body = await api.q(client.QUOTE, quote_input, token)
                assert body["createQuote"]["__typename"] == "Quote", body

            await timed(30, quote)
            print(line("createQuote, one at a time", await timed(n, quote)))

            async def prepared(i: int) -> tuple[str, dict]:
                token, card, debit = users[i % len(users)]
                made = await api.quote(token, "CEB", card)
                return token, client.withdrawal_input(made, debit)

            requests = [await prepared(i) for i in range(3 * n)]
            refused = []

            async def withdraw(i: int) -> None:
                token, variables = requests[i]
                body = await api.q(client.CREATE, variables, token)
                if body["createWithdrawal"]["__typename"] != "Withdrawal":
                    refused.append(body["createWithdrawal"])

            print(line("createWithdrawal, one at a time", await timed(n, withdraw)))
            jobs = [lambda i=i: withdraw(i) for i in range(n, 3 * n)]
            print(
                f"{'createWithdrawal, ' + str(concurrency) + ' in flight':<40} "
                f"{await rate(concurrency, jobs):7.1f} req/s"
            )
            if refused:
                print(f"  ({len(refused)} refused, e.g. {refused[0]})")


async def baseline(workdir: Path, n: int, concurrency: int) -> None:
    os.environ["BENCH_DB"] = str(workdir / "baseline.db")
    from bench.baselines import insert_row

    app = insert_row()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            body = json.dumps({"query": client.CREATE, "variables": {}})

            async def post() -> None:
                response = await http.post("/graphql", content=body)
                assert response.status_code == 200

            await rate(concurrency, [post] * 100)
            print(
                f"{'baseline insert_row, ' + str(concurrency) + ' in flight':<40} "
                f"{await rate(concurrency, [post] * (2 * n)):7.1f} req/s"
            )


async def main(n: int, concurrency: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="cardcash-bench-inprocess-"))
    try:
        await cardcash(workdir, n, concurrency)
        await baseline(workdir, n, concurrency)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__)
    parser.add_argument("--n", type=int, default=300, help="requests per timed series")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(main(args.n, args.concurrency))
    else:
        uvloop.run(main(args.n, args.concurrency))
