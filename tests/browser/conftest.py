"""Browser tests: Debian's Chromium driven by playwright-core (tests/browser/package.json)
against a real, seeded ``cardcash serve``. Screenshots go to tests/browser/artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node import ensure_chromium, npm_ci
from tests.servers import ServerProcess, seeded_server_env

HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE / "artifacts"


@pytest.fixture(scope="session")
def browser_ready() -> Path:
    """Chromium and playwright-core installed, or the test skipped saying why."""
    chromium = ensure_chromium()
    npm_ci(HERE)
    ARTIFACTS.mkdir(exist_ok=True)
    return chromium


@pytest.fixture
def seeded_env(database_url, tmp_path):
    """The environment of a server on a migrated, seeded database of this test's own."""
    return seeded_server_env(database_url, tmp_path), tmp_path


@pytest.fixture
def dev_server(browser_ready, seeded_env):
    """A running dev server (GraphiQL and /demo on), its URL."""
    env, tmp_path = seeded_env
    with ServerProcess(env, tmp_path) as server:
        yield server
