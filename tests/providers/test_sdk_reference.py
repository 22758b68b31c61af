"""Every field of every SDK dataclass is documented, and the reference page is up to date."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import textwrap
from pathlib import Path

import providers
from providers import reference, types

PAGE = Path(__file__).resolve().parents[2] / "docs" / "sdk-reference.md"


def test_every_field_of_every_sdk_dataclass_has_a_docstring():
    assert reference.missing() == [], "document these fields where they are declared"


def test_every_dataclass_and_enum_of_the_sdk_is_in_the_reference():
    """One a plugin exchanges with cardcash, in any SDK module (the kit's own are the kit's)."""
    covered = {cls for module in reference.MODULES for cls in reference.classes(module)}
    for found in pkgutil.walk_packages(providers.__path__, "providers."):
        if found.name.startswith("providers.testkit"):
            continue
        left_out = set(reference.classes(importlib.import_module(found.name))) - covered
        assert not left_out, (
            f"{found.name} defines {sorted(c.__name__ for c in left_out)}: add the module to "
            "providers.reference.MODULES and run `make sdk-reference`")
    assert "## `StatementEntry`" in reference.render()


def test_a_field_without_a_docstring_is_found(tmp_path, monkeypatch):
    (tmp_path / "undocumented_sdk.py").write_text(textwrap.dedent('''
        from dataclasses import dataclass, field

        @dataclass(frozen=True)
        class Result:
            """A dataclass with two fields documented and two not."""

            documented: int
            """This one is."""
            forgotten: str
            added: bool = field(default=False, kw_only=True)
            """Documented too."""
            also_forgotten: int = 0
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("undocumented_sdk")
    assert reference.missing((module,)) == ["Result.forgotten", "Result.also_forgotten"]


def test_the_committed_reference_is_the_generated_one():
    assert PAGE.read_text(encoding="utf-8") == reference.render(), (
        "docs/sdk-reference.md is out of date: run `make sdk-reference`"
    )


def test_the_reference_lists_every_field_with_its_type_and_default():
    page = reference.render()
    for cls in (types.Offer, types.CardInfo, types.SubmitWithdrawal, types.CallbackEvent):
        assert f"## `{cls.__name__}`" in page
        for field in dataclasses.fields(cls):
            assert f"| `{field.name}` |" in page, (cls.__name__, field.name)
    assert "| `usable_for_payout` | `bool` | `True`, keyword-only |" in page
    assert "| `INVALID_SIGNATURE` |" in page
