"""The ``cardcash`` command as ``make run`` uses it: migrate, seed, serve over real HTTP."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from api.schema import schema
from providers.types import SDK_VERSION
from tests.servers import free_port

CARDCASH = [sys.executable, "-m", "api.cli"]


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDCASH_")}
    env.update(CARDCASH_DATABASE_URL=database_url, CARDCASH_DATA_DIR=str(tmp_path / "data"))
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        CARDCASH + args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_migrate_seed_twice_then_serve(tmp_path, database_url):
    env = _env(tmp_path, database_url)
    for _ in range(2):
        assert run(["migrate"], env, tmp_path).returncode == 0
        seeded = run(["seed"], env, tmp_path)
        assert seeded.returncode == 0, seeded.stderr
        assert "6 banks" in seeded.stdout

    port = free_port()
    server = subprocess.Popen(
        CARDCASH + ["serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
        body = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": "{ banks(channel: ALIPAY) { code availability } }"},
        ).json()
        assert body["data"]["banks"][0] == {"code": "NBBANK", "availability": "PILOT"}
        ide = httpx.get(f"http://127.0.0.1:{port}/graphql", headers={"accept": "text/html"})
        assert ide.status_code == 200 and "graphiql" in ide.text.lower()
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    assert "Traceback" not in output and "ERROR" not in output, output


def test_export_schema_prints_the_sdl(tmp_path, database_url):
    result = run(["export-schema"], _env(tmp_path, database_url), tmp_path)
    assert result.returncode == 0
    assert result.stdout == schema.as_str() + "\n"


def test_prod_without_secret_key_refuses_to_start(tmp_path, database_url):
    env = _env(tmp_path, database_url) | {"CARDCASH_ENV": "prod"}
    result = run(["serve", "--port", str(free_port())], env, tmp_path)
    assert result.returncode != 0
    assert "CARDCASH_SECRET_KEY" in result.stderr and "32 bytes" in result.stderr


def test_bad_catalog_file_is_reported(tmp_path, database_url):
    bad = tmp_path / "catalog.toml"
    bad.write_text('[[bank]]\ncode = "x"\n')
    env = _env(tmp_path, database_url) | {"CARDCASH_CATALOG_FILE": str(bad)}
    result = run(["seed"], env, tmp_path)
    assert result.returncode != 0 and "code must be" in result.stderr


@pytest.mark.parametrize("command", ["frobnicate", ""])
def test_unknown_command_shows_usage(tmp_path, database_url, command):
    result = run([command] if command else [], _env(tmp_path, database_url), tmp_path)
    assert result.returncode == 2 and "usage: cardcash" in result.stderr


SIX = {"NBBANK", "CEB", "SPABANK", "HXBANK", "SPDB", "CITIC"}
PROD = {"CARDCASH_ENV": "prod", "CARDCASH_SECRET_KEY": "s" * 40}


def _rows(stdout: str) -> dict[str, str]:
    lines = [line for line in stdout.splitlines() if line and not line.startswith("!!")]
    assert lines[0].split() == ["CODE", "NAME", "VERSION", "SDK", "DISTRIBUTION", "STATUS"]
    return {line.split()[0]: line for line in lines[1:]}


def test_plugins_lists_the_sandbox_banks_and_says_they_are_simulated(tmp_path, database_url):
    env = _env(tmp_path, database_url) | {"CARDCASH_BANKS_BLOCKED": '["CITIC"]'}
    result = run(["plugins"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = _rows(result.stdout)
    assert set(lines) == SIX
    assert "loaded, healthy, SIMULATED" in lines["CEB"]
    # The columns the guide promises: code, name, version, SDK, distribution, status.
    assert lines["CEB"].split()[:8] == ["CEB", "China", "Everbright", "Bank", "1.0.0",
                                        SDK_VERSION, "cardcash", "0.1.0"]
    assert "blocked" in lines["CITIC"]
    assert "!! SIMULATED BANKS ARE SERVING in dev" in result.stdout
    assert "SIMULATED BANKS ARE SERVING" in result.stderr


def test_prod_serves_no_sandbox_bank(tmp_path, database_url):
    result = run(["plugins"], _env(tmp_path, database_url) | PROD, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = _rows(result.stdout)
    assert set(lines) == SIX
    for line in lines.values():
        assert "loaded" not in line
        assert "blocked: simulated bank, off in production" in line
    assert "SIMULATED BANKS" not in result.stdout + result.stderr


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_prod_serves_sandbox_banks_only_when_told_to_and_says_so_loudly(
    tmp_path, database_url, value
):
    env = _env(tmp_path, database_url) | PROD | {"CARDCASH_SIMULATED_BANKS": value}
    result = run(["plugins"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    lines = _rows(result.stdout)
    assert all("loaded, healthy, SIMULATED: moves no money" in lines[c] for c in SIX)
    assert "!! SIMULATED BANKS ARE SERVING IN PRODUCTION" in result.stdout
    assert "unset CARDCASH_SIMULATED_BANKS" in result.stderr


def test_prod_server_logs_loudly_when_simulated_banks_serve(tmp_path, database_url):
    env = _env(tmp_path, database_url) | PROD | {"CARDCASH_SIMULATED_BANKS": "true"}
    assert run(["migrate"], env, tmp_path).returncode == 0
    port = free_port()
    server = subprocess.Popen(
        CARDCASH + ["serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.1)
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0]
    [line] = [json.loads(x) for x in output.splitlines() if "SIMULATED BANKS" in x]
    assert line["level"] == "WARNING"
    assert "SIMULATED BANKS ARE SERVING IN PRODUCTION" in line["message"]
    assert all(code in line["message"] for code in SIX)


def test_the_data_dir_and_sqlite_file_are_created_owner_only(tmp_path):
    nested = tmp_path / "var" / "lib" / "cardcash"
    env = _env(tmp_path, f"sqlite:///{nested / 'db' / 'cardcash.db'}") | {
        "CARDCASH_DATA_DIR": str(nested / "data")
    }
    old = os.umask(0o022)  # the usual umask: files 0644 unless made otherwise
    try:
        assert run(["migrate"], env, tmp_path).returncode == 0
        assert run(["plugins"], env, tmp_path).returncode == 0  # the banks' data dir and files
    finally:
        os.umask(old)
    db = nested / "db" / "cardcash.db"
    for path in (db, nested / "data" / "sandbox-banks.sqlite3",
                 nested / "data" / "sandbox-callback-secret"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in (nested / "db", nested / "data", nested, tmp_path / "var"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    wal = [p for p in (nested / "data").iterdir() if p.name.endswith(("-wal", "-shm"))]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in wal)


def test_prod_alipay_login_needs_alipays_public_key(tmp_path, database_url):
    env = _env(tmp_path, database_url) | {
        "CARDCASH_ENV": "prod",
        "CARDCASH_SECRET_KEY": "s" * 40,
        "CARDCASH_ALIPAY_APP_ID": "2021000000000000",
        "CARDCASH_ALIPAY_PRIVATE_KEY": "x",
    }
    result = run(["serve", "--port", str(free_port())], env, tmp_path)
    assert result.returncode != 0 and "CARDCASH_ALIPAY_PUBLIC_KEY" in result.stderr


def test_the_public_url_follows_the_port(tmp_path, database_url):
    from api.settings import Settings

    assert Settings(port=9123).public_url == "http://127.0.0.1:9123"
    assert Settings(host="0.0.0.0", port=8080).public_url == "http://127.0.0.1:8080"
    assert Settings(host="10.1.2.3", port=81).public_url == "http://10.1.2.3:81"
    explicit = Settings(port=9123, public_url="https://cash.example.com")
    assert explicit.public_url == "https://cash.example.com"

    # As `cardcash serve --port N` (what `make run CARDCASH_PORT=N` amounts to) runs it.
    from tests.servers import ServerProcess, server_env

    env = server_env(database_url, tmp_path / "data")
    assert run(["seed"], env, tmp_path).returncode == 0
    with ServerProcess(env, tmp_path) as server:
        body = httpx.post(
            f"{server.url}/graphql", json={"query": "{ banks(channel: ALIPAY) { logoUrl } }"}
        ).json()
    logos = [b["logoUrl"] for b in body["data"]["banks"] if b["logoUrl"]]
    assert logos and all(logo.startswith(f"{server.url}/") for logo in logos), logos
