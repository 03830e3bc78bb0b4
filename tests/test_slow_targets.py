"""Slow: every shipped submission trains mnist1d to its target at its default point.

Kept out of the default suite (`-m "not slow"`); run with `make test-slow`.
"""

import pytest

from bench import registry
from bench.protocol import ProtocolSettings
from bench.trial.loop import run_trial

pytestmark = pytest.mark.slow

EXPECTED_TO_MISS = {
    # name: why its default point does not reach the mnist1d target (documented, not hidden)
}


@pytest.mark.parametrize("name", registry.submission_names())
def test_default_point_reaches_the_mnist1d_target(name):
    if name in EXPECTED_TO_MISS:
        pytest.xfail(EXPECTED_TO_MISS[name])
    workload = registry.get_workload("mnist1d")
    workload.load()
    submission = registry.get_submission(name)
    result = run_trial(workload, submission, dict(submission.default_hparams),
                       settings=ProtocolSettings(evaluate_test=False, eval_every_steps=250,
                                                 max_steps=2 * workload.spec.step_hint,
                                                 max_runtime=1e9))
    best = max(row["validation/accuracy"] for row in result.evals)
    assert result.outcome.value == "hit", (
        f"{name}: {result.outcome.value}, best validation accuracy {best:.4f} "
        f"(target {workload.spec.validation_target})")
