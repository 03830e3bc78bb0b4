"""The typed record: schema checked on read, every bad file named, permissions from the umask."""

import json
import os
import stat

import pytest

from bench.trial.record import (
    SCHEMA_VERSION, Record, RecordError, load_records, read_as_written, read_record, write_record,
)

NEUTRAL = {  # every required field, with values a reader accepts
    "schema_version": SCHEMA_VERSION, "ruleset": "external", "submission": "s", "workload": "w",
    "study": 0, "trial": 0, "outcome": "budget", "message": "", "time_to_target": None,
    "steps_to_target": None, "seed": 0, "hparams": {}, "batch_size": 8, "protocol": {},
    "steps": 1, "submission_time": 1.0, "eval_time": 0.0, "compile_time": 0.0,
    "compile_time_counted": False, "wall_time": 1.0, "evals": [], "train_curve": {},
    "workload_spec": {}, "submission_path": None, "submission_sha256": "0" * 64,
    "hardware": {"fingerprint": "m1"}, "versions": {}, "git_commit": None,
}


def complete_record(partial: dict | None = None, **fields) -> Record:
    """A valid record: the neutral one with `partial` and `fields` over it."""
    return Record.from_dict({**NEUTRAL, **(partial or {}), **fields})


def test_record_reads_like_its_json_and_round_trips(tmp_path):
    record = complete_record(outcome="hit", time_to_target=2.5, steps_to_target=7,
                             imported_from="logs/x", note="from a newer writer")
    assert record["outcome"] == record.outcome == "hit"
    assert record.get("imported_from") == "logs/x" and record.get("absent") is None
    assert record["note"] == "from a newer writer" and "note" in record
    path = tmp_path / "trial_0.json"
    write_record(path, record)
    assert read_record(path) == record
    assert json.loads(path.read_text())["note"] == "from a newer writer"


@pytest.mark.parametrize("change, problem", [
    ({"schema_version": None}, "has no schema_version"),
    ({"schema_version": 99}, "has schema version 99; this bench reads version 1"),
    ({"outcome": "running"}, "outcome 'running' is not one of"),
    ({"outcome": "hit"}, "outcome hit without a time_to_target"),
    ({"study": "0"}, "wrong type: study='0'"),
    ({"time_to_target": "fast"}, "wrong type: time_to_target='fast'"),
    ({"steps": True}, "wrong type: steps=True"),
    ({"hardware": {}}, "hardware has no fingerprint"),
])
def test_invalid_fields_are_refused_in_one_line_naming_the_file(tmp_path, change, problem):
    path = tmp_path / "trial_3.json"
    data = {**NEUTRAL, **change}
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None or k != "schema_version"}))
    with pytest.raises(RecordError) as error:
        read_record(path)
    assert str(path) in str(error.value) and problem in str(error.value)
    assert "\n" not in str(error.value)


def test_a_record_lacking_fields_names_them(tmp_path):
    path = tmp_path / "trial_0.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "outcome": "hit"}))
    with pytest.raises(RecordError, match=r"trial_0.json lacks field\(s\) ruleset, submission"):
        read_record(path)


def test_load_records_names_every_bad_file_or_skips_them(tmp_path):
    good = tmp_path / "a" / "trial_0.json"
    write_record(good, complete_record())
    truncated = tmp_path / "b" / "trial_0.json"
    truncated.parent.mkdir()
    truncated.write_text('{"outcome": "hit", "steps"')
    fieldless = tmp_path / "c" / "trial_0.json"
    fieldless.parent.mkdir()
    fieldless.write_text(json.dumps({"schema_version": SCHEMA_VERSION}))
    with pytest.raises(RecordError) as error:
        load_records([tmp_path])
    assert "2 invalid record(s)" in str(error.value)
    assert str(truncated) in str(error.value) and str(fieldless) in str(error.value)
    records, problems = load_records([tmp_path], skip_invalid=True)
    assert [r.submission for r in records] == ["s"]
    assert [path for path, _ in problems] == [truncated, fieldless]


def test_records_get_the_permissions_the_umask_gives(tmp_path):
    previous = os.umask(0o022)
    try:
        write_record(tmp_path / "r" / "trial_0.json", complete_record())
        os.umask(0o002)
        write_record(tmp_path / "r" / "trial_1.json", complete_record())
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "r" / "trial_0.json").stat().st_mode)
    assert mode == 0o644
    assert stat.S_IMODE((tmp_path / "r" / "trial_1.json").stat().st_mode) == 0o664


def test_write_record_takes_a_record_only(tmp_path):
    with pytest.raises(TypeError):
        write_record(tmp_path / "trial_0.json", dict(NEUTRAL))


def test_the_record_layer_imports_nothing_from_the_loop():
    """Module-level imports of the record layer: the standard library and bench.trial.files."""
    import ast
    import sys
    from pathlib import Path

    import bench.trial.record

    for module in ("record", "files"):
        tree = ast.parse(Path(bench.trial.record.__file__).with_name(f"{module}.py").read_text())
        names = set()
        for node in tree.body:  # top level only: the TYPE_CHECKING block and functions aside
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names.add(node.module)
        project = {name for name in names if name.split(".")[0] not in sys.stdlib_module_names}
        assert project <= {"bench.trial.files"}, (module, project)


def test_reading_records_loads_no_jax_and_no_loop():
    import subprocess
    import sys

    code = ("import sys, bench.trial.record; print(sorted(m for m in sys.modules "
            "if m.startswith(('jax', 'optax', 'flax', 'bench.trial.loop', 'bench.runner'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_set_aside_never_replaces_a_file_set_aside_before(tmp_path, monkeypatch):
    import datetime

    from bench.trial import record as record_module

    class FrozenClock(datetime.datetime):  # every call in the same microsecond
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 1, 1, 12, 0, 0, 5)

    monkeypatch.setattr(record_module.datetime, "datetime", FrozenClock)
    path = tmp_path / "trial_0.json"
    kept = []
    for text in ("first", "second", "third"):
        path.write_text(text)
        kept.append(record_module.set_aside(path))
    assert [p.read_text() for p in kept] == ["first", "second", "third"]
    assert not path.exists() and len(set(kept)) == 3


def test_records_as_written_are_any_json_object_and_the_rest_is_named(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"schema_version": 0, "evals": []}))  # refused by read_record
    listed, broken, missing = tmp_path / "list.json", tmp_path / "broken.json", tmp_path / "no"
    listed.write_text("[1, 2]")
    broken.write_text("{")
    read, problems = read_as_written([old, listed, broken, missing])
    assert read == [(old, {"schema_version": 0, "evals": []})]
    assert [path for path, _ in problems] == [listed, broken, missing]
    assert "not an object" in problems[0][1]
