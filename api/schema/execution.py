"""GraphQL execution that reads plain fields without the per-field machinery.

Most fields of a page (an offer's amounts, rates, names, enums) have no resolver of their
own: Strawberry reads the attribute of the object. graphql-core still builds a resolve info
for each of them, calls Strawberry's resolver wrappers, asks whether the value is awaitable
and completes it through the generic path: on a page of a few hundred fields, that was the
largest share of the page's time. :class:`ExecutionContext` reads such a field and coerces
it directly.

Only the plainest case is taken: a field without a resolver, arguments, extensions or
middleware, whose value is not null, and of a scalar or enum type (when the value coerces
cleanly) or of an object type whose own fields are all such fields (an amount of money).
Anything else, errors included, goes through graphql-core's own path, and a sub-field's error
is handled as that path handles it, so results and errors are the same as without it (the
whole test suite runs on it; tests compare both paths).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# What each field of a schema needs to be read directly: the Python attribute, and the leaf
# type that coerces it or the object type whose fields are all read directly too; None when
# the field must take the generic path. By schema (fields cannot be hashed; their ids are
# good while their schema lives).
_Plan = tuple[str, GraphQLLeafType | GraphQLObjectType] | None
_PLANS: WeakKeyDictionary[GraphQLSchema, dict[int, _Plan]] = WeakKeyDictionary()


_UNKNOWN = object()


def _plan(plans: dict[int, _Plan], field_def: GraphQLField) -> _Plan:
    plan = plans.get(id(field_def), _UNKNOWN)
    if plan is not _UNKNOWN:
        return plan
    plans[id(field_def)] = None  # while deciding: a type that contains itself is not plain
    definition = (field_def.extensions or {}).get("strawberry-definition")
    named = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
    plain = (
        definition is not None
        and getattr(field_def.resolve, "_is_default", False)  # Strawberry's basic field
        and definition.is_basic_field
        and definition.default_resolver is getattr
        and not field_def.args
    )
    if plain and not is_leaf_type(named):
        # An object (no interface, so no type check) whose own fields are all plain: its
        # completion is a dict, never an awaitable.
        plain = (
            isinstance(named, GraphQLObjectType)
            and named.is_type_of is None
            and all(_plan(plans, f) is not None for f in named.fields.values())
        )
    plan = (definition.python_name, named) if plain else None
    plans[id(field_def)] = plan
    return plan


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, with the direct path for plain fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plans = _PLANS.get(self.schema)
        if plans is None:
            plans = _PLANS[self.schema] = {}
        self._plans = plans
        manager = self.middleware_manager  # Strawberry passes one, empty without middleware
        self._direct = manager is None or not manager.middlewares

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
                plan = _plan(self._plans, field_def) if field_def is not None else None
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
