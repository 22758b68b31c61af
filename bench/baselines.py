"""The plain Starlette endpoints cardcash is measured against, served by uvicorn like cardcash.

- ``static_json``: answers ``/graphql`` with fixed bytes (cardcash's own answer, captured).
- ``slowest_bank``: waits for six concurrent sleeps of ``BENCH_LATENCY_MS``, then answers fixed
  bytes: a page that costs the slowest bank and nothing else.
- ``insert_row``: inserts one row per request through SQLAlchemy async, in its own
  transaction, on SQLite in WAL mode (the same pragmas cardcash uses).
- ``insert_row_pg``: the same on PostgreSQL (``BENCH_DB_URL``, SQLAlchemy async + asyncpg,
  the pool sized as cardcash's by default: 10 + 10 overflow).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, event, insert
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


def _body() -> bytes:
    return Path(os.environ["BENCH_BODY_FILE"]).read_bytes()


def static_json() -> Starlette:
    body = _body()

    async def graphql(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="application/json")

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/graphql", graphql, methods=["GET", "POST"])]
    )


def slowest_bank() -> Starlette:
    body = _body()
    delay = int(os.environ.get("BENCH_LATENCY_MS", "50")) / 1000
    banks = int(os.environ.get("BENCH_BANKS", "6"))

    async def graphql(request: Request) -> Response:
        await request.body()
        await asyncio.gather(*(asyncio.sleep(delay) for _ in range(banks)))
        return Response(body, media_type="application/json")

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/graphql", graphql, methods=["GET", "POST"])]
    )


metadata = MetaData()
rows = Table(
    "rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(64), nullable=False),
    Column("payload", Text, nullable=False),
)


def insert_row() -> Starlette:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{os.environ['BENCH_DB']}", connect_args={"timeout": 5}
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    return _inserting(engine)


def insert_row_pg() -> Starlette:
    return _inserting(
        create_async_engine(os.environ["BENCH_DB_URL"], pool_size=10, max_overflow=10)
    )


def _inserting(engine) -> Starlette:
    """One row inserted through ``engine`` per POST /graphql."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        yield
        await engine.dispose()

    async def graphql(request: Request) -> Response:
        payload = (await request.body()).decode()
        async with engine.begin() as conn:
            result = await conn.execute(insert(rows).values(key="k", payload=payload))
        return Response(
            b'{"data":{"id":%d}}' % result.inserted_primary_key[0], media_type="application/json"
        )

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/graphql", graphql, methods=["POST"])],
        lifespan=lifespan,
    )
