"""``cardcash persisted-manifest``: the shipped documents -> Apollo's manifest -> a server that
runs only them (CARDCASH_PERSISTED_ONLY), as the README's production section does it."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ROOT / "clients" / "miniprogram" / "documents"


def manifest_of(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARDCASH_")}
    return subprocess.run(
        [sys.executable, "-m", "api.cli", "persisted-manifest", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_clients_documents_make_a_manifest_with_the_clients_hashes(tmp_path):
    out = tmp_path / "manifest.json"
    done = manifest_of(str(DOCUMENTS), "-o", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(out.read_text())
    assert manifest["format"] == "apollo-persisted-query-manifest" and manifest["version"] == 1
    files = sorted(DOCUMENTS.glob("*.graphql"))
    assert [op["name"] for op in manifest["operations"]] == [f.stem for f in files]
    # The client sends the SHA-256 of each file's text: the manifest's ids are those.
    shipped = dict(
        re.findall(
            r'name: "(\w+)",\n  type: "\w+",\n  hash: "([0-9a-f]{64})"',
            (DOCUMENTS.parent / "src" / "documents.js").read_text(),
        )
    )
    for op, path in zip(manifest["operations"], files, strict=True):
        assert op["body"] == path.read_text()
        assert op["id"] == hashlib.sha256(op["body"].encode()).hexdigest() == shipped[op["name"]]
        assert op["type"] in ("query", "mutation", "subscription")


def test_a_file_of_several_operations_is_split_with_its_fragments(tmp_path):
    (tmp_path / "page.graphql").write_text(
        "fragment B on Bank { code name }\n"
        "query Banks { banks(channel: ALIPAY) { ...B } }\n"
        "query One($c: String!) { bank(code: $c, channel: ALIPAY) { ...B usable } }\n"
    )
    done = manifest_of("page.graphql", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    operations = json.loads(done.stdout)["operations"]
    assert [op["name"] for op in operations] == ["Banks", "One"]
    for op in operations:
        assert "fragment B on Bank" in op["body"] and op["body"].count("query ") == 1
        assert op["id"] == hashlib.sha256(op["body"].encode()).hexdigest()


def test_documents_that_do_not_fit_the_schema_write_nothing(tmp_path):
    bad = {
        "syntax.graphql": "query Broken { banks(channel: ALIPAY) { code }",
        "unknown.graphql": "query Unknown { banks(channel: ALIPAY) { nope } }",
        "enum.graphql": "query Mars { banks(channel: MARS) { code } }",
        "anonymous.graphql": "{ banks(channel: ALIPAY) { code } }",
        "fragments.graphql": "fragment F on Bank { code }",
        "twice.graphql": "query Viewer { viewer { id } }",
        "again.graphql": "query Viewer { viewer { id } }",
    }
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
    out = tmp_path / "manifest.json"
    done = manifest_of(str(tmp_path), "-o", str(out), cwd=tmp_path)
    assert done.returncode != 0 and not out.exists()
    for name in ("syntax", "unknown", "enum", "anonymous", "fragments"):
        assert f"{name}.graphql" in done.stderr, done.stderr
    assert "operation Viewer is also in" in done.stderr
    assert "no manifest written" in done.stderr
    missing = manifest_of(str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode != 0 and "no such file" in missing.stderr


async def test_the_manifest_serves_a_persisted_only_server(serve, tmp_path):
    out = tmp_path / "manifest.json"
    assert manifest_of(str(DOCUMENTS), "-o", str(out), cwd=tmp_path).returncode == 0
    operations = {op["name"]: op for op in json.loads(out.read_text())["operations"]}
    async with serve(env="prod", persisted_only=True, persisted_queries_file=out) as client:
        page = operations["ServicePage"]
        by_hash = {"persistedQuery": {"version": 1, "sha256Hash": page["id"]}}
        answer = await client.post(
            "/graphql", json={"extensions": by_hash, "variables": {"channel": "ALIPAY"}}
        )
        assert answer.status_code == 200 and answer.json()["data"]["banks"], answer.text
        got = await client.get(
            "/graphql",
            params={"extensions": json.dumps(by_hash), "variables": '{"channel":"WECHAT"}'},
        )
        assert got.json()["data"]["banks"], got.text
        refused = await client.post(
            "/graphql", json={"query": "{ banks(channel: ALIPAY) { code } }"}
        )
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_ALLOWED"
        # Signing in is one of the shipped operations too (prod: no sandbox sign-in).
        login = operations["Login"]
        signed = await client.post(
            "/graphql",
            json={
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": login["id"]}},
                "variables": {"channel": "WECHAT", "code": "sandbox:x"},
            },
        )
        assert signed.json()["data"]["login"]["code"] == "SANDBOX_DISABLED"
