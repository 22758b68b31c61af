"""A fresh clone needs nothing installed by hand: `make install` builds a working venv."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_fresh_clone_installs_and_runs(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CARDCASH_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(ROOT))
    )
    result = subprocess.run(
        ["make", "install"], cwd=clone, env=env, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout + result.stderr
    cardcash = clone / ".venv" / "bin" / "cardcash"
    sdl = subprocess.run(
        [str(cardcash), "export-schema"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sdl.returncode == 0, sdl.stderr
    assert sdl.stdout == (clone / "schema.graphql").read_text(encoding="utf-8")
    shutil.rmtree(clone / ".venv")
