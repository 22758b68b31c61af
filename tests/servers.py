"""Real server processes for tests: ``cardcash serve`` on a free port, killed or stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import FAST_BANKS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a server process: the test's database and data dir, fast banks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDCASH_")}
    env.update(
        CARDCASH_DATABASE_URL=database_url,
        CARDCASH_DATA_DIR=str(data_dir),
        CARDCASH_SECRET_KEY="test-secret-key-shared-by-all-replicas-0123456789",
        CARDCASH_BANK_OPTIONS=json.dumps(FAST_BANKS),
        CARDCASH_SYNC_INTERVAL_SECONDS="0.05",
        CARDCASH_SYNC_FIRST_DELAY_SECONDS="0.2",
        CARDCASH_SYNC_MAX_DELAY_SECONDS="1",
        CARDCASH_LOG_LEVEL="WARNING",
    )
    env.update({f"CARDCASH_{k.upper()}": v for k, v in settings.items()})
    return env


def seeded_server_env(database_url: str, tmp_path: Path, **settings: str) -> dict[str, str]:
    """:func:`server_env` on a database migrated and seeded by ``cardcash seed``."""
    env = server_env(database_url, tmp_path / "data", **settings)
    subprocess.run(
        [sys.executable, "-m", "api.cli", "seed"], env=env, cwd=tmp_path, check=True,
        capture_output=True,
    )
    return env


class ServerProcess:
    """``cardcash serve`` in a child process. Use as a context manager or call stop()."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.cwd = cwd
        self.log_path = cwd / f"server-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> ServerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                # Never leave it running: nothing else would stop a server that failed here.
                self.stop()
                raise RuntimeError(f"server did not start:\n{self.output()}")
            time.sleep(0.1)

    def kill(self) -> int:
        """Die at once, as a crash would: no shutdown, nothing flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        return self.process.wait(timeout=10)

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
