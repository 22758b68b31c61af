"""``/admin/graphql``: the operator API over HTTP POST, behind an operator token.

The token is checked before anything else: a request without one, with a user's session
token, or with a revoked token gets 401 and nothing runs. Only POST with a JSON body is
served (no GET: a link must never change anything).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.runtime import Services
from api.schema.admin import AdminContext, admin_schema


def _error(status: int, message: str, code: str, **headers: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return JSONResponse(body, status, headers=headers or None)


def admin_endpoint(services: Callable[[], Services]):
    async def endpoint(request: Request) -> Response:
        if request.method != "POST":
            return _error(405, "the operator API takes POST only", "METHOD_NOT_ALLOWED",
                          allow="POST")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        operator = None
        if scheme.lower() == "bearer" and token.strip():
            operator = await services().operators.authenticate(token.strip())
        if operator is None:
            return _error(
                401, "an operator token is required (cardcash admin operator create)",
                "UNAUTHENTICATED", **{"www-authenticate": 'Bearer realm="cardcash-admin"'},
            )
        try:
            body = json.loads(await request.body())
            query = body["query"]
            variables = body.get("variables") or {}
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            return _error(400, 'send a JSON object {"query": ..., "variables": {...}}',
                          "BAD_REQUEST")
        result = await admin_schema.execute(
            query,
            variable_values=variables,
            operation_name=body.get("operationName"),
            context_value=AdminContext(services(), operator),
        )
        payload: dict = {"data": result.data}
        if result.errors:
            payload["errors"] = []
            for error in result.errors:
                original = error.original_error
                if original is not None and not isinstance(original, GraphQLError):
                    # A bug or an outage: the schema logged it with its stack; not shown.
                    error = GraphQLError(
                        "unexpected error", path=error.path, extensions={"code": "INTERNAL"}
                    )
                payload["errors"].append(error.formatted)
        return JSONResponse(payload)

    return endpoint
