"""JavaScript client tests: the npm packages of tests/js/package.json (graphql-ws, ws) under
Node against a real, seeded ``cardcash serve``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.node import npm_ci
from tests.servers import ServerProcess, server_env

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def js_ready() -> Path:
    """Node and this folder's locked packages installed, or the test skipped saying why."""
    npm_ci(HERE)
    return HERE


@pytest.fixture
def server(js_ready, database_url, tmp_path):
    """A running server on a migrated, seeded database of this test's own."""
    env = server_env(database_url, tmp_path / "data")
    subprocess.run(
        [sys.executable, "-m", "api.cli", "seed"], env=env, cwd=tmp_path, check=True,
        capture_output=True,
    )
    with ServerProcess(env, tmp_path) as running:
        yield running
