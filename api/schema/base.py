"""The class both schemas (the API's and the operators') are made of: how their errors are
logged, and that each carries a code."""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from api.schema.extensions import give_code, is_unexpected

log = logging.getLogger("cardcash.graphql")


class Schema(strawberry.Schema):
    """Strawberry's schema, logging only what needs an operator, and giving every error an
    ``extensions.code`` (see :func:`api.schema.extensions.give_code`).

    A malformed document or an invalid variable is the client's mistake, answered in the
    response; it is logged at DEBUG, not as a server error. An exception raised inside a
    resolver is a bug or an outage: logged at ERROR with its stack.
    """

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            original = error.original_error
            give_code(error)  # every error a client sees has extensions.code
            if not is_unexpected(error):
                log.debug("request error: %s", error.message)
            else:
                log.error(
                    "unexpected error in %s",
                    ".".join(map(str, error.path or ())) or "operation",
                    exc_info=(type(original), original, original.__traceback__),
                )
