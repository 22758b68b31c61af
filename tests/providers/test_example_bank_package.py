"""The example plugin, once pip-installed, is found through its entry point and passes the suite.

The package is installed with pip into a throwaway directory (never into the project's
environment), and discovery runs in a subprocess that has that directory on its path, as a
cardcash process would after ``pip install cardcash-examplebank``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cardcash-examplebank"

DISCOVER = textwrap.dedent(
    """
    import json, sys, tempfile
    from pathlib import Path
    from api.banks.registry import load_providers

    enabled, blocked = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    registry = load_providers(enabled=enabled, blocked=blocked,
                              data_dir=Path(tempfile.mkdtemp()), options={"*": {"latency_ms": "0"}})
    print(json.dumps([info.to_dict() for info in registry.plugins]))
    """
)


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """A directory holding the example package as pip installs it."""
    work = tmp_path_factory.mktemp("example")
    source = shutil.copytree(EXAMPLE, work / "src", ignore=shutil.ignore_patterns(
        "*.egg-info", "build", "__pycache__", ".pytest_cache"))
    site = work / "site"
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(source)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return site


def run_python(site: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120, check=False)


def discover(site: Path, enabled: list[str] | None, blocked: list[str]) -> dict[str, dict]:
    completed = run_python(site, "-c", DISCOVER, json.dumps(enabled), json.dumps(blocked))
    assert completed.returncode == 0, completed.stderr
    return {info["code"]: info for info in json.loads(completed.stdout)}


def test_the_installed_example_is_discovered_next_to_the_sandbox_banks(example_site):
    plugins = discover(example_site, None, [])
    example = plugins["EXAMPLE"]
    assert example["status"] == "loaded", example
    assert (example["distribution"], example["distribution_version"]) == (
        "cardcash-examplebank", "0.1.0")
    assert (example["name"], example["version"], example["sdk_version"]) == (
        "Example Bank", "0.1.0", "1.1")
    assert {"CEB", "SPDB"} <= {code for code, info in plugins.items()
                               if info["status"] == "loaded"}


def test_pinning_and_blocking_apply_to_the_installed_example(example_site):
    pinned = discover(example_site, ["EXAMPLE"], [])
    assert [c for c, info in pinned.items() if info["status"] == "loaded"] == ["EXAMPLE"]
    assert pinned["CEB"]["reason"] == "not in the enabled list"
    blocked = discover(example_site, None, ["EXAMPLE"])
    assert blocked["EXAMPLE"]["status"] == "blocked"
    assert blocked["CEB"]["status"] == "loaded"


def test_the_examples_own_conformance_tests_pass(example_site):
    completed = run_python(example_site, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(EXAMPLE / "tests"), "--rootdir", str(EXAMPLE),
                           "-c", str(EXAMPLE / "pyproject.toml"), cwd=example_site)
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "passed" in completed.stdout and "failed" not in completed.stdout
