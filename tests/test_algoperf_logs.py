"""The published AlgoPerf leaderboards, reproduced from their logs (opt-in: the logs are not here).

    make test-algoperf-logs LOGS=/path/to/submissions_algorithms/previous_leaderboards

LOGS holds algoperf_v05/logs and algoperf_v06/logs of mlcommons/submissions_algorithms. Expected
scores: v0.5 from previous_leaderboards/algoperf_v05/README.md, v0.6 from the repository's
README.md (leaderboard version 0.6, 2025-03-24), to the 4 decimals they are published with.
"""

import os
from pathlib import Path

import pytest

from bench import scoring
from bench.algoperf_import import import_logs
from bench.trial.record import load_records

LOGS = os.environ.get("ALGOPERF_LOGS")
PUBLISHED = {
    ("algoperf-v0.5", "external"): {
        "shampoo_submission": 0.7784, "schedule_free_adamw": 0.7077, "generalized_adam": 0.6383,
        "cyclic_lr": 0.6301, "nadamp": 0.5909, "baseline": 0.5707, "amos": 0.4918,
        "caspr_adaptive": 0.4722, "lawa_queue": 0.3699, "lawa_ema": 0.3384,
        "schedule_free_prodigy": 0.0,
    },
    ("algoperf-v0.5", "self"): {
        "schedule_free_adamw": 0.8542, "baseline": 0.8194, "nadamw_sequential": 0.3308,
        "sinv6_75": 0.1420, "sinv6": 0.0903, "adamg": 0.0,
    },
    ("algoperf-v0.6", "external"): {"shampoo": 0.6244, "baseline": 0.4590},
}
FOLDERS = {"algoperf-v0.5": "algoperf_v05/logs", "algoperf-v0.6": "algoperf_v06/logs"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not LOGS or not Path(LOGS).is_dir(),
                       reason="set ALGOPERF_LOGS (make test-algoperf-logs LOGS=...)"),
]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    imported = {}
    for version, folder in FOLDERS.items():
        results = tmp_path_factory.mktemp(version)
        import_logs(Path(LOGS) / folder, results, rules=version)
        imported[version] = load_records([results])[0]
    return imported


@pytest.mark.parametrize("version, ruleset", sorted(PUBLISHED))
def test_published_scores(records, version, ruleset):
    board = scoring.score(records[version], ruleset=ruleset, bootstrap_samples=0)
    got = {name: round(value, 4) for name, value in board.scores.items()}
    assert got == PUBLISHED[version, ruleset]
