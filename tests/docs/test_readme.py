"""What the README shows a front-end developer holds: its documents fit the schema, and the
port of `make run` moves the public URL with it. (Its production loop, documents -> manifest
-> a persisted-only server, is tests/http/test_persisted_manifest.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from graphql import parse, validate

from api.schema import schema
from api.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
GRAPHQL_BLOCK = re.compile(r"```graphql\n(.*?)```", re.DOTALL)


def test_every_document_in_the_readme_fits_the_schema():
    blocks = GRAPHQL_BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 3
    for block in blocks:
        assert validate(schema._schema, parse(block)) == [], block
    assert any("query History" in block for block in blocks), "the history query is shown"


def test_the_public_url_follows_the_port_and_host_unless_set(monkeypatch):
    for name in ("CARDCASH_PUBLIC_URL", "CARDCASH_HOST", "CARDCASH_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARDCASH_PORT", "8080")
    assert Settings().public_url == "http://127.0.0.1:8080"
    monkeypatch.setenv("CARDCASH_HOST", "0.0.0.0")
    assert Settings().public_url == "http://127.0.0.1:8080"
    monkeypatch.setenv("CARDCASH_PUBLIC_URL", "http://192.168.1.20:8080")
    assert Settings().public_url == "http://192.168.1.20:8080"
    readme = README.read_text(encoding="utf-8")
    assert "CARDCASH_PORT=8080 make run" in readme

