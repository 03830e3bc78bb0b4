"""Malformed and hostile input, tried for real: hyperparameter files, overrides, two writers."""

import json
import multiprocessing

from hypothesis import given, settings, strategies as st

from bench.trial.record import read_record, write_record
from bench.submission import (
    HparamsError,
    load_hparams_file,
    parse_hparam_assignment,
    resolve_hparams,
)
from bench.submission import load_submission
from tests.conftest import SGD_SUBMISSION, write_submission
from tests.test_trial_record import complete_record

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.one_of(json_values, st.text(max_size=40), st.binary(max_size=40)))
def test_any_hyperparameter_file_is_loaded_or_refused_cleanly(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("h") / "hparams.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content)
    else:
        path.write_text(json.dumps(content))
    try:
        loaded = load_hparams_file(path)
    except HparamsError as error:
        assert str(path) in str(error)
        return
    assert isinstance(loaded, dict)
    for value in loaded.values():
        assert value is None or isinstance(value, (bool, int, float, str))


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=30))
def test_any_override_is_parsed_or_refused_cleanly(text):
    try:
        name, value = parse_hparam_assignment(text)
    except HparamsError:
        return
    assert name and "=" in text


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=12), st.floats(allow_nan=False, allow_infinity=False),
                       max_size=4))
def test_overrides_accept_exactly_the_known_names(tmp_path_factory, overrides):
    submission = load_submission(write_submission(tmp_path_factory.mktemp("s"), SGD_SUBMISSION))
    try:
        point = resolve_hparams(submission, overrides)
    except HparamsError as error:
        assert set(overrides) - {"learning_rate"}
        assert "unknown hyperparameter" in str(error)
        return
    assert set(overrides) <= {"learning_rate"} and set(point) == {"learning_rate"}


def _writer(path, tag, results):
    wins = 0
    for index in range(40):
        try:
            write_record(path.with_name(f"trial_{index}.json"),
                         complete_record(writer=tag, payload="x" * 20000))
            wins += 1
        except FileExistsError:
            pass
    results.put(wins)


def test_two_writers_at_once_never_corrupt_or_overwrite(tmp_path):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    path = tmp_path / "study_0" / "trial_0.json"
    writers = [context.Process(target=_writer, args=(path, tag, results)) for tag in "ab"]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    wins = [results.get(timeout=5) for _ in writers]
    assert sum(wins) == 40  # every trial written exactly once
    files = sorted(path.parent.glob("trial_*.json"))
    assert len(files) == 40
    for file in files:
        assert read_record(file)["writer"] in "ab"
    assert not list(path.parent.glob(".*tmp"))  # no temporary files left behind
