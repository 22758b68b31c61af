"""The document limits: depth, aliases and size after fragment expansion, in linear time.

A small document can stand for a huge one: a fragment that spreads the next one twice, thirty
times over, is 400 tokens whose selections, expanded, are 2^30 fields. A check that walks the
spreads where they are written (as Strawberry's ``QueryDepthLimiter`` and
``MaxAliasesLimiter`` do) does the expanded document's work before it can refuse it: at 17
levels, half a second of one core; at 30, hours. Here each fragment's figures are computed
once and reused at every spread, so the whole check visits each selection of the document
once, and the document is refused on its *expanded* figures before graphql-core's validation
rules and execution see it.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

#: ``extensions.code`` of a document refused by a limit.
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"


@dataclass(frozen=True, slots=True)
class Figures:
    """What a selection amounts to once every fragment spread is replaced by its fragment.

    ``depth`` counts the fields with a selection of their own on the deepest path (leaves and
    introspection fields do not count, as in ``QueryDepthLimiter``); ``aliases`` and ``fields``
    count every aliased field and every field, at every spread.
    """

    depth: int = 0
    aliases: int = 0
    fields: int = 0


_NONE = Figures()


class _Walk:
    """The figures of a document's selections, each fragment's computed once."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.known: dict[str, Figures] = {}
        self.open: set[str] = set()

    def fragment(self, name: str) -> Figures:
        known = self.known.get(name)
        if known is not None:
            return known
        definition = self.fragments.get(name)
        if definition is None or name in self.open:
            # Unknown, or a spread within itself: validation refuses both, and here they
            # count for nothing rather than loop.
            return _NONE
        self.open.add(name)
        figures = self.selections(definition.selection_set)
        self.open.discard(name)
        self.known[name] = figures
        return figures

    def selections(self, selection_set: SelectionSetNode | None) -> Figures:
        if selection_set is None:
            return _NONE
        depth = aliases = fields = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner = self.selections(selection.selection_set)
                if selection.selection_set is not None and not selection.name.value.startswith(
                    "__"
                ):
                    depth = max(depth, 1 + inner.depth)
                aliases += inner.aliases + (selection.alias is not None)
                fields += inner.fields + 1
                continue
            if isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                inner = self.selections(selection.selection_set)
            else:  # pragma: no cover - the parser makes no other selection
                continue
            depth = max(depth, inner.depth)
            aliases += inner.aliases
            fields += inner.fields
        return Figures(depth, aliases, fields)


def figures(document: DocumentNode) -> dict[OperationDefinitionNode, Figures]:
    """Each operation's figures, fragments expanded; time linear in the document's size."""
    walk = _Walk(document)
    return {
        d: walk.selections(d.selection_set)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    """The most a document may ask for. ``max_fields`` bounds the work of everything after
    it (validation rules, execution): a document without fragments has fewer fields than
    tokens, so at ``max_fields`` = ``max_tokens`` only expansion can pass it."""

    max_depth: int = 10
    max_aliases: int = 15
    max_fields: int = 2000

    def check(self, document: DocumentNode) -> list[GraphQLError]:
        """The errors of a document past a limit (none when it is within all)."""
        errors = []
        aliases = 0
        for operation, figure in figures(document).items():
            name = operation.name.value if operation.name else "anonymous"
            if figure.depth > self.max_depth:
                errors.append(
                    self._error(
                        f"'{name}' exceeds maximum operation depth of {self.max_depth}",
                        operation,
                        "depth",
                        self.max_depth,
                    )
                )
            if figure.fields > self.max_fields:
                errors.append(
                    self._error(
                        f"'{name}' selects more than {self.max_fields} fields once its "
                        "fragments are expanded (each spread counts in full)",
                        operation,
                        "fields",
                        self.max_fields,
                    )
                )
            aliases += figure.aliases
        if aliases > self.max_aliases:
            errors.append(
                self._error(
                    f"more than {self.max_aliases} aliases found once fragments are expanded. "
                    f"Allowed: {self.max_aliases}",
                    None,
                    "aliases",
                    self.max_aliases,
                )
            )
        return errors

    @staticmethod
    def _error(message: str, node, limit: str, most: int) -> GraphQLError:
        return GraphQLError(
            message,
            [node] if node is not None else None,
            extensions={"code": QUERY_TOO_COMPLEX, "limit": limit, "max": most},
        )
