"""Apps with chosen settings, served over HTTP in-process."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from api.services.catalog import seed_catalog
from tests.conftest import make_settings

PROD_KEY = "prod-secret-key-for-tests-0123456789abcdef"


@pytest.fixture
def serve(database_url, tmp_path):
    """``async with serve(**settings) as client``: an app with those settings, and a client.

    ``client_address`` sets the peer address the app sees (default 127.0.0.1).
    """

    @contextlib.asynccontextmanager
    async def start(
        client_address: str = "127.0.0.1", **overrides
    ) -> AsyncIterator[httpx.AsyncClient]:
        if overrides.get("env") == "prod":
            overrides.setdefault("secret_key", PROD_KEY)
        settings = make_settings(database_url, tmp_path / "data", **overrides)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await seed_catalog(app.state.services.db)
            transport = httpx.ASGITransport(app=app, client=(client_address, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://cardcash.test") as c:
                c.app = app
                yield c

    return start
