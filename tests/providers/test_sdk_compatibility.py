"""A plugin written against SDK 1.0 keeps passing the conformance suite, unchanged.

``sdk_1_0_plugin/`` is the example bank package as it was written for SDK 1.0 (positional
dataclass construction, its own callback signing, none of the later fixtures). The suite runs
in a subprocess with only that package added to the path, as its author would run it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLUGIN = Path(__file__).resolve().parent / "sdk_1_0_plugin"


def test_a_plugin_written_for_sdk_1_0_passes_the_suite_unchanged(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(PLUGIN)}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests"),
         "--rootdir", str(PLUGIN), "-c", str(PLUGIN / "pyproject.toml")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert " passed" in completed.stdout and "failed" not in completed.stdout
    # The sample's own declaration: written for 1.0.
    assert 'sdk_version = "1.0"' in (PLUGIN / "cardcash_examplebank" / "bank.py").read_text()
