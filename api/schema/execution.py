"""GraphQL execution that reads plain fields without the per-field machinery.

Most fields of a page (an offer's amounts, rates, names, enums) have no resolver of their
own: Strawberry reads the attribute of the object. graphql-core still builds a resolve info
for each of them, calls Strawberry's resolver wrappers, asks whether the value is awaitable
and completes it through the generic path: on a page of a few hundred fields, that was the
largest share of the page's time. :class:`ExecutionContext` takes these shortcuts:

- a plain field (no resolver, arguments, extensions or middleware) whose value is not null,
  of a scalar or enum type (when the value coerces cleanly) or of an object type whose own
  fields are all such fields (an amount of money), is read and coerced directly;
- an object whose selection asks only for plain fields, down to its leaves (lists and
  unions of plain members included, and fields a list's resolver filled in beforehand, see
  :func:`prefetched`), is completed in one loop by its *shape*, worked out once per query
  and type (see :func:`_complete`);
- an object of a type declared :func:`immutable` keeps its completed form for the next
  request that selects it the same way.

Anything else, errors included, goes through graphql-core's own path, and a sub-field's error
is handled as that path handles it, so results and errors are the same as without it (the
whole test suite runs on it; tests compare both paths). The offers page's instruction count
fell from 14.7M to 6.5M with these (``python -m bench.instructions``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from cachetools import LRUCache
from graphql import (
    ExecutionResult,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    SelectionSetNode,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.pyutils import is_iterable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.cast import get_strawberry_type_cast

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# What each field of a schema needs to be read directly: the Python attribute, and the leaf
# type that coerces it or the object type whose fields are all read directly too; None when
# the field must take the generic path. By schema (fields cannot be hashed; their ids are
# good while their schema lives).
_DirectRead = tuple[str, GraphQLLeafType | GraphQLObjectType] | None
_DIRECT_READS: WeakKeyDictionary[GraphQLSchema, dict[int, _DirectRead]] = WeakKeyDictionary()


_UNKNOWN = object()


def _attribute(field_def: GraphQLField) -> str | None:
    """The Python attribute a field reads, when Strawberry reads it and nothing else: no
    resolver, arguments or field extensions."""
    definition = (field_def.extensions or {}).get("strawberry-definition")
    plain = (
        definition is not None
        and getattr(field_def.resolve, "_is_default", False)  # Strawberry's basic field
        and definition.is_basic_field
        and definition.default_resolver is getattr
        and not field_def.args
    )
    return definition.python_name if plain else None


def prefetched(attribute: str, unset: object) -> Callable[[F], F]:
    """Declare that a resolver (without arguments) answers its object's ``attribute`` as it
    is, unless that holds ``unset``.

    A list's resolver that fetches what each item's field needs in one go (every bank's
    offer for a page) stores it there; the field is then read like a plain one, and whole
    objects with it can be completed by their shape. Only when the attribute is ``unset``
    does the resolver run.
    """

    def mark(resolver: F) -> F:
        resolver._prefetched = (attribute, unset)  # type: ignore[attr-defined]
        return resolver

    return mark


def _shape_read(field_def: GraphQLField) -> tuple[str, object] | None:
    """What reads the field without resolving it: the attribute, and the value that means
    it must be resolved after all; None when it must always be resolved."""
    attribute = _attribute(field_def)
    if attribute is not None:
        return attribute, _MISSING
    definition = (field_def.extensions or {}).get("strawberry-definition")
    resolver = getattr(definition, "base_resolver", None)
    marked = getattr(getattr(resolver, "wrapped_func", None), "_prefetched", None)
    if marked is None or definition.extensions or field_def.args:
        return None
    return marked


def _direct_read(plans: dict[int, _DirectRead], field_def: GraphQLField) -> _DirectRead:
    """How :meth:`ExecutionContext.execute_field` reads the field without graphql-core: its
    attribute and type (a scalar, an enum, or an object of such fields), or None when it must
    be resolved. Decided once per field and kept in ``plans``."""
    plan = plans.get(id(field_def), _UNKNOWN)
    if plan is not _UNKNOWN:
        return plan
    plans[id(field_def)] = None  # while deciding: a type that contains itself is not plain
    attribute = _attribute(field_def)
    named = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
    plain = attribute is not None
    if plain and not is_leaf_type(named):
        # An object (no interface, so no type check) whose own fields are all plain: its
        # completion is a dict, never an awaitable.
        plain = (
            isinstance(named, GraphQLObjectType)
            and named.is_type_of is None
            and all(_direct_read(plans, f) is not None for f in named.fields.values())
        )
    plan = (attribute, named) if plain else None
    plans[id(field_def)] = plan
    return plan


# -- shapes: whole objects completed in one loop ---------------------------------------------
#
# An object's selection often asks only for plain fields, down to its leaves (an offer: its
# amounts, its repayment options and theirs). Its completion then depends on nothing but the
# values read: the shape lists, for each response key, what to read and how to coerce it, and
# :func:`_complete` builds the dict in one loop, with no per-field call into graphql-core.
#
# An entry: (response key, kind, attribute, unset, target, non-null, items non-null), where
# unset is what the attribute holds when the field must be resolved after all (see
# :func:`prefetched`), and target is the type name (__typename), the leaf type that
# coerces, the shape of an object, or for a union the shape of each member by Python class.
_TYPENAME, _LEAF, _OBJECT, _LEAF_LIST, _OBJECT_LIST, _UNION = range(6)
_Entry = tuple[str, int, str | None, object, Any, bool, bool]
_Shape = tuple[_Entry, ...]
_MISSING = object()

#: Shapes of selections without directives, by schema and by (type, ids of the field nodes):
#: the parsed document is cached, so the same query brings the same nodes back. An entry
#: keeps its nodes, so their ids are not reused while it lives.
_SHAPES: WeakKeyDictionary[GraphQLSchema, LRUCache[tuple, tuple[tuple, _Shape | None]]] = (
    WeakKeyDictionary()
)


#: Object types whose objects are never changed once made (see :func:`immutable`), and the
#: completed forms of such objects, by (shape, object): each entry keeps both alive, so
#: their ids are not reused while it lives.
_IMMUTABLE: set[type] = set()
_COMPLETED: LRUCache[tuple[int, int], tuple[_Shape, Any, dict[str, Any]]] = LRUCache(1024)


def immutable(cls: type[T]) -> type[T]:
    """Declare that objects of the GraphQL object type ``cls`` are never changed once made.

    The same object selected the same way then completes to the same answer: it is kept
    and reused (shared, read-only, by the answers that contain it). Worth it for objects
    that are made once and shown many times, such as an offer rendered again while the
    bank's answer stays the same.
    """
    _IMMUTABLE.add(cls)
    return cls


def _complete_kept(shape: _Shape, value: Any) -> dict[str, Any]:
    key = (id(shape), id(value))
    known = _COMPLETED.get(key)
    if known is not None and known[0] is shape and known[1] is value:
        return known[2]
    done = _complete(shape, value)
    _COMPLETED[key] = (shape, value, done)
    return done


class _NeedsGenericPath(Exception):
    """A value the shape does not complete the way graphql-core would (a null where a value
    is promised, a value that does not coerce): graphql-core's own path completes it."""


def _leaf(leaf: GraphQLLeafType, value: Any) -> Any:
    try:
        coerced = leaf.coerce_output_value(value)
    except Exception:  # noqa: BLE001 - the generic path reports it
        raise _NeedsGenericPath from None
    if coerced is None or coerced is Undefined:
        raise _NeedsGenericPath
    return coerced


def _complete(shape: _Shape, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, kind, attribute, unset, target, non_null, items_non_null in shape:
        if kind == _TYPENAME:
            out[key] = target
            continue
        read = getattr(value, attribute, _MISSING)
        if read is None:
            if non_null:
                raise _NeedsGenericPath
            out[key] = None
        elif read is unset or read is _MISSING:
            raise _NeedsGenericPath
        elif kind == _LEAF:
            out[key] = _leaf(target, read)
        elif kind == _OBJECT:
            out[key] = _object(target, read)
        elif kind == _UNION:
            member = target.get(type(read))
            if member is None or get_strawberry_type_cast(read) is not None:
                raise _NeedsGenericPath
            out[key] = _object(member, read)
        else:
            if not is_iterable(read):
                raise _NeedsGenericPath
            items: list[Any] = []
            for item in read:
                if item is None:
                    if items_non_null:
                        raise _NeedsGenericPath
                    items.append(None)
                elif kind == _LEAF_LIST:
                    items.append(_leaf(target, item))
                else:
                    items.append(_object(target, item))
            out[key] = items
    return out


def _object(shape: _Shape, value: Any) -> dict[str, Any]:
    if type(value) in _IMMUTABLE:
        return _complete_kept(shape, value)
    return _complete(shape, value)


def _without_directives(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDetails],
    seen: set[str] | None = None,
) -> bool:
    """Whether no selection under ``selection_set`` carries a directive (whose @skip or
    @include could change with the variables). Each fragment is looked into once (``seen``),
    however often it is spread."""
    if selection_set is None:
        return True
    if seen is None:
        seen = set()
    for selection in selection_set.selections:
        if selection.directives:
            return False
        if isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen:
                continue  # looked into already: had it a directive, the answer was given
            seen.add(name)
            details = fragments.get(name)
            if details is None or details.variable_signatures or details.definition.directives:
                return False
            if not _without_directives(details.definition.selection_set, fragments, seen):
                return False
        elif not _without_directives(selection.selection_set, fragments, seen):
            return False
    return True


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, with the direct paths: plain fields one by one, and
    whole objects by their shape."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plans = _DIRECT_READS.get(self.schema)
        if plans is None:
            plans = _DIRECT_READS[self.schema] = {}
        self._plans = plans
        shapes = _SHAPES.get(self.schema)
        if shapes is None:
            shapes = _SHAPES[self.schema] = LRUCache(1024)
        self._shapes = shapes
        self._request_shapes: dict[tuple, tuple[Any, _Shape | None]] = {}
        manager = self.middleware_manager  # Strawberry passes one, empty without middleware
        self._direct = manager is None or not manager.middlewares

    @classmethod
    def without_suggestions(cls) -> type[ExecutionContext]:
        """This context, with graphql-core's ``hide_suggestions`` always on: invalid variable
        values (an enum value, an input field) are reported without "Did you mean …?"."""
        return _WithoutSuggestions

    def execute_operation(self, serially: bool | None = None) -> Any:
        # graphql-core's executor refers to itself (its resolver helpers hold its bound
        # methods), so without this the whole request (context, loaders, every object of
        # the answer) would wait for the cycle collector instead of being freed when the
        # answer is sent: on an offers page, about 145 objects a request, and the collector's
        # passes were a twentieth of the server's time. An incremental answer (@defer,
        # @stream) still needs the executor after this returns and keeps it.
        result = super().execute_operation(serially)
        if self.is_awaitable(result):

            async def finished() -> Any:
                answer = await result
                self._release(answer)
                return answer

            return finished()
        self._release(result)
        return result

    def _release(self, result: Any) -> None:
        if isinstance(result, ExecutionResult):
            self.async_helpers = None  # type: ignore[assignment]

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        if self._direct and position_context is None:
            # Memoized for the request like graphql-core's collect_subfields: by the identity
            # of the field list, which the entry keeps alive.
            key = (return_type, id(field_details_list))
            seen = self._request_shapes.get(key)
            if seen is None:
                seen = (field_details_list, self._shape(return_type, field_details_list))
                self._request_shapes[key] = seen
            shape = seen[1]
            if shape is not None:
                try:
                    return _object(shape, result)
                except Exception:  # noqa: BLE001 - _NeedsGenericPath, or an attribute that raised
                    pass  # graphql-core's path completes it, and reports what is wrong
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context
        )

    def _shape(self, return_type: GraphQLObjectType, field_details_list: Any) -> _Shape | None:
        """The shape of ``return_type`` selected by ``field_details_list``, or None when a
        selected field needs graphql-core (a resolver, arguments, an abstract type, @defer)."""
        nodes = tuple(details.node for details in field_details_list)
        key = (return_type, tuple(map(id, nodes)))
        known = self._shapes.get(key)
        if known is not None and all(a is b for a, b in zip(known[0], nodes, strict=True)):
            return known[1]  # the same nodes: without directives, as when it was kept
        if not all(_without_directives(n.selection_set, self.fragments) for n in nodes):
            # @skip or @include: good for this request's variables only
            return self._build(return_type, field_details_list)
        shape = self._build(return_type, field_details_list)
        self._shapes[key] = (nodes, shape)
        return shape

    def _build(self, return_type: GraphQLObjectType, field_details_list: Any) -> _Shape | None:
        grouped, new_defer_usages, _ = self.collect_subfields(return_type, field_details_list)
        if new_defer_usages:
            return None
        entries: list[_Entry] = []
        for key, fields in grouped.items():
            if any(
                d.defer_usage is not None or d.fragment_variable_values is not None for d in fields
            ):
                return None
            name = fields[0].node.name.value
            if name == "__typename":
                entries.append((key, _TYPENAME, None, _MISSING, return_type.name, True, False))
                continue
            field_def = return_type.fields.get(name)
            read = _shape_read(field_def) if field_def is not None else None
            if read is None:
                return None
            attribute, unset = read
            of = field_def.type
            non_null = isinstance(of, GraphQLNonNull)
            of = of.of_type if non_null else of
            listed = isinstance(of, GraphQLList)
            items_non_null = False
            if listed:
                of = of.of_type
                items_non_null = isinstance(of, GraphQLNonNull)
                of = of.of_type if items_non_null else of
            if is_leaf_type(of):
                kind, target = (_LEAF_LIST if listed else _LEAF), of
            elif isinstance(of, GraphQLObjectType) and of.is_type_of is None:
                kind, target = (_OBJECT_LIST if listed else _OBJECT), self._build(of, fields)
                if target is None:
                    return None
            elif isinstance(of, GraphQLUnionType) and not listed:
                kind, target = _UNION, self._members(of, fields)
                if target is None:
                    return None
            else:  # an interface, a list of lists or of unions, an object that checks values
                return None
            entries.append((key, kind, attribute, unset, target, non_null, items_non_null))
        return tuple(entries)

    def _members(self, union: GraphQLUnionType, fields: Any) -> dict[type, _Shape] | None:
        """The shape of each member of ``union``, by the Python class of its objects: a
        value of exactly that class is of that member, as Strawberry resolves it. Only
        plain members: not generic, no type check of their own."""
        members: dict[type, _Shape] = {}
        for member in self.schema.get_possible_types(union):
            definition = (member.extensions or {}).get("strawberry-definition")
            if definition is None or definition.is_type_of or definition.concrete_of:
                return None
            shape = self._build(member, fields)
            if shape is None:
                return None
            members[definition.origin] = shape
        return members

    def execute_field(
        self,
        parent_type: Any,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        if self._direct:
            field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
            plan = self._plans.get(id(field_def), _UNKNOWN)  # the function only on a miss
            if plan is _UNKNOWN:
                plan = _direct_read(self._plans, field_def) if field_def is not None else None
            if plan is not None:
                name, named = plan
                value = getattr(source, name, None)
                if value is not None:
                    if isinstance(named, GraphQLObjectType):
                        try:
                            return self.collect_and_execute_subfields(
                                named, field_details_list, path, value, position_context
                            )
                        except Exception as raw_error:  # as graphql-core's own path does
                            self.handle_field_error(
                                raw_error, field_def.type, field_details_list, path
                            )
                            return None
                    try:
                        coerced = named.coerce_output_value(value)
                    except Exception:  # noqa: BLE001 - the generic path reports it
                        coerced = None
                    if coerced is not None and coerced is not Undefined:
                        return coerced
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )


class _WithoutSuggestions(ExecutionContext):
    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        # graphql-core's execute and subscribe pass it by name, False unless asked.
        kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)
