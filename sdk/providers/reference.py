"""The SDK reference (``docs/sdk-reference.md``), generated from the SDK's own docstrings.

Every field of every dataclass a plugin exchanges with cardcash is documented where it is
declared, by a string right under it (as for enum members)::

    @dataclass(frozen=True, slots=True)
    class Health:
        ok: bool
        '''True when the bank answers.'''

:func:`missing` lists the fields without one (cardcash's tests fail on any), :func:`render`
makes the page. Regenerate it with ``make sdk-reference`` (``python -m providers.reference``).
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import inspect
import sys
from collections.abc import Iterator
from types import ModuleType

from providers import base, errors, statement, types

#: The modules whose dataclasses and enums the reference covers, in order (a test fails when
#: another SDK module defines one that is not here).
MODULES: tuple[ModuleType, ...] = (types, base, errors, statement)

HEADER = """\
# Provider SDK reference

Generated from the docstrings of `providers` (SDK {version}) by `make sdk-reference`; do not
edit by hand. How the pieces fit together is in the [plugin guide](plugins.md).

Fields marked *keyword-only* were added after SDK 1.0: give them by name. Build an `Offer`
with `Offer.of(...)`, whose arguments are all keyword-only.
"""


def classes(module: ModuleType) -> Iterator[type]:
    """The public dataclasses and enums defined in ``module``."""
    for name, value in vars(module).items():
        if (inspect.isclass(value) and value.__module__ == module.__name__
                and not name.startswith("_")
                and (dataclasses.is_dataclass(value) or issubclass(value, enum.Enum))):
            yield value


def _attribute_docs(cls: type) -> dict[str, str]:
    """``{name: docstring}`` of the attributes in ``cls``'s source that have one."""
    tree = ast.parse(_dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, following in zip(body, body[1:], strict=False):
        name = None
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            name = node.target.id
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], ast.Name)):
            name = node.targets[0].id
        if (name and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[name] = inspect.cleandoc(following.value.value)
    return docs


def _dedent(source: str) -> str:
    lines = source.splitlines()
    indent = len(lines[0]) - len(lines[0].lstrip())
    return "\n".join(line[indent:] for line in lines)


def _annotations(cls: type) -> dict[str, str]:
    tree = ast.parse(_dedent(inspect.getsource(cls)))
    return {s.target.id: ast.unparse(s.annotation) for s in tree.body[0].body  # type: ignore
            if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}


def missing(modules: tuple[ModuleType, ...] = MODULES) -> list[str]:
    """``"Class.field"`` of every dataclass field of ``modules`` without a docstring."""
    found = []
    for module in modules:
        for cls in classes(module):
            if dataclasses.is_dataclass(cls):
                docs = _attribute_docs(cls)
                found += [f"{cls.__name__}.{f.name}" for f in dataclasses.fields(cls)
                          if not docs.get(f.name)]
    return found


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        return f"`{field.default!r}`"
    if field.default_factory is not dataclasses.MISSING:
        made = field.default_factory()
        plain = isinstance(made, (str, int, float, tuple, list, dict, frozenset, type(None)))
        return f"`{made!r}`" if plain and len(repr(made)) < 40 else "made per object"
    return "required"


def _render_class(cls: type) -> list[str]:
    lines = [f"## `{cls.__name__}`", "", inspect.cleandoc(cls.__doc__ or ""), ""]
    docs = _attribute_docs(cls)
    if dataclasses.is_dataclass(cls):
        annotations = _annotations(cls)
        lines += ["| field | type | default | meaning |", "| --- | --- | --- | --- |"]
        for field in dataclasses.fields(cls):
            default = _default(field)
            if field.kw_only:
                default += ", keyword-only"
            lines.append(f"| `{field.name}` | `{_cell(annotations.get(field.name, '?'))}` | "
                         f"{default} | {_cell(docs.get(field.name, ''))} |")
    else:
        lines += ["| value | meaning |", "| --- | --- |"]
        for member in cls:  # type: ignore[attr-defined]
            lines.append(f"| `{member.value}` | {_cell(docs.get(member.name, ''))} |")
    return [*lines, ""]


def render() -> str:
    """The whole reference page, in Markdown."""
    lines = [HEADER.format(version=types.SDK_VERSION)]
    for module in MODULES:
        for cls in classes(module):
            lines += _render_class(cls)
    return "\n".join(lines).rstrip() + "\n"


def main() -> None:
    """Print the page (``python -m providers.reference > docs/sdk-reference.md``)."""
    sys.stdout.write(render())


if __name__ == "__main__":
    main()
