"""The JSON Schema of trial records, shipped with the package, and validation against it.

Each record carries a `schema_version`; version N's layout is described by
`bench/schemas/record-vN.schema.json` (JSON Schema draft 2020-12). A schema version changes when
a field is removed, renamed or changes meaning; a writer may add fields within a version, so the
schemas allow properties they do not name. Other tools can validate records with any JSON Schema
validator; here the `jsonschema` package does it:

    problems = record_schema.problems(record)      # [] when the record is valid
    record_schema.validate(record, source=path)    # raises RecordSchemaError naming the file
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources

VERSIONS = (1,)
LATEST = VERSIONS[-1]


class RecordSchemaError(ValueError):
    """A record that does not match the schema of its version; the message names it."""


def schema_text(version: int = LATEST) -> str:
    """The schema document of `version`, as shipped in the package."""
    if version not in VERSIONS:
        raise RecordSchemaError(f"no record schema for version {version!r} "
                                f"(known: {', '.join(map(str, VERSIONS))})")
    return (resources.files("bench") / "schemas" / f"record-v{version}.schema.json").read_text()


@functools.cache
def schema(version: int = LATEST) -> dict:
    return json.loads(schema_text(version))


@functools.cache
def _validator(version: int):
    import jsonschema

    document = schema(version)
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(
        document, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def problems(record: Mapping) -> list[str]:
    """Every way `record` departs from the schema of its `schema_version`, as short lines."""
    if not isinstance(record, Mapping):
        return ["not a JSON object"]
    version = record.get("schema_version")
    if version not in VERSIONS:
        return [f"schema_version {version!r} is not one of {', '.join(map(str, VERSIONS))}"]
    found = []
    for error in sorted(_validator(version).iter_errors(dict(record)), key=lambda e: list(e.path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(record)"
        found.append(f"{where}: {error.message}")
    return found


def validate(record: Mapping, source: object = "record") -> None:
    """Raise RecordSchemaError naming `source` and the first problems, if there are any."""
    found = problems(record)
    if found:
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        raise RecordSchemaError(f"record {source} does not match its schema: "
                                + "; ".join(found[:3]) + more)
