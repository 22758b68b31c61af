"""Two or more ``cardcash serve`` replicas on one fresh PostgreSQL database.

Everything here runs only when ``CARDCASH_TEST_DATABASE_URL`` is a PostgreSQL URL: replicas
share nothing but the database, and SQLite serves one machine.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from api.services.catalog import seed_catalog
from db.engine import Database
from db.models import Withdrawal, WithdrawalEvent
from tests.conftest import FAST_BANKS, PG_URL
from tests.servers import ServerProcess, server_env

PROBE = Path(__file__).with_name("probe")


def pytest_collection_modifyitems(config, items) -> None:
    if PG_URL.startswith("postgresql"):
        return
    skip = pytest.mark.skip(
        reason="scale tests need PostgreSQL: set CARDCASH_TEST_DATABASE_URL="
        "postgresql+asyncpg://… (replicas share nothing but the database)"
    )
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


def bank_options(**overrides: str) -> dict[str, dict[str, str]]:
    return {"*": FAST_BANKS["*"] | overrides}


class Cluster:
    """Replicas of cardcash on one database and one sandbox data dir, as in production."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.bank_calls = workdir / "bank-calls.jsonl"
        self.replicas: list[ServerProcess] = []
        self._stack = ExitStack()

    def env(self, database_url: str | None = None, **settings: str) -> dict[str, str]:
        env = server_env(
            database_url or self.database_url,
            self.data_dir,
            rate_login_per_minute="100000",
            rate_money_per_minute="100000",
            rate_address_per_minute="100000",
            **settings,
        )
        env["PYTHONPATH"] = str(PROBE)
        env["CARDCASH_TEST_BANK_CALLS"] = str(self.bank_calls)
        return env

    def start(
        self,
        count: int = 2,
        *,
        banks: dict | None = None,
        database_url: str | None = None,
        **settings: str,
    ) -> None:
        """Start ``count`` replicas; ``database_url`` is theirs if not the test's own."""
        if banks is not None:
            settings["bank_options"] = json.dumps(banks)
        env = self.env(database_url, **settings)
        self.replicas += [
            self._stack.enter_context(ServerProcess(env, self.workdir)) for _ in range(count)
        ]

    def stop(self) -> None:
        self._stack.close()

    def output(self) -> str:
        return "\n".join(f"--- {r.url}\n{r.output()}" for r in self.replicas)

    # -- what the database and the banks hold ------------------------------------------------

    async def withdrawals(self) -> dict[str, Withdrawal]:
        db = Database(self.database_url)
        try:
            async with db.read() as session:
                return {w.id: w for w in await session.exec(select(Withdrawal))}
        finally:
            await db.dispose()

    async def events(self) -> list[WithdrawalEvent]:
        db = Database(self.database_url)
        try:
            async with db.read() as session:
                return list(await session.exec(select(WithdrawalEvent)))
        finally:
            await db.dispose()

    def ledger(self) -> dict[str, str]:
        """Every withdrawal the sandbox banks hold: request id → the bank's state."""
        path = self.data_dir / "sandbox-banks.sqlite3"
        if not path.exists():
            return {}
        with sqlite3.connect(path) as connection:
            rows = connection.execute("SELECT request_id, state FROM sandbox_withdrawals")
            return dict(rows.fetchall())

    def calls(self) -> list[dict]:
        """Every money call the sandbox banks received, from every replica, in time order."""
        if not self.bank_calls.exists():
            return []
        lines = self.bank_calls.read_text().splitlines()
        return sorted((json.loads(line) for line in lines if line), key=lambda c: c["at"])


@pytest.fixture
async def cluster(database_url: str, tmp_path: Path) -> Iterator[Cluster]:
    db = Database(database_url)
    try:
        await seed_catalog(db)
    finally:
        await db.dispose()
    cluster = Cluster(database_url, tmp_path)
    yield cluster
    await asyncio.to_thread(cluster.stop)


@asynccontextmanager
async def two_clients(cluster: Cluster):
    """One HTTP client for each of the first two replicas."""
    async with (
        httpx.AsyncClient(base_url=cluster.replicas[0].url, timeout=30) as a,
        httpx.AsyncClient(base_url=cluster.replicas[1].url, timeout=30) as b,
    ):
        yield a, b
