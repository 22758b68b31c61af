"""GraphQL execution that reads plain scalar fields without the per-field machinery.

Most fields of a page (an offer's amounts, rates, names, enums) have no resolver of their
own: Strawberry reads the attribute of the object. graphql-core still builds a resolve info
for each of them, calls Strawberry's resolver wrappers, asks whether the value is awaitable
and completes it through the generic path: most of the time of a page of a few hundred
fields. :class:`ExecutionContext` reads such a field and coerces it directly.

Only the plainest case is taken: a field without a resolver, arguments, extensions or
middleware, of a scalar or enum type, whose value is not null and coerces cleanly. Anything
else, errors included, goes through graphql-core's own path, so results and errors are the
same as without it (the whole test suite runs on it; a test compares both on full pages).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# What each field of a schema needs to be read directly: the Python attribute and the leaf
# type that coerces it, or None when the field must take the generic path. By schema (fields
# cannot be hashed; their ids are good while their schema lives).
_Plan = tuple[str, GraphQLLeafType] | None
_PLANS: WeakKeyDictionary[GraphQLSchema, dict[int, _Plan]] = WeakKeyDictionary()


def _plan(plans: dict[int, _Plan], field_def: GraphQLField) -> _Plan:
    try:
        return plans[id(field_def)]
    except KeyError:
        pass
    plan = None
    definition = (field_def.extensions or {}).get("strawberry-definition")
    leaf = field_def.type.of_type if isinstance(field_def.type, GraphQLNonNull) else field_def.type
    if (
        definition is not None
        and getattr(field_def.resolve, "_is_default", False)  # Strawberry's basic field
        and definition.is_basic_field
        and definition.default_resolver is getattr
        and not field_def.args
        and is_leaf_type(leaf)
    ):
        plan = (definition.python_name, leaf)
    plans[id(field_def)] = plan
    return plan


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, with the direct path for plain scalar fields."""

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
            plan = _plan(self._plans, field_def) if field_def is not None else None
            if plan is not None:
                value = getattr(source, plan[0], None)
                if value is not None:
                    try:
                        coerced = plan[1].coerce_output_value(value)
                    except Exception:  # noqa: BLE001 - the generic path reports it
                        coerced = None
                    if coerced is not None and coerced is not Undefined:
                        return coerced
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
