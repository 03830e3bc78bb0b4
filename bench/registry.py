"""Finding workloads and submissions by name.

Workloads: every module (or package) in the `workloads` package that defines a module-level
`WORKLOADS` list of `Workload` instances. Adding a workload family is dropping in one file.
A workload's fake-data copy (`Workload.fake`) is named `<reference>@fake-<model size>`, e.g.
`imagenet_vit@fake-tiny`, so that another process can rebuild it.

Submissions: every folder under the `submissions` directory that holds a `submission.py`; the
folder name is the submission name. A path to a file or folder (`path/to/submission.py`) is
loaded directly, which is how contributed submissions are tried before they are merged.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import pkgutil
from pathlib import Path

import submissions as submissions_package
import workloads as workloads_package
from bench.submission import Submission, load_submission
from bench.workload import Workload


class UnknownNameError(LookupError):
    """An unknown workload or submission name; the message suggests close names."""

    def __init__(self, kind: str, name: str, known: list[str]):
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        super().__init__(
            f"unknown {kind} {name!r}.{hint} Known: {', '.join(known) or 'none'}"
            f" (see `bench list {kind}s`)"
        )


def _workload_modules():
    for module_info in pkgutil.iter_modules(workloads_package.__path__):
        if not module_info.name.startswith("_"):
            yield importlib.import_module(f"workloads.{module_info.name}")


@functools.cache
def all_workloads() -> dict[str, Workload]:
    """Name -> workload, for every workload module in the `workloads` package."""
    found: dict[str, Workload] = {}
    for module in _workload_modules():
        for workload in getattr(module, "WORKLOADS", ()):
            if workload.name in found:
                raise ValueError(f"workload name {workload.name!r} is defined twice")
            found[workload.name] = workload
    return dict(sorted(found.items()))


@functools.cache
def workload_aliases() -> dict[str, str]:
    """Other names of workloads (a module's `ALIASES` dict: alias -> workload name)."""
    return {alias: name for module in _workload_modules()
            for alias, name in getattr(module, "ALIASES", {}).items()}


FAKE_MARK = "@fake-"


def get_workload(name: str) -> Workload:
    """A workload by name or alias, or by `package.module:ATTRIBUTE` for one outside workloads/.

    `<reference>@fake-<size>` is that workload's `fake(size)` copy.
    """
    if FAKE_MARK in name:
        base, _, model_size = name.rpartition(FAKE_MARK)
        return get_workload(base).fake(model_size)
    workloads = all_workloads()
    name = workload_aliases().get(name, name)
    if name in workloads:
        return workloads[name]
    if ":" in name:
        module_name, _, attribute = name.partition(":")
        try:
            workload = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise UnknownNameError("workload", name, list(workloads)) from error
        if isinstance(workload, Workload):
            return workload
    raise UnknownNameError("workload", name, list(workloads))


def workload_reference(workload: Workload) -> str:
    """A name `get_workload` resolves back to `workload`, also in another process."""
    if workload.fake_of is not None:
        base, model_size = workload.fake_of
        return f"{workload_reference(base)}{FAKE_MARK}{model_size}"
    if all_workloads().get(workload.name) is workload:
        return workload.name
    module = importlib.import_module(type(workload).__module__)
    for attribute, value in vars(module).items():
        if value is workload:
            return f"{module.__name__}:{attribute}"
    raise ValueError(f"workload {workload.name} is not reachable by name from another process")


def dataset_preparer(name: str):
    """The `prepare(raw_dir, data_dir)` of the workload module that defines workload `name`.

    A workload module whose data tfds cannot build (or not without TensorFlow) defines a
    module-level `prepare` function; `bench prepare WORKLOAD` calls it. None when the module
    has none (its data is a tfds dataset, built with `tfds build`).
    """
    workload = get_workload(name)
    for module in _workload_modules():
        if any(w is workload for w in getattr(module, "WORKLOADS", ())):
            return getattr(module, "prepare", None)
    return None


def submissions_dir() -> Path:
    return Path(submissions_package.__file__).resolve().parent


def submission_names() -> list[str]:
    return sorted(p.parent.name for p in submissions_dir().glob("*/submission.py"))


def _looks_like_path(reference: str) -> bool:
    return reference.endswith(".py") or "/" in reference or Path(reference).is_dir()


def submission_location(reference: str) -> tuple[Path, str | None, bool]:
    """Where a submission reference points: (file or folder, its name or None to derive it
    from the path, whether it ships with the project under submissions/)."""
    if reference in submission_names():
        return submissions_dir() / reference / "submission.py", reference, True
    if _looks_like_path(reference):
        return Path(reference), None, False
    raise UnknownNameError("submission", reference, submission_names())


def get_submission(reference: str) -> Submission:
    """A submission by name (a folder under submissions/) or by path to its file or folder.

    This imports the submission into this process: for a contributed one, use
    `bench.describe.describe` in processes that schedule, record or score trials.
    """
    path, name, _ = submission_location(reference)
    return load_submission(path, name=name)
