#!/usr/bin/env bash
# make test-slurm: start a one-node SLURM cluster, run the tests marked `slurm` against it, stop
# the daemons it started whatever the outcome. Extra arguments go to pytest.
#   PYTHON=.venv/bin/python scripts/slurm/run_tests.sh [-k requeue]
set -uo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
CLUSTER=scripts/slurm/local_cluster.sh

trap '"$CLUSTER" stop' EXIT
trap 'exit 130' INT TERM
"$CLUSTER" start || exit 1
source <("$CLUSTER" env)
# Jobs inherit this environment (sbatch's default): they import this checkout's bench.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# BENCH_TEST_WRAPPER: a command the test run goes through (e.g. "flock /tmp/some.lock").
${BENCH_TEST_WRAPPER:-} "$PYTHON" -m pytest -m slurm tests/slurm "$@"
