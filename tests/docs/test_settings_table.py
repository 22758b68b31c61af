"""The README's table of settings is made from ``api.settings.Settings``: it cannot drift."""

from __future__ import annotations

from pathlib import Path

from api.settings import Settings, settings_table, with_settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_lists_every_setting_as_the_code_declares_it():
    readme = README.read_text()
    assert with_settings_table(readme) == readme, (
        "README.md's table of settings is out of date: run `make settings-docs`"
    )


def test_every_setting_says_what_it_does():
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert not missing, f"settings without a description: {missing}"


def test_one_row_per_setting():
    rows = [line.split(" | ")[0] for line in settings_table().splitlines()[2:]]
    assert len(rows) == len(set(rows)) == len(Settings.model_fields)
