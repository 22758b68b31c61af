"""Apollo's persisted query manifest from the ``.graphql`` documents a front end ships.

``cardcash persisted-manifest DOCS...`` reads each file (or every ``*.graphql`` under a
folder), validates it against the schema and writes::

    {"format": "apollo-persisted-query-manifest", "version": 1,
     "operations": [{"id": "<sha256 of body>", "name": ..., "type": ..., "body": ...}]}

A file holding one operation is its body exactly as written, so the hash a client computes
from the file is the manifest's id. A file holding several is split into one body per
operation with the fragments it uses (graphql-core's ``separate_operations``). Point
``CARDCASH_PERSISTED_QUERIES_FILE`` at the output and set ``CARDCASH_PERSISTED_ONLY=true``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from graphql import (
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    print_ast,
    separate_operations,
    validate,
)

FORMAT = "apollo-persisted-query-manifest"


class ManifestProblem(Exception):
    """What is wrong with the documents, one line per problem; nothing was written."""


def document_files(paths: list[Path]) -> list[Path]:
    """The files named, and every ``*.graphql`` under the folders named, sorted per folder."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.rglob("*.graphql")))
        elif path.is_file():
            files.append(path)
        else:
            raise ManifestProblem(f"{path}: no such file or folder")
    if not files:
        raise ManifestProblem("no .graphql documents found")
    return files


def _located(path: Path, error: GraphQLError) -> str:
    where = f"{path}:{error.locations[0].line}" if error.locations else str(path)
    return f"{where}: {error.message}"


def build_manifest(schema: GraphQLSchema, paths: list[Path]) -> dict:
    """The manifest of the documents at ``paths``; :class:`ManifestProblem` lists every
    document that does not parse, does not validate, or has an unnamed or repeated name."""
    operations: list[dict] = []
    problems: list[str] = []
    names: dict[str, Path] = {}
    for path in document_files(paths):
        text = path.read_text(encoding="utf-8")
        try:
            document = parse(text)
        except GraphQLError as error:
            problems.append(_located(path, error))
            continue
        errors = validate(schema, document)
        problems.extend(_located(path, e) for e in errors)
        if errors:
            continue
        defined = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if not defined:
            problems.append(f"{path}: no operation (fragments alone cannot be persisted)")
        for operation in defined:
            if operation.name is None:
                problems.append(f"{path}: every persisted operation needs a name")
                continue
            name = operation.name.value
            if name in names:
                problems.append(f"{path}: operation {name} is also in {names[name]}")
                continue
            names[name] = path
            body = text if len(defined) == 1 else print_ast(separate_operations(document)[name])
            operations.append(
                {
                    "id": hashlib.sha256(body.encode()).hexdigest(),
                    "name": name,
                    "type": operation.operation.value,
                    "body": body,
                }
            )
    if problems:
        raise ManifestProblem("\n".join(problems))
    return {"format": FORMAT, "version": 1, "operations": operations}
