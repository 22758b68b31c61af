"""The migrations build exactly the schema the models describe, and run again harmlessly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from db import models  # noqa: F401  (registers the tables)
from db.migrate import upgrade


def _diff(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, SQLModel.metadata)


async def test_models_and_migrations_agree(database_url):
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_diff)
    finally:
        await engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


async def test_upgrade_twice_is_harmless(database_url):
    await upgrade(database_url)
    await upgrade(database_url)
