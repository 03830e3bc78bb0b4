"""AlgoPerf's JAX submission API on bench: run a leaderboard submission unchanged.

A submission file that defines AlgoPerf's functions (`init_optimizer_state`, `update_params`,
`data_selection`, `get_batch_size`, optionally `prepare_for_eval`) instead of bench's
`make_optimizer` is recognised by `is_algoperf_submission` from its source text, without
importing it, and loaded as a `bench.submission.Submission` by `load`. The file is imported only
when a trial starts (`make_trainer`), in the process that runs the trial, never in the one that
plans or scores a study.

Hyperparameters are AlgoPerf's: the submission declares none; a point is any JSON object of
name -> value (`--hparams tuning_point.json`, or a draw from `tuning_search_space.json`), handed
to the submission as a `Hyperparameters` namedtuple; the default point is empty, which hands it
None, as AlgoPerf's self-tuning ruleset does.

Modules: `spec` and `sharding` stand in for AlgoPerf's `spec` and `jax_sharding_utils`
(`modules.install` registers them), `facade` is the workload object a submission is handed,
`adapter` runs the submission's functions in AlgoPerf's order.
"""

from __future__ import annotations

import ast
from pathlib import Path

API_FUNCTIONS = ("init_optimizer_state", "update_params", "data_selection", "get_batch_size")
SEARCH_SPACE_FILE = "tuning_search_space.json"  # AlgoPerf's name, beside the submission


def _top_level_functions(source: bytes) -> set[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def is_algoperf_submission(path: str | Path) -> bool:
    """Whether the file defines AlgoPerf's API functions and not bench's `make_optimizer`."""
    functions = _top_level_functions(Path(path).read_bytes())
    return set(API_FUNCTIONS) <= functions and "make_optimizer" not in functions


def load(path: str | Path, name: str | None = None):
    """A `Submission` for the AlgoPerf-API file at `path`, without importing it."""
    from bench.submission import Submission, source_sha256

    path = Path(path).resolve()
    source = path.read_bytes()
    if name is None:
        name = path.parent.name if path.name == "submission.py" else path.stem
    doc = ast.get_docstring(ast.parse(source)) or ""
    lazy = _LazyModule(path)
    return Submission(
        name=name,
        path=path,
        make_optimizer=_no_optimizer,
        default_hparams={},
        eval_params=None,
        batch_size=lazy.batch_size,
        summary=doc.strip().splitlines()[0] if doc.strip() else "",
        source_sha256=source_sha256(path),
        make_trainer=lazy.make_trainer,
        open_hparams=True,
    )


def _no_optimizer(hparams, workload_info):
    raise TypeError("an AlgoPerf-API submission has no make_optimizer; the runner uses make_trainer")


class _LazyModule:
    """The submission's functions, imported on first use (in the trial's process)."""

    def __init__(self, path: Path):
        self.path = path
        self._module = None

    def module(self):
        if self._module is None:
            from bench.algoperf_api.adapter import import_submission

            self._module = import_submission(self.path)
        return self._module

    def batch_size(self, hparams, workload_info) -> int:
        from bench.algoperf_api.adapter import batch_size

        return batch_size(self.module(), workload_info.name, _base_name(workload_info.name),
                          workload_info.batch_size)

    def make_trainer(self, workload, hparams, params, model_state, rng, settings):
        from bench.algoperf_api.adapter import AlgoPerfTrainer

        return AlgoPerfTrainer(self.module(), workload, hparams, params, model_state, rng, settings)


def _base_name(workload_name: str) -> str | None:
    """The workload a variant is based on, when the registry knows the workload."""
    from bench import registry

    workload = registry.all_workloads().get(workload_name)
    return workload.spec.variant_of if workload is not None else None
