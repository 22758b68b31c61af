"""The long-lived objects of one process, built at start-up from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from api.services.catalog import Catalog
from api.settings import Settings
from db.engine import Database, EngineOptions


@dataclass
class Services:
    """Everything a request may use. Built once per process by :func:`build_services`."""

    settings: Settings
    db: Database
    catalog: Catalog

    async def aclose(self) -> None:
        await self.db.dispose()


def database_for(settings: Settings) -> Database:
    return Database(
        settings.database_url,
        EngineOptions(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
            connect_timeout=settings.db_connect_timeout,
            sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        ),
    )


async def build_services(settings: Settings) -> Services:
    db = database_for(settings)
    return Services(
        settings=settings,
        db=db,
        catalog=Catalog(
            db, public_url=settings.public_url, cache_seconds=settings.catalog_cache_seconds
        ),
    )
