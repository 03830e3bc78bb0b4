"""The record JSON Schema: records the harness writes and imports validate, broken ones do not."""

import dataclasses
import json
import types
import typing

import pytest

from bench import record_schema
from bench.algoperf_import import import_logs
from bench.trial.record import (
    FIELD_NAMES,
    FINISHED_OUTCOMES,
    REQUIRED_FIELDS,
    SCHEMA_VERSION,
    Record,
)
from tests.record_factory import real_record
from tests.test_algoperf_import import write_trial


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    return real_record(tmp_path_factory.mktemp("schema"))


def test_schema_ships_with_the_package_and_matches_the_writer_version():
    document = json.loads(record_schema.schema_text())
    assert document["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    assert record_schema.LATEST == SCHEMA_VERSION


# --------------------------------------------------- one layout: the schema follows Record

JSON_TYPES = {int: "integer", float: "number", str: "string", bool: "boolean", dict: "object",
              list: "array", type(None): "null"}


def json_types(hint) -> set[str]:
    """The JSON types a field annotated `hint` may hold (int | None -> integer, null)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return set().union(*(json_types(option) for option in typing.get_args(hint)))
    return {JSON_TYPES[hint]}


def test_schema_properties_are_the_record_fields():
    stored = [name for name in FIELD_NAMES if name != "extra"]  # extra: a newer writer's fields
    assert sorted(record_schema.schema()["properties"]) == sorted(stored)


def test_schema_requires_exactly_the_fields_without_a_default():
    required = [field.name for field in dataclasses.fields(Record)
                if field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING]
    assert REQUIRED_FIELDS == tuple(required)
    assert record_schema.schema()["required"] == required


@pytest.mark.parametrize("name", [name for name in FIELD_NAMES
                                  if name not in ("extra", "schema_version", "outcome")])
def test_schema_type_of_each_field_is_its_annotation(name):
    described = record_schema.schema()["properties"][name]["type"]
    described = {described} if isinstance(described, str) else set(described)
    assert described == json_types(typing.get_type_hints(Record)[name])


def test_schema_outcomes_and_version_are_the_record_module_s():
    properties = record_schema.schema()["properties"]
    assert properties["outcome"]["enum"] == list(FINISHED_OUTCOMES)
    assert properties["schema_version"] == {"const": SCHEMA_VERSION}


def test_a_record_the_harness_wrote_is_valid_and_every_field_is_described(record):
    assert record_schema.problems(record) == []
    assert set(record) <= set(record_schema.schema()["properties"])


def test_an_imported_algoperf_record_is_valid(tmp_path):
    write_trial(tmp_path / "logs", "external_tuning", "nadamw", 0, "imagenet_resnet", 0,
                [(0, 0.0, 0.1, 2.3), (100, 50.0, 0.98, 0.1)])
    (path,) = import_logs(tmp_path / "logs", tmp_path / "results").written
    assert record_schema.problems(json.loads(path.read_text())) == []


@pytest.mark.parametrize("change, where", [
    (lambda r: r.update(outcome="finished"), "outcome"),
    (lambda r: r.update(time_to_target=None), "time_to_target"),  # a hit needs its time
    (lambda r: r.pop("hardware"), "(record)"),
    (lambda r: r["hardware"].pop("fingerprint"), "hardware"),
    (lambda r: r.update(study=-1), "study"),
    (lambda r: r["evals"][0].pop("step"), "evals/0"),
    (lambda r: r["evals"][1].update({"validation/loss": "low"}), "evals/1/validation/loss"),
    (lambda r: r.update(submission_sha256="abc"), "submission_sha256"),
])
def test_broken_records_are_named_where_they_break(record, change, where):
    broken = json.loads(json.dumps(record))
    change(broken)
    found = record_schema.problems(broken)
    assert found and found[0].startswith(where + ":"), found
    with pytest.raises(record_schema.RecordSchemaError, match="trial_9.json"):
        record_schema.validate(broken, source="somewhere/trial_9.json")


def test_an_unknown_schema_version_is_refused(record):
    newer = dict(record, schema_version=SCHEMA_VERSION + 1)
    assert "schema_version" in record_schema.problems(newer)[0]
    with pytest.raises(record_schema.RecordSchemaError):
        record_schema.schema_text(SCHEMA_VERSION + 1)
