"""Server processes for the bench: ``cardcash serve`` and the plain Starlette baselines."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import wechat

BIN = Path(sys.executable).parent
SIX_LIVE = Path(__file__).resolve().parent / "catalog-six-live.toml"
SECRET = "bench-secret-key-not-for-production-0123456789abcdef"
#: Bench runs far more sign-ins and money requests per client than a user could.
UNLIMITED = "100000000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bank_options(latency_ms: int | None, **extra: str) -> str:
    """Sandbox banks that never fail and settle in 1 s; ``latency_ms`` None keeps each
    bank's own latency."""
    options = {"failure_rate": "0", "settlement_delay_s": "1"}
    if latency_ms is not None:
        options["latency_ms"] = str(latency_ms)
    return json.dumps({"*": options | extra})


class Workdir:
    """A fresh temporary directory per figure, removed afterwards."""

    def __init__(self, name: str) -> None:
        self.path = Path(tempfile.mkdtemp(prefix=f"cardcash-bench-{name}-"))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc) -> None:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.path, ignore_errors=True)


class Process:
    """A child process serving HTTP on ``port``; ready when ``ready_path`` answers 200."""

    ready_path = "/healthz"

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, port: int) -> None:
        self.argv, self.env, self.cwd, self.port = argv, env, cwd, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = cwd / f"server-{port}.log"
        self.popen: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> Process:
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + self.ready_path, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.popen.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.argv[:3]} did not start:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def worker_pids(self) -> list[int]:
        """The processes serving requests: the children of a multi-worker server, else itself."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            kids = [int(p) for p in children.read_text().split()]
        except OSError:
            kids = []
        workers = [p for p in kids if _cmdline(p) and "multiprocessing" in _cmdline(p)]
        return workers or [self.pid]

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Process:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


#: What the bench sets beyond the database, data dir and key, all else at production defaults.
#: Rate limits are raised (a bench client signs in and moves money far more often than a
#: user may); simulated banks are let serve in prod (they are the banks there are); sign-in
#: goes through the WeChat adapter to a local stand-in of WeChat (bench.wechat); the catalog
#: lists the six sandbox banks LIVE on both channels (bench/catalog-six-live.toml).
DEVIATIONS = (
    "CARDCASH_ENV=prod with its defaults (log level INFO, JSON access log, metrics on); "
    f"only raised: rate limits (login, money, quotes, per address: {UNLIMITED}/min); also set: "
    "CARDCASH_SIMULATED_BANKS=true, WeChat login against a local stand-in, the bench catalog "
    "(six banks LIVE)"
)


def cardcash_env(
    workdir: Path,
    database_url: str | None = None,
    *,
    latency_ms: int | None = 0,
    bank_options_json: str | None = None,
    **settings: str,
) -> dict[str, str]:
    """The environment of a cardcash process at production defaults (see :data:`DEVIATIONS`).

    ``latency_ms``: every sandbox bank's latency (None: each bank's own default)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDCASH_")}
    env.update(
        CARDCASH_ENV="prod",
        CARDCASH_DATABASE_URL=database_url or f"sqlite+aiosqlite:///{workdir / 'cardcash.db'}",
        CARDCASH_DATA_DIR=str(workdir / "data"),
        CARDCASH_SECRET_KEY=SECRET,
        CARDCASH_SIMULATED_BANKS="true",
        CARDCASH_BANK_OPTIONS=bank_options_json or bank_options(latency_ms),
        CARDCASH_CATALOG_FILE=str(SIX_LIVE),
        CARDCASH_WECHAT_APP_ID=wechat.APP_ID,
        CARDCASH_WECHAT_APP_SECRET=wechat.APP_SECRET,
        CARDCASH_WECHAT_API_URL=wechat_url(),
        CARDCASH_RATE_LOGIN_PER_MINUTE=UNLIMITED,
        CARDCASH_RATE_MONEY_PER_MINUTE=UNLIMITED,
        CARDCASH_RATE_ADDRESS_PER_MINUTE=UNLIMITED,
        CARDCASH_RATE_QUOTE_PER_MINUTE=UNLIMITED,
    )
    env.update({f"CARDCASH_{k.upper()}": str(v) for k, v in settings.items()})
    return env


_WECHAT: Process | None = None


def wechat_url() -> str:
    """The WeChat stand-in's address, started on first use and stopped when the bench ends."""
    global _WECHAT
    if _WECHAT is None:
        workdir = Path(tempfile.mkdtemp(prefix="cardcash-bench-wechat-"))
        _WECHAT = baseline("wechat", workdir, module="bench.wechat").start()
        atexit.register(_WECHAT.stop)
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    return _WECHAT.url


def prepare_database(env: dict[str, str], cwd: Path) -> None:
    """``cardcash migrate`` and ``cardcash seed``, as a deployment does before serving."""
    for command in ("migrate", "seed"):
        subprocess.run(
            [str(BIN / "cardcash"), command],
            env=env,
            cwd=cwd,
            check=True,
            stdout=subprocess.DEVNULL,
        )


def cardcash(env: dict[str, str], cwd: Path, *, workers: int = 1) -> Process:
    """``cardcash serve`` (uvicorn picks uvloop and httptools, both installed)."""
    port = free_port()
    argv = [str(BIN / "cardcash"), "serve", "--port", str(port), "--workers", str(workers)]
    process = Process(argv, env, cwd, port)
    process.ready_path = "/readyz"
    return process


def baseline(app: str, cwd: Path, *, module: str = "bench.baselines", **env_vars: str) -> Process:
    """A plain Starlette app from :mod:`bench.baselines`, served by uvicorn like cardcash."""
    port = free_port()
    env = dict(os.environ) | env_vars
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    argv = [
        str(BIN / "python"),
        "-m",
        "uvicorn",
        "--factory",
        f"{module}:{app}",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-server-header",
    ]
    return Process(argv, env, cwd, port)
