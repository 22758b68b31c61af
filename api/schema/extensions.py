"""Schema extensions: what an operation is (for logs and metrics), and masking of the
unexpected errors a client must not see."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import MaskErrors, SchemaExtension

from api.services.errors import DomainError

INTERNAL_ERROR = "INTERNAL_SERVER_ERROR"


def is_unexpected(error: GraphQLError) -> bool:
    """True for an exception a resolver did not mean to raise (a bug or an outage).

    GraphQL errors (syntax, validation, UNAUTHENTICATED, BAD_USER_INPUT) and domain errors are
    meant for the client; anything else is not.
    """
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError | DomainError)


class RecordOperation(SchemaExtension):
    """Puts the operation's name and type on the context once the document is parsed."""

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context.context
        if self.execution_context.graphql_document is None or not hasattr(
            context, "operation_name"
        ):
            return
        try:
            context.operation_name = self.execution_context.operation_name
            context.operation_type = self.execution_context.operation_type.value
        except RuntimeError:  # no such operation, or several and none named
            pass


class MaskUnexpectedErrors(MaskErrors):
    """Every unexpected error gets ``extensions.code = INTERNAL_SERVER_ERROR`` and the request
    id; with ``mask=True`` (prod) its message becomes "Internal error" too.

    The original, with its stack, has already been logged by the schema's ``process_errors``.
    """

    def __init__(self, *, mask: bool) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Internal error")
        self.mask = mask

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        request_id = getattr(self.execution_context.context, "request_id", None)
        return GraphQLError(
            message=self.error_message if self.mask else error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": INTERNAL_ERROR, "requestId": request_id},
        )
