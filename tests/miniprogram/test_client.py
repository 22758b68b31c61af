"""clients/miniprogram as a mini-program team uses it: the package's own documents, loaded by
``import`` and ``require``, driving a real server through fake WeChat and Alipay runtimes
(network errors, timeouts before and after the server answered, 401 and UNAUTHENTICATED,
binary and text socket frames)."""

from __future__ import annotations

import hashlib
import json

from graphql import parse, validate

from api.schema import schema
from tests.miniprogram.conftest import CLIENT, GENEROUS_LIMITS, node_test
from tests.servers import ServerProcess, seeded_server_env


def _passed(out: str) -> None:
    assert "ℹ fail 0" in out and "ℹ pass 0" not in out, out


def test_wechat_client_against_the_server(server):
    _passed(node_test("wechat.test.mjs", server.url))


def test_alipay_client_against_the_server(server):
    _passed(node_test("alipay.test.mjs", server.url))


def test_logout_ends_the_session_and_its_socket_without_a_silent_sign_in(server):
    _passed(node_test("logout.test.mjs", server.url))


def test_the_documents_are_a_persisted_only_servers_manifest(node_ready, database_url, tmp_path):
    manifest = {}
    for path in (CLIENT / "documents").glob("*.graphql"):
        text = path.read_text(encoding="utf-8")
        manifest[hashlib.sha256(text.encode()).hexdigest()] = text
    manifest_file = tmp_path / "manifest.json"
    manifest_file.write_text(json.dumps(manifest), encoding="utf-8")
    env = seeded_server_env(
        database_url, tmp_path, persisted_only="true",
        persisted_queries_file=str(manifest_file), **GENEROUS_LIMITS,
    )
    with ServerProcess(env, tmp_path) as server:
        _passed(node_test("persisted.test.mjs", server.url))


def test_the_package_loads_with_require(node_ready):
    _passed(node_test("require.test.cjs"))


def test_documents_are_valid_and_the_generated_module_is_current(node_ready):
    documents = sorted((CLIENT / "documents").glob("*.graphql"))
    assert len(documents) >= 10
    generated = (CLIENT / "src" / "documents.js").read_text(encoding="utf-8")
    for path in documents:
        text = path.read_text(encoding="utf-8")
        assert validate(schema._schema, parse(text)) == [], path.name
        assert hashlib.sha256(text.encode()).hexdigest() in generated, path.name
    node_test(str(CLIENT / "tools" / "documents.mjs"), args=("--check",))
