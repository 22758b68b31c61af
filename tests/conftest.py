"""Shared fixtures: a fresh, migrated database per test, and the app served over HTTP.

The suite runs on SQLite by default. With ``CARDCASH_TEST_DATABASE_URL`` set to a PostgreSQL
URL, every test gets a fresh database on that server, cloned from a migrated template.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from api.app import create_app
from api.settings import Settings
from db.migrate import upgrade

PG_URL = os.environ.get("CARDCASH_TEST_DATABASE_URL", "")


def pytest_report_header(config) -> str:
    return f"cardcash database: {make_url(PG_URL).render_as_string() if PG_URL else 'SQLite'}"


async def _admin(url: str, *statements: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def template_database(tmp_path_factory) -> str:
    """A migrated database that each test's database is copied from."""
    if PG_URL:
        name = f"cardcash_tpl_{uuid.uuid4().hex[:8]}"
        asyncio.run(_admin(PG_URL, f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        asyncio.run(upgrade(url))
        yield url
        asyncio.run(_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(upgrade(f"sqlite+aiosqlite:///{path}"))
    yield str(path)


@pytest.fixture
async def database_url(template_database: str, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh migrated database for one test."""
    if PG_URL:
        name = f"cardcash_t_{uuid.uuid4().hex[:12]}"
        template = make_url(template_database).database
        await _admin(PG_URL, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        await _admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    path = tmp_path / "cardcash.db"
    shutil.copyfile(template_database, path)
    yield f"sqlite+aiosqlite:///{path}"


#: Sandbox banks for tests: no latency, no random failures, quick settlement.
FAST_BANKS = {"*": {"latency_ms": "0", "failure_rate": "0", "settlement_delay_s": "0.3"}}


def make_settings(database_url: str, data_dir: Path, **overrides) -> Settings:
    values = dict(
        database_url=database_url,
        data_dir=data_dir,
        env="dev",
        bank_options=FAST_BANKS,
        sync_interval_seconds=0.05,
        sync_first_delay_seconds=0.2,
        sync_max_delay_seconds=1.0,
    )
    return Settings(**(values | overrides))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data")


@pytest.fixture
async def app(settings: Settings):
    from api.services.catalog import seed_catalog

    application = create_app(settings)
    async with application.router.lifespan_context(application):
        await seed_catalog(application.state.services.db)
        yield application


@pytest.fixture
async def start_app(database_url, tmp_path):
    """Start the app with extra settings; returns (client, app)."""
    from api.services.catalog import seed_catalog

    stack = []

    async def start(**overrides):
        application = create_app(make_settings(database_url, tmp_path / "data", **overrides))
        lifespan = application.router.lifespan_context(application)
        await lifespan.__aenter__()
        stack.append(lifespan)
        await seed_catalog(application.state.services.db)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://cardcash.test"
        )
        stack.append(client)
        return client, application

    yield start
    for item in reversed(stack):
        if isinstance(item, httpx.AsyncClient):
            await item.aclose()
        else:
            await item.__aexit__(None, None, None)


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cardcash.test") as c:
        yield c


async def gql(client: httpx.AsyncClient, query: str, variables: dict | None = None, **kw) -> dict:
    """POST a GraphQL document and return the decoded body (asserting HTTP 200)."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, **kw
    )
    assert response.status_code == 200, response.text
    return response.json()


# --- The suite-wide log scan (see tests/logscan.py): nothing logged may show a secret. ---

_LOG_COLLECTOR = None


def pytest_configure(config) -> None:
    import logging

    from tests.logscan import SuiteLogCollector

    global _LOG_COLLECTOR
    _LOG_COLLECTOR = SuiteLogCollector()
    logging.getLogger().addHandler(_LOG_COLLECTOR)
    # The project's own loggers write what production writes by default (INFO and up);
    # third-party loggers keep pytest's level, as the tests that watch them expect.
    for name in ("cardcash", "api", "providers", "db"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def pytest_sessionfinish(session, exitstatus) -> None:
    import logging

    from tests.logscan import find_secrets, log_files

    if _LOG_COLLECTOR is None:
        return
    logging.getLogger().removeHandler(_LOG_COLLECTOR)
    lines = list(_LOG_COLLECTOR.lines)
    factory = getattr(session.config, "_tmp_path_factory", None)
    base = factory.getbasetemp() if factory is not None else None
    for path in log_files(base) if base is not None and base.exists() else []:
        lines += path.read_text(errors="replace").splitlines()
    hits = find_secrets(lines)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"log scan: {len(lines)} log lines checked, {len(hits)} secrets found")
    if hits:
        for kind, line in hits[:20]:
            if reporter is not None:
                reporter.write_line(f"log scan: {kind} in: {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
