"""The schema's extension: limits on what is parsed and validated, caches of both, what an
operation is (for logs and metrics), and masking of the unexpected errors a client must not
see."""

from __future__ import annotations

from collections.abc import Iterator

from cachetools import LRUCache
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    parse,
    validate,
)
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from api.schema.codes import MASKED_MESSAGE
from api.schema.limits import DocumentLimits
from api.services.errors import DomainError

INTERNAL_ERROR = "INTERNAL_SERVER_ERROR"


#: Apollo's codes for what the GraphQL layer itself refuses.
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
OPERATION_NOT_FOUND = "OPERATION_NOT_FOUND"


def coded(error: GraphQLError, code: str) -> GraphQLError:
    """``error`` with ``extensions.code`` set, unless it has one already."""
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code}
    return error


def give_code(error: GraphQLError) -> None:
    """An error that reached the response without a code gets one. Validation errors are
    given theirs where they are found (:class:`Documents`); a syntax error (or a document
    past the token limit) is GRAPHQL_PARSE_FAILED, an operation that cannot be chosen
    OPERATION_NOT_FOUND; what is left without a path are variables that do not coerce
    (BAD_USER_INPUT), with a path an error no resolver meant (a null for a non-null field):
    the server's."""
    if isinstance(error, GraphQLSyntaxError):
        code = PARSE_FAILED
    elif isinstance(error.original_error, CannotGetOperationTypeError):
        code = OPERATION_NOT_FOUND
    else:
        code = BAD_USER_INPUT if error.path is None else INTERNAL_ERROR
    coded(error, code)


def is_unexpected(error: GraphQLError) -> bool:
    """True for an exception a resolver did not mean to raise (a bug or an outage).

    GraphQL errors (syntax, validation, UNAUTHENTICATED, BAD_USER_INPUT), domain errors and
    Strawberry's refusals of the request (an operation type the transport does not run, no
    operation to choose) are meant for the client; anything else is not.
    """
    original = error.original_error
    return original is not None and not isinstance(original, _THE_CLIENTS)


_THE_CLIENTS = (
    GraphQLError,
    DomainError,
    InvalidOperationTypeError,
    CannotGetOperationTypeError,
    MissingQueryError,
)


class Documents:
    """Parsed documents by query text, and their validation errors by document.

    A repeated query is parsed and validated once per process. The same text brings back the
    same document object, so validation is remembered by that object's identity: keyed by the
    document itself (as Strawberry's ``ValidationCache`` does), every request would hash its
    whole syntax tree, 10-40 µs for this API's pages. Each entry keeps its document alive, so
    an identity is never reused while it is a key. The schema's rules are the same for every
    request (see :func:`api.schema.build_schema`), so they need not be part of the key.

    With ``hide_suggestions`` (production), validation errors name what is unknown but never
    suggest what exists ("Did you mean …?"): with introspection off, suggestions would give
    the schema away piece by piece.
    """

    def __init__(
        self, size: int, *, hide_suggestions: bool = False, limits: DocumentLimits | None = None
    ) -> None:
        self.hide_suggestions = hide_suggestions
        self.limits = limits or DocumentLimits()
        self._parsed: LRUCache[str, DocumentNode] = LRUCache(size)
        self._checked: LRUCache[int, tuple[DocumentNode, list[GraphQLError]]] = LRUCache(size)

    def parse(self, query: str, options: dict) -> DocumentNode | None:
        """The document of ``query``; None for a syntax error, or more tokens than
        ``options`` allow (not remembered): Strawberry's own parse then reports it, as the
        request's error. ``options`` are the same for every request of a schema."""
        if (document := self._parsed.get(query)) is None:
            try:
                parsed = parse(query, **options)
            except GraphQLSyntaxError:
                return None
            self._parsed[query] = document = parsed
        return document

    def validate(self, schema, document: DocumentNode, rules) -> list[GraphQLError]:
        """The document's errors: past a limit (checked first, in time linear in its size,
        so that a document which expands to a huge one never reaches graphql-core's rules
        or execution), else the rules'."""
        known = self._checked.get(id(document))
        if known is None or known[0] is not document:
            # As Strawberry's own validation, with its two rules, and graphql-core's public
            # switch for suggestions.
            errors = self.limits.check(document) or [
                coded(error, VALIDATION_FAILED)
                for error in validate(
                    schema,
                    document,
                    (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
                    hide_suggestions=self.hide_suggestions,
                )
            ]
            self._checked[id(document)] = known = (document, errors)
        return known[1]


def _unchosen(document: DocumentNode, operation_name: str | None) -> list[GraphQLError]:
    """The request's error when ``document`` holds several operations and none is named: the
    GraphQL specification refuses it (Strawberry would run the first)."""
    if operation_name is not None:
        return []
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) < 2:
        return []
    return [
        GraphQLError(
            "Must provide operation name if query contains multiple operations.",
            extensions={"code": OPERATION_NOT_FOUND},
        )
    ]


class OperationPolicy(MaskErrors):
    """What every operation goes through, in one extension (Strawberry sets up each
    extension's hooks anew for every request, about 15 µs apiece, so one is cheaper than
    three):

    - the parser stops at ``max_tokens`` tokens, so a flood of tokens costs little;
    - a document past its limits (depth, aliases, fields after fragment expansion: see
      :mod:`api.schema.limits`) is refused before the validation rules run;
    - ``rules`` join the validation rules;
    - a repeated document is parsed and validated once per process (``documents``);
    - the operation's name and type are put on the context once the document is parsed,
      for logs and metrics;
    - every unexpected error gets ``extensions.code = INTERNAL_SERVER_ERROR`` and the
      request id, and with ``mask=True`` (prod) the message "Internal error". The original,
      with its stack, has already been logged by the schema's ``process_errors``.
    """

    def __init__(self, *, mask: bool, max_tokens: int, rules: tuple, documents: Documents) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message=MASKED_MESSAGE)
        self.mask = mask
        self.max_tokens = max_tokens
        self.rules = rules
        self.documents = documents

    def on_operation(self) -> Iterator[None]:
        execution = self.execution_context
        execution.parse_options["max_tokens"] = self.max_tokens
        execution.validation_rules = execution.validation_rules + self.rules
        yield from super().on_operation()

    def on_parse(self) -> Iterator[None]:
        execution = self.execution_context
        if execution.graphql_document is None and execution.query is not None:
            # Not raised here, before Strawberry's parsing step has begun: over HTTP Strawberry
            # would still answer it, but its streaming path (the WebSocket) would not. A
            # document that does not parse is left to Strawberry's parse, which fails the same
            # way inside that step and reports it as the request's error (parsed twice, but
            # only when it is broken).
            execution.graphql_document = self.documents.parse(
                execution.query, execution.parse_options
            )
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

    def on_validate(self) -> Iterator[None]:
        execution = self.execution_context
        if execution.pre_execution_errors is None and execution.graphql_document is not None:
            execution.pre_execution_errors = self.documents.validate(
                execution.schema._schema, execution.graphql_document, execution.validation_rules
            ) or _unchosen(
                # The name the client sent: ``operation_name`` falls back to the first
                # operation's. Private in Strawberry (pinned); tests/http/test_operations.py
                # fails if it changes.
                execution.graphql_document, execution._provided_operation_name
            )
        yield

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
