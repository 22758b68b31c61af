"""The plugin guide documents every method, error code and option of the contract."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from api.banks.guard import GUARD_OPTIONS
from api.banks.sandbox.bankdata import OPTION_NAMES
from providers import BankProvider, ProviderErrorCode
from providers.testkit import plugin

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()

METHODS = [name for name, _ in inspect.getmembers(BankProvider, inspect.isfunction)
           if not name.startswith("_")]
FIXTURES = [name for name, value in vars(plugin).items()
            if name.startswith(("bank_", "other_bank_")) and callable(value)]


@pytest.mark.parametrize("name", METHODS)
def test_every_provider_method_is_documented(name):
    assert f"`{name}(" in GUIDE


@pytest.mark.parametrize("code", [c.value for c in ProviderErrorCode])
def test_every_error_code_is_documented(code):
    assert f"`{code}`" in GUIDE


@pytest.mark.parametrize("option", [*GUARD_OPTIONS.values(), *OPTION_NAMES])
def test_every_option_is_documented(option):
    assert f"| `{option}` |" in GUIDE


@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_testkit_fixture_is_documented(fixture):
    assert f"| `{fixture}` |" in GUIDE


def test_the_guide_names_no_machine_paths():
    assert not re.search(r"/(home|root|tmp|work)/", GUIDE)
