"""The schema's extension: limits on what is parsed and validated, what an operation is (for
logs and metrics), and masking of the unexpected errors a client must not see."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from api.services.errors import DomainError

INTERNAL_ERROR = "INTERNAL_SERVER_ERROR"


def is_unexpected(error: GraphQLError) -> bool:
    """True for an exception a resolver did not mean to raise (a bug or an outage).

    GraphQL errors (syntax, validation, UNAUTHENTICATED, BAD_USER_INPUT) and domain errors are
    meant for the client; anything else is not.
    """
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError | DomainError)


class OperationPolicy(MaskErrors):
    """What every operation goes through, in one extension (Strawberry sets up each
    extension's hooks anew for every request, about 15 µs apiece, so one is cheaper than
    four):

    - the parser stops at ``max_tokens`` tokens, so a flood of tokens costs little;
    - ``rules`` join the validation rules (the validation cache sees the same rules on
      every request, so a repeated document is validated once per process);
    - the operation's name and type are put on the context once the document is parsed,
      for logs and metrics;
    - every unexpected error gets ``extensions.code = INTERNAL_SERVER_ERROR`` and the
      request id, and with ``mask=True`` (prod) the message "Internal error". The original,
      with its stack, has already been logged by the schema's ``process_errors``.
    """

    def __init__(self, *, mask: bool, max_tokens: int, rules: tuple) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Internal error")
        self.mask = mask
        self.max_tokens = max_tokens
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        execution = self.execution_context
        execution.parse_options["max_tokens"] = self.max_tokens
        execution.validation_rules = execution.validation_rules + self.rules
        yield from super().on_operation()

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

    def _process_result(self, result: object) -> None:
        # MaskErrors asks a runtime-checkable Protocol, a slow isinstance on every request.
        if errors := getattr(result, "errors", None):
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

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
