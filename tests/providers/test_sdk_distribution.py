"""The SDK distribution (sdk/, ``cardcash-bank-sdk``) installs on its own and runs the kit.

A plugin author's environment holds the SDK, the kit and the plugin, not the service: a fresh
virtual environment (no system site-packages, nothing of cardcash's) gets the SDK with its kit
and the example package from examples/, as an author would pip-install them; then every SDK
module imports there, none of the service's dependencies is present, and the example's own
conformance tests pass. The package index is needed for the SDK's few dependencies; where none
answers, the tests are skipped saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "sdk"
EXAMPLE = ROOT / "examples" / "cardcash-examplebank"
#: A plugin as written for SDK 1.0 (see test_sdk_compatibility.py), never edited since.
SDK_1_0_PLUGIN = Path(__file__).resolve().parent / "sdk_1_0_plugin"
IGNORE = shutil.ignore_patterns("*.egg-info", "build", "dist", "__pycache__", ".pytest_cache")

#: What a plugin author's environment must not pull in: the service and its heavy dependencies.
SERVICE_ONLY = ("api", "db", "strawberry", "sqlalchemy", "sqlmodel", "asyncpg", "alembic",
                "starlette", "uvicorn", "aiosqlite")

IMPORT_ALL = textwrap.dedent(
    """
    import importlib, importlib.util, pkgutil, sys
    import providers
    for module in pkgutil.walk_packages(providers.__path__, "providers."):
        importlib.import_module(module.name)
    present = [name for name in sys.argv[1:] if importlib.util.find_spec(name) is not None]
    print("present:", ",".join(present))
    """
)


def _env() -> dict[str, str]:
    """The environment minus anything pointing at the project's own virtual environment."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _run(*args: str, cwd: Path | None = None, timeout: float = 300,
         path: Path | None = None) -> subprocess.CompletedProcess:
    env = _env() if path is None else {**_env(), "PYTHONPATH": str(path)}
    return subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout, check=False)


def _passed(completed: subprocess.CompletedProcess) -> int:
    """How many tests a pytest run passed (it must have failed none)."""
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    summary = completed.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    return int(summary.split(" passed")[0].split()[-1])


@pytest.fixture(scope="module")
def author_env(tmp_path_factory) -> tuple[Path, Path]:
    """(python of a fresh venv holding only the SDK, its kit and the example; the example)."""
    work = tmp_path_factory.mktemp("sdk-alone")
    sdk = shutil.copytree(SDK, work / "sdk", ignore=IGNORE)
    example = shutil.copytree(EXAMPLE, work / "example", ignore=IGNORE)
    venv = work / "venv"
    made = _run(sys.executable, "-m", "venv", str(venv), timeout=120)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    probe = _run(str(python), "-m", "pip", "download", "--quiet", "--no-deps",
                 "--dest", str(work / "probe"), "packaging", timeout=120)
    if probe.returncode != 0:
        pytest.skip("SDK distribution not checked: no package index answers for a fresh "
                    f"environment (pip download packaging: {probe.stderr.strip()[-300:]})")
    installed = _run(str(python), "-m", "pip", "install", "--quiet", f"{sdk}[testkit]",
                     str(example))
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-3000:]
    return python, example


def test_the_sdk_installs_without_anything_of_the_service(author_env):
    python, example = author_env
    # Run from outside the repository, so that its own directories are not on the path.
    completed = _run(str(python), "-c", IMPORT_ALL, *SERVICE_ONLY, cwd=example.parent)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip() == "present:", completed.stdout
    listed = _run(str(python), "-m", "pip", "list", "--format=freeze")
    names = {line.split("==")[0].lower() for line in listed.stdout.split()}
    assert {"cardcash-bank-sdk", "cardcash-examplebank", "pytest", "pytest-asyncio"} <= names
    assert "cardcash" not in names


def test_the_kit_runs_against_the_example_in_the_authors_environment(author_env):
    python, example = author_env
    completed = _run(str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=example)
    assert _passed(completed) >= 20, completed.stdout[-500:]


def test_a_plugin_written_for_sdk_1_0_passes_the_kit_with_the_sdk_alone(author_env, tmp_path):
    python, _ = author_env
    plugin = shutil.copytree(SDK_1_0_PLUGIN, tmp_path / "plugin", ignore=IGNORE)
    # On the path rather than installed: it still names its dependency as it did in 1.0. Its
    # package has the example's name, and the path comes before the installed example.
    found = _run(str(python), "-c", "import cardcash_examplebank as m; print(m.__file__)",
                 cwd=plugin, path=plugin)
    assert found.stdout.strip().startswith(str(plugin)), found.stdout + found.stderr
    completed = _run(str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=plugin,
                     path=plugin)
    assert _passed(completed) >= 20, completed.stdout[-500:]
