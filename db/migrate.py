"""Apply the migrations: ``cardcash migrate`` and the start-up of ``make run``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from db.engine import sqlite_file

MIGRATIONS = Path(__file__).with_name("migrations")

# Serializes migrating replicas on PostgreSQL; any constant that is ours alone.
_PG_MIGRATION_LOCK = 0x63617264


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` that needs no ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``. Safe to run again, and concurrently."""
    if make_url(url).get_backend_name() == "sqlite":
        sqlite_file(url)
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text(f"SELECT pg_advisory_lock({_PG_MIGRATION_LOCK})"))
                await connection.commit()
            await connection.run_sync(_upgrade, url, revision)
            await connection.commit()
            if connection.dialect.name == "sqlite":
                # Set once here, while nothing else has the file open; it sticks to the file.
                await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    finally:
        await engine.dispose()


def _upgrade(connection, url: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
