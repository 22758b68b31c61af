"""Automatic persisted queries (Apollo's protocol) and the persisted-only allow-list."""

from __future__ import annotations

import hashlib
import json

import pytest

from api.app import create_app
from api.settings import SettingsError
from tests.conftest import make_settings

GQL = "application/graphql-response+json"
BANKS = "query ServicePage { banks(channel: ALIPAY) { code } }"
OTHER = "{ banks(channel: WECHAT) { code name } }"


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def ext(digest: str, version: int = 1) -> dict:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


async def test_apollo_round_trip_over_post_and_get(client):
    digest = sha(BANKS)
    response = await client.post("/graphql", json={"extensions": ext(digest)})
    assert response.status_code == 200
    error = response.json()["errors"][0]
    assert error["message"] == "PersistedQueryNotFound"
    assert error["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    response = await client.post(
        "/graphql", json={"extensions": ext(digest)}, headers={"accept": GQL}
    )
    assert response.status_code == 400

    response = await client.post("/graphql", json={"query": BANKS, "extensions": ext(digest)})
    assert response.json()["data"]["banks"]
    response = await client.post("/graphql", json={"extensions": ext(digest.upper())})
    assert response.json()["data"]["banks"]
    response = await client.get("/graphql", params={"extensions": json.dumps(ext(digest))})
    assert response.status_code == 200 and response.json()["data"]["banks"]


async def test_invalid_documents_are_not_remembered(client):
    bad = "{ nope }"
    await client.post("/graphql", json={"query": bad, "extensions": ext(sha(bad))})
    response = await client.post("/graphql", json={"extensions": ext(sha(bad))})
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    "extensions, code",
    [
        (ext(sha(OTHER)), "PERSISTED_QUERY_HASH_MISMATCH"),
        (ext(sha(BANKS), version=2), "PERSISTED_QUERY_VERSION_NOT_SUPPORTED"),
        (ext("abc"), "BAD_REQUEST"),
        (ext("z" * 64), "BAD_REQUEST"),
        ({"persistedQuery": "x"}, "BAD_REQUEST"),
        ({"persistedQuery": {"version": 1}}, "BAD_REQUEST"),
    ],
)
async def test_malformed_persisted_queries_are_400(client, extensions, code):
    response = await client.post("/graphql", json={"query": BANKS, "extensions": extensions})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == code


async def test_automatic_persisted_queries_can_be_turned_off(serve):
    async with serve(persisted_queries=False) as client:
        response = await client.post("/graphql", json={"extensions": ext(sha(BANKS))})
        assert response.json()["errors"][0]["message"] == "PersistedQueryNotSupported"
        response = await client.post("/graphql", json={"query": BANKS})
        assert response.json()["data"]["banks"]


def _apollo_manifest(path, *queries):
    operations = [
        {"id": sha(q), "name": f"Op{i}", "type": "query", "body": q} for i, q in enumerate(queries)
    ]
    manifest = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    path.write_text(json.dumps(manifest))
    return path


async def test_persisted_only_runs_the_manifest_and_nothing_else(serve, tmp_path):
    manifest = _apollo_manifest(tmp_path / "manifest.json", BANKS)
    async with serve(env="prod", persisted_only=True, persisted_queries_file=manifest) as client:
        response = await client.post("/graphql", json={"extensions": ext(sha(BANKS))})
        assert response.json()["data"]["banks"]
        response = await client.post("/graphql", json={"query": BANKS})  # same text: allowed
        assert response.json()["data"]["banks"]
        for payload in (
            {"query": OTHER},
            {"query": OTHER, "extensions": ext(sha(OTHER))},
        ):
            response = await client.post("/graphql", json=payload, headers={"accept": GQL})
            assert response.status_code == 400
            code = response.json()["errors"][0]["extensions"]["code"]
            assert code == "PERSISTED_QUERY_NOT_ALLOWED"
        response = await client.post("/graphql", json={"extensions": ext(sha(OTHER))})
        assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        # Nothing was learnt from the refused query.
        response = await client.post("/graphql", json={"extensions": ext(sha(OTHER))})
        assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_plain_hash_to_query_manifest_also_works(serve, tmp_path):
    path = tmp_path / "relay.json"
    path.write_text(json.dumps({sha(BANKS): BANKS}))
    async with serve(persisted_only=True, persisted_queries_file=path) as client:
        response = await client.post("/graphql", json={"extensions": ext(sha(BANKS))})
        assert response.json()["data"]["banks"]


def test_a_bad_manifest_stops_the_server_at_start(database_url, tmp_path):
    wrong_hash = tmp_path / "wrong.json"
    wrong_hash.write_text(json.dumps({sha(OTHER): BANKS}))
    stale = _apollo_manifest(tmp_path / "stale.json", "{ banks(channel: ALIPAY) { gone } }")
    for path in (wrong_hash, stale, tmp_path / "missing.json"):
        settings = make_settings(
            database_url, tmp_path / "d", persisted_only=True, persisted_queries_file=path
        )
        with pytest.raises(SettingsError):
            create_app(settings)
    with pytest.raises(SettingsError):
        make_settings(database_url, tmp_path / "d", persisted_only=True)
