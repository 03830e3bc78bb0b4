"""Trial records: one JSON file per trial, typed, versioned, written atomically, never rewritten.

Layout under a results directory (close to AlgoPerf's logs/<ruleset>/<submission>/study_k/...):

    <ruleset>/<submission>/<workload>/study_<k>/trial_<n>.json

A record holds everything needed to score and to audit the trial: who (submission, source hash,
workload definition), what (hyperparameters, seed, protocol settings), how it went (outcome,
time- and steps-to-target, the eval curve, the training curve) and where (hardware fingerprint,
package versions, git commit). Scoring reads nothing else, so records from several machines or CI
jobs can simply be copied into one directory.

`Record` is the one layout: records written by a trial (`Record.from_result`) and imported from
AlgoPerf's logs (`bench.algoperf_import`) are both built by its constructor, and every reader
gets one back from `read_record`, which refuses a file of another `schema_version`, a missing
field or a field of the wrong type with a one-line message naming the file. A `Record` reads like
the JSON object it is stored as (`record["outcome"]`, `record.get(...)`) as well as by attribute.

`Record`'s fields are the layout's one definition: `bench/schemas/record-v1.schema.json`, the
layout for other tools, names the same properties, requires the same ones (`REQUIRED_FIELDS`)
with the same JSON types and outcomes, and adds only constraints and descriptions;
tests/test_record_schema.py fails when the two part.

This module imports nothing from the training loop: `TrialResult` (what a trial returns) lives
here, and the loop fills it in.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.trial.files import write_atomically

if TYPE_CHECKING:  # the types only: this module loads no jax
    from bench.protocol import Outcome, ProtocolSettings

DEFAULT_RULES = "cpu-v1"  # the rules of records older than the field (the default then)
SCHEMA_VERSION = 1
FINISHED_OUTCOMES = ("hit", "budget", "diverged", "error", "tampered")
Problem = tuple[Path, str]  # a record file that could not be read, and why


class RecordError(ValueError):
    """A record file that cannot be read, named in the message."""


@dataclasses.dataclass(frozen=True)
class TrialId:
    """Where a trial lives: its record, its checkpoint and its lock share one folder and stem."""

    ruleset: str
    submission: str
    workload: str
    study: int = 0
    trial: int = 0

    def path(self, results_dir: str | Path) -> Path:
        """The record's path."""
        return (
            Path(results_dir) / self.ruleset / self.submission / self.workload
            / f"study_{self.study}" / f"trial_{self.trial}.json"
        )

    def checkpoint_path(self, results_dir: str | Path) -> Path:
        return self.path(results_dir).with_suffix(".ckpt")

    def lock_path(self, results_dir: str | Path) -> Path:
        return self.path(results_dir).with_suffix(".lock")


@dataclasses.dataclass
class TrialResult:
    """What one trial returns: plain data, no files (the loop fills it in)."""

    outcome: Outcome
    message: str
    seed: int
    hparams: dict[str, Any]
    batch_size: int
    settings: ProtocolSettings
    steps: int = 0
    submission_time: float = 0.0
    eval_time: float = 0.0
    compile_time: float = 0.0
    wall_time: float = 0.0
    time_to_target: float | None = None
    steps_to_target: int | None = None
    evals: list[dict[str, float]] = dataclasses.field(default_factory=list)
    train_curve: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    resumed: int = 0  # how many times the trial was resumed from a checkpoint
    resumed_from_step: int | None = None  # the step this run of the trial started from
    data_wait_time: float = 0.0  # submission time spent waiting for the input pipeline
    device_count: int = 1  # devices the trial ran on (data parallel)
    # Seconds before the clock: importing the submission, make_optimizer, optimizer.init
    # (tracing and running it; its compilation is in compile_time). See count_setup_time.
    setup_time: dict[str, float | None] = dataclasses.field(default_factory=dict)
    # Rules with a clock in reference seconds (bench.speed): this machine's seconds per step of
    # the workload's reference point, and per second of the clock (1: this machine's seconds).
    reference_step_seconds: float | None = None
    clock_rate: float = 1.0


@dataclasses.dataclass(frozen=True)
class Record(Mapping):
    """One finished trial, as stored. Fields without a default are required in every file."""

    schema_version: int
    ruleset: str
    submission: str
    workload: str
    study: int
    trial: int
    outcome: str
    message: str
    time_to_target: float | None
    steps_to_target: int | None
    seed: int | None
    hparams: dict
    batch_size: int | None
    protocol: dict
    steps: int
    submission_time: float
    eval_time: float
    compile_time: float | None
    compile_time_counted: bool
    wall_time: float
    evals: list
    train_curve: dict
    workload_spec: dict
    submission_path: str | None
    submission_sha256: str
    hardware: dict
    versions: dict
    git_commit: str | None
    data_wait_time: float = 0.0
    device_count: int = 1
    workload_sha256: str | None = None
    resumed: int = 0
    finished_at: str | None = None
    imported_from: str | None = None  # the AlgoPerf log folder an imported record came from
    rules: str = DEFAULT_RULES  # the rules version (bench.rules) it ran or was imported under
    setup_time: dict = dataclasses.field(default_factory=dict)  # seconds before the clock
    # Clock in reference seconds (bench.speed): this machine's seconds per step of the workload's
    # reference point, and per second of the clock. Absent under a clock of machine seconds.
    reference_step_seconds: float | None = None
    clock_rate: float | None = None
    extra: dict = dataclasses.field(default_factory=dict)  # fields a newer writer added

    def __post_init__(self):
        problem = _problem(self)
        if problem:
            raise RecordError(problem)

    # Read like the JSON object: record["outcome"], record.get("imported_from"), dict(record).
    # An optional field that is None is absent, as in the file (bench/schemas/record-v1).
    def __getitem__(self, key: str) -> Any:
        if key in FIELD_NAMES and key != "extra":
            value = getattr(self, key)
            if value is None and key not in REQUIRED_FIELDS:
                raise KeyError(key)
            return value
        return self.extra[key]

    def __iter__(self) -> Iterator[str]:
        for name in FIELD_NAMES:
            if name != "extra" and (name in REQUIRED_FIELDS or getattr(self, name) is not None):
                yield name
        yield from self.extra

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def to_json(self) -> str:
        return json.dumps(dict(self), indent=1, allow_nan=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any, source: str | Path = "record") -> Record:
        """Check and type a record read from JSON; `RecordError` names `source` and the problem."""
        if not isinstance(data, dict):
            raise RecordError(f"record {source} is not a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            found = "no schema_version" if version is None else f"schema version {version!r}"
            raise RecordError(f"record {source} has {found}; this bench reads version "
                              f"{SCHEMA_VERSION}")
        missing = [name for name in REQUIRED_FIELDS if name not in data]
        if missing:
            raise RecordError(f"record {source} lacks field(s) {', '.join(missing)}")
        known = {key: value for key, value in data.items() if key in FIELD_NAMES}
        extra = {key: value for key, value in data.items() if key not in FIELD_NAMES}
        try:
            return cls(**known, extra=extra)
        except RecordError as error:
            raise RecordError(f"record {source}: {error}") from None

    @classmethod
    def from_result(cls, trial_id: TrialId, result: TrialResult, workload, submission) -> Record:
        """The full record of a trial that ran here."""
        from bench import environment
        from bench.submission import trial_sha256
        from bench.trial.hashes import workload_sha256

        now = datetime.datetime.now(datetime.timezone.utc)
        return cls(
            schema_version=SCHEMA_VERSION, **dataclasses.asdict(trial_id),
            outcome=result.outcome.value, message=result.message,
            time_to_target=result.time_to_target, steps_to_target=result.steps_to_target,
            seed=result.seed, hparams=result.hparams, batch_size=result.batch_size,
            protocol=dataclasses.asdict(result.settings), steps=result.steps,
            submission_time=result.submission_time, eval_time=result.eval_time,
            compile_time=result.compile_time, compile_time_counted=False,
            data_wait_time=result.data_wait_time, device_count=result.device_count,
            wall_time=result.wall_time, evals=result.evals, train_curve=result.train_curve,
            workload_spec=workload.spec.to_dict(), submission_path=str(submission.path),
            submission_sha256=trial_sha256(submission, result.hparams),
            workload_sha256=workload_sha256(workload), resumed=result.resumed,
            setup_time=result.setup_time,
            reference_step_seconds=result.reference_step_seconds,
            clock_rate=None if result.reference_step_seconds is None else result.clock_rate,
            hardware=environment.hardware(), versions=environment.versions(),
            git_commit=environment.git_commit(), finished_at=now.isoformat(timespec="seconds"),
            rules=result.settings.rules,
        )


# The stored fields ("extra" holds those a newer writer added), and those every file must have.
FIELD_NAMES = tuple(field.name for field in dataclasses.fields(Record))
REQUIRED_FIELDS = tuple(
    field.name for field in dataclasses.fields(Record)
    if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's annotation (int, float, str, bool, dict, list, X | None)."""
    if hint is Any:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_fits(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint in (int, float) and isinstance(value, bool):
        return False
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(value, typing.get_origin(hint) or hint)


def _problem(record: Record) -> str | None:
    """What is wrong with a record's fields, or None."""
    hints = typing.get_type_hints(Record)
    wrong = [name for name in FIELD_NAMES if not _fits(getattr(record, name), hints[name])]
    if wrong:
        return "field(s) of the wrong type: " + ", ".join(
            f"{name}={getattr(record, name)!r:.40}" for name in wrong)
    if record.outcome not in FINISHED_OUTCOMES:
        return f"outcome {record.outcome!r} is not one of {', '.join(FINISHED_OUTCOMES)}"
    if record.outcome == "hit" and record.time_to_target is None:
        return "outcome hit without a time_to_target"
    if "fingerprint" not in record.hardware:
        return "hardware has no fingerprint"
    return None


def write_record(path: Path, record: Record) -> None:
    """Write a record atomically; refuse to replace an existing one (`FileExistsError`).

    Two writers racing for the same trial cannot overwrite each other and a reader never sees a
    half-written file (see `bench.trial.files`).
    """
    if not isinstance(record, Record):
        raise TypeError(f"write_record takes a Record, not {type(record).__name__}")
    write_atomically(Path(path), record.to_json().encode(), replace=False)


def set_aside(path: Path) -> Path:
    """Move an existing file out of the way (for --force, or a damaged checkpoint); nothing is
    deleted. Returns the new name."""
    stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S%f")
    target = path.with_name(f"{path.name}.replaced-{stamp}")
    count = 0
    while target.exists():  # two set aside within a microsecond: never replace the first
        count += 1
        target = path.with_name(f"{path.name}.replaced-{stamp}-{count}")
    os.replace(path, target)
    return target


def read_record(path: str | Path) -> Record:
    """The record at `path`; `RecordError` names the file and what is wrong with it."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RecordError(f"record {path} cannot be read: {error}") from None
    return Record.from_dict(data, source=path)


def record_paths(sources: Iterable[str | Path]) -> Iterator[Path]:
    """Every trial record file under the given files and directories, in a stable order."""
    for source in sources:
        source = Path(source)
        if source.is_dir():
            yield from sorted(source.rglob("trial_*.json"))
        elif source.exists():
            yield source
        else:
            raise RecordError(f"no results at {source}")


def read_as_written(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, dict]], list[Problem]]:
    """The files at `paths` as the JSON objects they hold, unchecked (any schema): for scripts
    that read a few fields of records of any age. Returns (path, object) for each file that
    reads as a JSON object, and (path, why) for each that does not (missing ones included)."""
    read, problems = [], []
    for path in map(Path, paths):
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            problems.append((path, str(error)))
            continue
        if isinstance(data, dict):
            read.append((path, data))
        else:
            problems.append((path, f"holds a JSON {type(data).__name__}, not an object"))
    return read, problems


def load_records(sources: Iterable[str | Path], *,
                 skip_invalid: bool = False) -> tuple[list[Record], list[Problem]]:
    """The records under `sources`, and the files that are not valid records.

    Every file is read. Unless `skip_invalid`, any invalid one raises a `RecordError` that lists
    them all (one line each); with it, they are returned as (path, problem) for the caller to
    report, and the valid records are still returned.
    """
    records, problems = [], []
    for path in record_paths(sources):
        try:
            records.append(read_record(path))
        except RecordError as error:
            problems.append((path, str(error)))
    if problems and not skip_invalid:
        lines = [problem for _, problem in problems]
        raise RecordError(f"{len(problems)} invalid record(s) (--skip-invalid reads the rest):\n"
                          + "\n".join(lines))
    return records, problems
