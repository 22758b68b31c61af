"""Persisted queries: Apollo's automatic persisted queries, and an allow-list manifest.

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}`` and, the
first time or after ``PERSISTED_QUERY_NOT_FOUND``, the query text as well. The hash is the
SHA-256 of the exact query text. Known hashes come from the manifest (the operations of the
shipped front ends) and, unless the server runs persisted-only, from a bounded in-process cache
of documents that validated (each replica learns them on its own; a miss costs one round trip).

With ``persisted_only`` the manifest is an allow-list: an operation runs only when its hash is
listed, so the server executes exactly the operations the mini-programs were built with.

Manifest formats accepted (JSON):

- Apollo's ``{"format": "apollo-persisted-query-manifest", "version": 1,
  "operations": [{"id": "<sha256>", "name": "...", "type": "query", "body": "..."}]}``
- a plain ``{"<sha256>": "<query text>", ...}`` map (Relay's persisted query output).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from cachetools import LRUCache

_HASH = re.compile(r"[0-9a-fA-F]{64}")


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


class ManifestError(ValueError):
    """The persisted query manifest cannot be used; the message says why."""


class PersistedQueryError(Exception):
    """A persisted-query request that cannot run. ``request_error``: a GraphQL request error
    (the client can recover, e.g. by sending the query); otherwise a malformed request (400)."""

    def __init__(self, code: str, message: str, *, request_error: bool = True) -> None:
        super().__init__(message)
        self.code, self.message, self.request_error = code, message, request_error


def not_found() -> PersistedQueryError:
    return PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")


def not_supported() -> PersistedQueryError:
    return PersistedQueryError("PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported")


def not_allowed() -> PersistedQueryError:
    return PersistedQueryError(
        "PERSISTED_QUERY_NOT_ALLOWED",
        "only persisted operations are accepted: this operation is not in the server's manifest",
    )


def load_manifest(path: Path) -> dict[str, str]:
    """The manifest as ``{hash: query}``; every hash must be the SHA-256 of its query."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot read persisted query manifest {path}: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("operations"), list):
        pairs = []
        for op in data["operations"]:
            if not isinstance(op, dict) or not isinstance(op.get("body"), str):
                raise ManifestError(f"{path}: every operation needs a string 'body'")
            pairs.append((op.get("id"), op["body"]))
    elif isinstance(data, dict):
        pairs = list(data.items())
    else:
        raise ManifestError(f"{path}: expected a JSON object")
    manifest: dict[str, str] = {}
    for key, body in pairs:
        if not isinstance(key, str) or not isinstance(body, str):
            raise ManifestError(f"{path}: ids and bodies must be strings")
        if key.lower() != sha256_hex(body):
            raise ManifestError(f"{path}: id {key[:16]}… is not the SHA-256 of its body")
        manifest[key.lower()] = body
    return manifest


class PersistedQueries:
    """Resolves the document of a request from its query text and ``extensions``."""

    def __init__(
        self,
        *,
        automatic: bool = True,
        cache_size: int = 1000,
        manifest: dict[str, str] | None = None,
        only: bool = False,
    ) -> None:
        self._automatic = automatic and not only
        self._cache: LRUCache[str, str] = LRUCache(cache_size)
        self._manifest = manifest or {}
        self._only = only

    def resolve(self, query: str | None, extensions: dict | None) -> tuple[str | None, str | None]:
        """``(document, hash_to_remember)``; raises :class:`PersistedQueryError`.

        ``hash_to_remember`` is set when the document came with a hash that is not known yet:
        call :meth:`remember` with it once the document has proved valid.
        """
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            if self._only and (query is None or sha256_hex(query) not in self._manifest):
                raise not_allowed()
            return query, None
        digest = self._parse(persisted)
        if query is not None:
            if sha256_hex(query) != digest:
                raise PersistedQueryError(
                    "PERSISTED_QUERY_HASH_MISMATCH",
                    "provided sha does not match query",
                    request_error=False,
                )
            if self._only and digest not in self._manifest:
                raise not_allowed()
            known = digest in self._manifest or digest in self._cache
            return query, (None if known or not self._automatic else digest)
        if digest in self._manifest:
            return self._manifest[digest], None
        if (document := self._cache.get(digest)) is not None:
            return document, None
        if not self._automatic and not self._manifest:
            raise not_supported()
        raise not_found()

    def remember(self, digest: str, query: str) -> None:
        self._cache[digest] = query

    @staticmethod
    def _parse(persisted: object) -> str:
        if not isinstance(persisted, dict):
            raise PersistedQueryError(
                "BAD_REQUEST", "extensions.persistedQuery must be an object", request_error=False
            )
        if persisted.get("version") != 1:
            raise PersistedQueryError(
                "PERSISTED_QUERY_VERSION_NOT_SUPPORTED",
                "unsupported persisted query version: only version 1 is",
                request_error=False,
            )
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not _HASH.fullmatch(digest):
            raise PersistedQueryError(
                "BAD_REQUEST",
                "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits",
                request_error=False,
            )
        return digest.lower()
