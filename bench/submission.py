"""The submission contract: the training algorithm being benchmarked.

A submission is one Python file, `submission.py`, usually in a folder of its own under
`submissions/` beside a `search_space.json` (the external-tuning search space, AlgoPerf's format)
and a README.md. The file defines:

- `make_optimizer(hparams, workload_info) -> optax.GradientTransformation` (required): the whole
  update rule, schedule included. `hparams` is a plain dict; `workload_info` is a
  `bench.workload.WorkloadInfo` (step hint, batch size, budget, parameter shapes). The harness
  calls `init` with the real initial parameters and owns the training step (gradients, `update`
  with the current parameters, `optax.apply_updates`), so every submission is timed the same way.
- `DEFAULT_HPARAMS` (required): the self-tuning point, a dict of JSON values. It also names every
  hyperparameter the submission accepts: a hyperparameter file may only set these keys.
- `eval_params(params, opt_state) -> params` (optional): the parameters to evaluate, for methods
  whose evaluation point differs from the training iterate (schedule-free's averaged x sequence).
  Its cost counts as submission time.
- `batch_size(hparams, workload_info) -> int` (optional): a batch size other than the workload's.
- `make_controller(hparams, workload_info)` (optional, "full control"): a callable the runner
  calls before training steps with a `bench.trial.loop.TrainingHandle` (it returns None to be
  called before the next step, or how many steps it can wait), through which it may
  read and set the learning rate, snapshot and restore the training state, run probe steps and
  measure the loss on a held-out slice of the training stream (never the validation split).
  Everything it does counts as submission time. For methods that steer training from outside
  the update rule, such as AutoLRS.

The module docstring's first line is the submission's one-line summary in `bench list`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import inspect
import json
import math
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.sources import file_imports, files_sha256, folder_files, project_files


class SubmissionError(ValueError):
    """A submission that cannot be loaded or does not follow the contract."""


class HparamsError(ValueError):
    """A hyperparameter file or override that does not fit the submission."""


@dataclasses.dataclass(frozen=True)
class Submission:
    name: str
    path: Path
    make_optimizer: Callable[..., Any]
    default_hparams: Mapping[str, Any]
    eval_params: Callable[..., Any] | None
    batch_size: Callable[..., int] | None
    summary: str
    source_sha256: str
    make_controller: Callable[..., Any] | None = None
    # An AlgoPerf-API submission (`bench.algoperf_api`): the runner takes its training step from
    # `make_trainer(workload, hparams, params, model_state, rng, settings)` instead of building
    # one around `make_optimizer`; its hyperparameters are open (any names; none by default).
    make_trainer: Callable[..., Any] | None = None
    open_hparams: bool = False
    import_seconds: float | None = None  # wall-clock time its module took to import

    @property
    def search_space_path(self) -> Path | None:
        """`search_space.json` beside the file, or AlgoPerf's `tuning_search_space.json`."""
        for name in ("search_space.json", "tuning_search_space.json"):
            path = self.path.parent / name
            if path.exists():
                return path
        return None


def _check_arity(name: str, func: Any, count: int, path: Path) -> None:
    if not callable(func):
        raise SubmissionError(f"{path}: `{name}` must be a function")
    try:
        inspect.signature(func).bind(*range(count))
    except TypeError:
        raise SubmissionError(
            f"{path}: `{name}` must accept {count} positional arguments, "
            f"its signature is {name}{inspect.signature(func)}"
        ) from None
    except ValueError:  # builtins without a signature: trust them
        pass


def check_default_hparams(defaults, path) -> Mapping:
    """`defaults` if it is a valid DEFAULT_HPARAMS (a dict of JSON values), else SubmissionError
    naming `path`. Used on the module itself and on what a child process reports of it."""
    if not isinstance(defaults, Mapping):
        raise SubmissionError(f"{path}: does not define `DEFAULT_HPARAMS` as a dict")
    try:
        validate_hparam_values(defaults)
    except HparamsError as error:
        raise SubmissionError(f"{path}: DEFAULT_HPARAMS: {error}") from None
    return defaults


def load_submission(path: str | Path, name: str | None = None) -> Submission:
    """Import a submission file and check that it follows the contract."""
    path = Path(path).resolve()
    if path.is_dir():
        path = path / "submission.py"
    if not path.is_file():
        raise SubmissionError(f"no submission file at {path}")
    if name is None:
        name = path.parent.name if path.name == "submission.py" else path.stem
    from bench import algoperf_api

    if algoperf_api.is_algoperf_submission(path):  # not imported here: see bench.algoperf_api
        return algoperf_api.load(path, name)
    source = path.read_bytes()
    source_hash = source_sha256(path)  # before its code runs and could change the folder

    module_name = f"bench_submission_{name}_{hashlib.sha256(source).hexdigest()[:10]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before executing it, as dataclasses and pickle expect
    import_start = time.perf_counter()
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the submission's own code failed: report it in one line
        del sys.modules[module_name]
        raise SubmissionError(
            f"{path}: importing the submission failed: {type(error).__name__}: {error}"
        ) from error
    import_seconds = time.perf_counter() - import_start

    if not hasattr(module, "make_optimizer"):
        raise SubmissionError(f"{path}: does not define `make_optimizer(hparams, workload_info)`")
    _check_arity("make_optimizer", module.make_optimizer, 2, path)
    defaults = check_default_hparams(getattr(module, "DEFAULT_HPARAMS", None), path)
    eval_params = getattr(module, "eval_params", None)
    if eval_params is not None:
        _check_arity("eval_params", eval_params, 2, path)
    batch_size = getattr(module, "batch_size", None)
    if batch_size is not None:
        _check_arity("batch_size", batch_size, 2, path)
    make_controller = getattr(module, "make_controller", None)
    if make_controller is not None:
        _check_arity("make_controller", make_controller, 2, path)

    doc = (module.__doc__ or "").strip()
    return Submission(
        name=name,
        path=path,
        make_optimizer=module.make_optimizer,
        default_hparams=dict(defaults),
        eval_params=eval_params,
        batch_size=batch_size,
        summary=doc.splitlines()[0] if doc else "",
        source_sha256=source_hash,
        make_controller=make_controller,
        import_seconds=import_seconds,
    )


def source_files(path: Path) -> dict[str, Path]:
    """Label -> file, for everything a submission's code consists of.

    Its folder (when the file is a `submission.py` in a folder of its own; else the file alone)
    and the project modules its Python files import, transitively (`bench.optim`,
    `bench.schedules`, ...).
    """
    path = Path(path)
    own = folder_files(path.parent) if path.name == "submission.py" else {path.name: path}
    imported: set[str] = set()
    for file in own.values():
        if file.suffix == ".py":
            imported |= file_imports(file)
    return {**{f"submission/{label}": file for label, file in own.items()},
            **project_files(imported)}


def source_sha256(path: Path) -> str:
    """The hash of a submission's code (`source_files`); `Submission.source_sha256`."""
    return files_sha256(source_files(path))


def hparam_files(hparams: Mapping[str, Any]) -> dict[str, Path]:
    """Hyperparameters whose value names an existing file (a `schedule_file`): name -> path."""
    return {name: Path(value) for name, value in hparams.items()
            if isinstance(value, str) and value and Path(value).is_file()}


def trial_sha256(submission: Submission, hparams: Mapping[str, Any]) -> str:
    """The hash recorded as a trial's `submission_sha256`: the submission's code and the
    contents of any file a hyperparameter points to (which the code reads)."""
    files = hparam_files(hparams)
    if not files:
        return submission.source_sha256
    return files_sha256({f"hparam/{name}": path for name, path in files.items()},
                        prefix=submission.source_sha256.encode())


def validate_hparam_values(hparams: Mapping[str, Any]) -> None:
    """Hyperparameter values are JSON scalars: finite numbers, strings, booleans or null."""
    for key, value in hparams.items():
        if not isinstance(key, str):
            raise HparamsError(f"hyperparameter names must be strings, got {key!r}")
        if value is None or isinstance(value, (str, bool)):
            continue
        if isinstance(value, (int, float)):
            if not math.isfinite(value):
                raise HparamsError(f"{key}: value {value!r} is not finite")
            continue
        raise HparamsError(f"{key}: value {value!r} is not a number, string, boolean or null")


def value_kind(value: Any) -> str:
    """The kind of a hyperparameter value: "number", "boolean", "string" or "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, (int, float)) else "string"


def _allowed_kinds(submission: Submission, name: str) -> set[str] | None:
    """The kinds a value of `name` may have: its default's, or (default null) its search space's
    values' plus null; None when nothing says (a null default outside the search space, or a
    name an open submission does not declare)."""
    if name not in submission.default_hparams:
        return None
    default = submission.default_hparams[name]
    if default is not None:
        return {value_kind(default)}
    if submission.search_space_path is None:
        return None
    from bench.search_space import Choice, SearchSpaceError, load_search_space

    try:
        space = load_search_space(submission.search_space_path)
    except SearchSpaceError:  # reported where the space is used
        return None
    for dimension in space.dimensions:
        if dimension.name == name:
            points = dimension.points if isinstance(dimension, Choice) else (0.0,)
            return {value_kind(point) for point in points} | {"null"}
    return None


def check_hparam_kinds(submission: Submission, hparams: Mapping[str, Any]) -> None:
    """Each value has the kind its default has (a number where the default is a number, ...).

    A value of another kind (`learning_rate=abc`) would fail inside the submission's code after
    the trial started; it is refused before anything trains. Whole and fractional numbers are
    one kind (a search space may draw 120.0 for a default of 100).
    """
    for name, value in hparams.items():
        allowed = _allowed_kinds(submission, name)
        if allowed is not None and value_kind(value) not in allowed:
            default = submission.default_hparams[name]
            raise HparamsError(
                f"{name}={value!r} is a {value_kind(value)}, but submission {submission.name} "
                f"expects a {' or '.join(sorted(allowed))} (default {default!r})")


def resolve_hparams(submission: Submission, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The submission's default point with `overrides` applied; unknown names and values of the
    wrong kind (`check_hparam_kinds`) are an error."""
    overrides = dict(overrides or {})
    validate_hparam_values(overrides)
    unknown = sorted(set(overrides) - set(submission.default_hparams))
    if unknown and not submission.open_hparams:
        known = ", ".join(sorted(submission.default_hparams))
        raise HparamsError(
            f"unknown hyperparameter(s) {', '.join(unknown)} for submission {submission.name} "
            f"(it accepts: {known})"
        )
    check_hparam_kinds(submission, overrides)
    return {**submission.default_hparams, **overrides}


def load_hparams_file(path: str | Path) -> dict[str, Any]:
    """Read a hyperparameter file: a JSON object of name -> value."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise HparamsError(f"hyperparameter file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise HparamsError(f"hyperparameter file {path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise HparamsError(f"hyperparameter file {path} must hold a JSON object of name: value")
    try:
        validate_hparam_values(data)
    except HparamsError as error:
        raise HparamsError(f"hyperparameter file {path}: {error}") from None
    return data


def parse_hparam_assignment(text: str) -> tuple[str, Any]:
    """`name=value` from the command line; the value is read as JSON, else kept as a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise HparamsError(f"expected NAME=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    validate_hparam_values({name.strip(): value})
    return name.strip(), value
