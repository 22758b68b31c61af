"""Node.js for the tests that drive JavaScript: npm packages from a committed lockfile, Debian's
Chromium for the browser tests. Whatever cannot be installed skips the test with a message that
says what is missing; it never fails the build for that."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CARDCASH_TEST_CHROMIUM", "/usr/bin/chromium"))
#: Debian packages the browser tests need: the browser, and a font with Chinese glyphs so the
#: screenshots show the zh-CN pages as a user sees them.
DEBIAN_PACKAGES = ("chromium", "fonts-wqy-microhei")
_CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def require_node() -> str:
    """The ``node`` executable, or skip."""
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are not installed: the JavaScript tests cannot run")
    return node


def npm_ci(folder: Path) -> None:
    """``npm ci`` in ``folder`` unless its node_modules already match its lockfile."""
    require_node()
    lock = folder / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = folder / "node_modules" / ".cardcash-lock-sha256"
    if stamp.exists() and stamp.read_text() == digest:
        return
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.skip(f"npm ci failed in {folder.name}/ (registry unreachable?): {result.stderr[-800:]}")
    stamp.write_text(digest)


def ensure_chromium() -> Path:
    """Debian's Chromium (and a CJK font), installed with apt-get when missing and root."""
    missing = not CHROMIUM.exists() or not _CJK_FONT.exists()
    if missing and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES],
            env=env,
            capture_output=True,
            timeout=900,
        )
    if not CHROMIUM.exists():
        pytest.skip(
            f"Chromium is not at {CHROMIUM} and could not be installed "
            "(apt-get install chromium needs root): the browser tests cannot run"
        )
    return CHROMIUM


def run_node(script: Path, *args: str, timeout: float = 300, env: dict | None = None) -> dict:
    """Run a Node script that prints one JSON line last; return it (fail with its output)."""
    node = require_node()
    result = subprocess.run(
        [node, str(script), *args],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        pytest.fail(f"{script.name} printed no result (exit {result.returncode}):\n"
                    f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    outcome = json.loads(lines[-1])
    outcome["_stderr"] = result.stderr[-3000:]
    outcome["_exit"] = result.returncode
    return outcome
