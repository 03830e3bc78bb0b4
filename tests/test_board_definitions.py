"""The cpu workloads keep the definitions the reference boards in progress are measured on.

A record is scored only under the workload definition it was measured on (`bench.trust`): its
`workload_sha256` covers the spec and every project file that defines the workload's data,
model and loss, docstrings included. The cpu-v3 reference boards (issue 21) take many sessions
of a quiet machine (begun at commit 74101f0, begun again at 53920b3 on a new machine); a change
to any of those files, even to a comment, would void every record made so far, and nothing else
would say so until the boards were scored.
(It happened once: a four-line docstring in workloads/targets/__init__.py, reverted.)

The hashes below are those the boards' records carry; the second test checks the committed
records themselves (interim or final). A change that fails either must be reverted or come with
new boards.
"""

import json
import tarfile
from pathlib import Path

import pytest

from bench import registry, rules, submission, trust
from bench.trial.hashes import workload_sha256

BOARD_RULES = "cpu-v3"
BOARD_HASHES = {
    "digits_autoencoder": "32feb3954b7d15bed742d1e7707514b20949765b40089bc02a1c8fd6d55a637d",
    "mnist1d": "737dad02e4f61558adcb30be465872ac697e79ad334e99f96be3392e39b67b8d",
    "mnist1d_gelu": "e7a14cf9c9007149b3fa45cf3fdb5db144229453c72b0a414ab602c8c14e45e0",
    "mnist1d_mlp": "b02c0d76735141585126e7fc1c1f1ac35b5f57132b507442eda84a165a37d396",
    "modular_arithmetic": "0a8b58db764bf4a4929e4108c1f982e63a735cd8cc35234a7ef14a48395a3e06",
    "synthetic_lm": "c3623a30b6a6d76cbc5bf2288364e88c7bd88c3ce1f54a764d6f9db660fec0fb",
}


@pytest.mark.parametrize("name", sorted(BOARD_HASHES))
def test_the_workload_is_defined_as_when_the_boards_began(name):
    workload = rules.with_rules(registry.all_workloads()[name], BOARD_RULES)
    assert workload_sha256(workload) == BOARD_HASHES[name], (
        f"{name}'s definition changed: every record of the cpu-v3 reference boards in progress "
        "would be refused as stale (see this test's docstring)")


REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"


def board_records() -> list[dict]:
    """Every cpu-v3 record of the committed boards under results/reference/: the interim ones
    while the boards are in progress (interim*/), the final ones after (`sitting.sh --final`).
    The cpu-v2 boards they replace are stale, and left out."""
    records = []
    for archive in sorted(REFERENCE.glob("**/records.tar.xz")):
        with tarfile.open(archive) as tar:
            records += [json.load(tar.extractfile(member)) for member in tar.getmembers()
                        if member.isfile()]
    return [record for record in records if record["rules"] == BOARD_RULES]


def test_the_committed_board_records_are_vouched_for_and_their_code_is_unchanged():
    """A sitting goes on from the committed records (scripts/reference/sitting.sh): they must
    still be scored as they are, and their submissions' code must be the code the next sitting
    runs, or a board would mix two versions of a method. Once the boards are final, the same
    holds for them: a change to a workload or a submission makes them stale."""
    records = board_records()
    assert records, f"no {BOARD_RULES} records under {REFERENCE}: the boards are committed"
    vouched = trust.vouch(records)
    assert not vouched.refused and not vouched.stale, [str(r) for r in vouched.refused]
    changed = sorted({record["submission"] for record in records
                      if record["submission_sha256"] != submission.trial_sha256(
                          registry.get_submission(record["submission"]), record["hparams"])})
    assert not changed, (f"the code of {changed} changed after the boards in progress ran it: "
                         "revert it, or run their trials again")
