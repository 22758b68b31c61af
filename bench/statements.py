"""``python -m bench.statements [--n 20]``: database round trips of one createWithdrawal on
PostgreSQL, counted at the driver.

The app runs in process (``httpx.ASGITransport``) on a fresh PostgreSQL database made from
``BENCH_PG_ADMIN`` (default ``postgresql://postgres@127.0.0.1:5432/test``). Every call of
asyncpg that goes to the server and waits for its answer (a statement, a prepared
statement's execution, BEGIN, COMMIT, a ping, a prepare) is counted while each of ``n``
createWithdrawal requests runs, one at a time, and printed by its SQL: the figure for
the levers of issue 20's PostgreSQL path (fewer round trips), which time on a shared
machine does not resolve.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import shutil
import subprocess
import tempfile
import uuid
from collections import Counter
from pathlib import Path

import asyncpg
import httpx
from asyncpg.prepared_stmt import PreparedStatement

from api.app import create_app
from api.services.catalog import seed_catalog
from bench import client
from bench.inprocess import bench_settings
from bench.servers import SIX_LIVE
from db.migrate import upgrade

COUNTED: Counter[str] = Counter()
#: Requests before the counted ones.
WARM = 24
_counting = False
_trace: list[str] | None = None


def _label(sql: object) -> str:
    text = " ".join(str(sql).split())
    return text[:90] + ("…" if len(text) > 90 else "")


def _count(owner: type, name: str, sql_of) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def counted(self, *args, **kwargs):
        if _counting:
            what = f"{name:<12} {_label(sql_of(self, args))}"
            COUNTED[what] += 1
            if _trace is not None:
                _trace.append(f"{id(getattr(self, '_connection', self)) % 10000:04d} {what}")
        return await original(self, *args, **kwargs)

    setattr(owner, name, counted)


def instrument() -> None:
    """Count asyncpg's calls that wait for the server (each is one round trip at least)."""
    for name in ("execute", "executemany", "fetch", "fetchrow", "fetchval", "prepare"):
        _count(asyncpg.Connection, name, lambda self, args: args[0] if args else "")
    for name in ("fetch", "fetchrow", "fetchval", "executemany"):
        _count(PreparedStatement, name, lambda self, args: self.get_query())


async def run(n: int, admin: str, trace: bool = False) -> None:
    global _counting
    name = f"cardcash_statements_{uuid.uuid4().hex[:8]}"
    subprocess.run(  # noqa: ASYNC221 - once, before anything runs
        ["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True
    )
    workdir = Path(tempfile.mkdtemp(prefix="cardcash-bench-statements-"))
    try:
        url = admin.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0]
        url = f"{url}/{name}"
        await upgrade(url)
        # Status sync off: its passes would be counted with the requests.
        settings = bench_settings(url, workdir, catalog_file=SIX_LIVE)
        app = create_app(settings.model_copy(update={"status_sync": False}))
        async with app.router.lifespan_context(app):
            await seed_catalog(app.state.services.db, SIX_LIVE)
            async with client.Api("http://bench", httpx.ASGITransport(app=app)) as api:
                users = []
                for i in range(n + WARM):
                    token = await api.login(f"statements{i}")
                    credit, debit = await api.cards(token)
                    users.append((token, credit["CEB"], debit))
                jobs = []
                for token, card, debit in users:
                    quote = await api.quote(token, "CEB", card)
                    jobs.append((token, client.withdrawal_input(quote, debit)))
                # The first ones warm the pooled connections' statement caches, concurrently
                # (so that several connections are used); the rest are counted.
                await asyncio.gather(*(api.q(client.CREATE, v, t) for t, v in jobs[:WARM]))
                _counting = True
                global _trace
                for i, (token, variables) in enumerate(jobs[WARM:]):
                    if trace and i == n - 1:
                        _trace = []
                    body = await api.q(client.CREATE, variables, token)
                    assert body["createWithdrawal"]["__typename"] == "Withdrawal", body
                await asyncio.sleep(0.2)  # the change feed's NOTIFY goes out meanwhile
                _counting = False
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(  # noqa: ASYNC221 - once, after everything ran
                ["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                check=True,
            )
        shutil.rmtree(workdir, ignore_errors=True)
    total = sum(COUNTED.values())
    print(f"createWithdrawal on PostgreSQL: {total / n:.1f} round trips a request (n={n})")
    for what, count in COUNTED.most_common():
        print(f"  {count / n:5.2f}  {what}")
    if _trace is not None:
        print("the last request, in order (connection, call):")
        for line in _trace:
            print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.statements", description=__doc__)
    parser.add_argument("--n", type=int, default=20, help="counted requests")
    parser.add_argument("--admin", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--trace", action="store_true", help="list the last request's calls")
    args = parser.parse_args()
    instrument()
    asyncio.run(run(args.n, args.admin, args.trace))


if __name__ == "__main__":
    main()
