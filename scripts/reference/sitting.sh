#!/bin/bash
# One sitting of the cpu tier's cpu-v3 reference boards (issue 21), for machines that keep no
# files from one sitting to the next. The boards take about a day of 2-core machine time.
#
#   scripts/reference/sitting.sh [RESULTS_ROOT]          # go on with the boards (Ctrl-C stops)
#   scripts/reference/sitting.sh --save [RESULTS_ROOT]   # before the machine goes: score what
#                                                        # is recorded, then commit the folders
#
# Going on first unpacks the committed interim records (results/reference/interim/self and
# /external, results/reference/interim-b/self) into RESULTS_ROOT/{a,ext,b} (default
# ~/bench-refrun), keeping records already there. Then each submission's self-tuning studies
# run in run A (seed offset 0) and straight after in run B (seed offset 1000000), so that the
# stability figure (benchmarks/ranking_stability.py RESULTS_ROOT/a RESULTS_ROOT/b
# --complete-only) covers more submissions after every sitting; the external board comes last.
# A trial cut short resumes from its checkpoint if the machine keeps it, and runs again if not.
# Nothing is scored while the trials run (run.py --no-score).
#
# --save runs scripts/reference/run.py --interim for each board with records: its leaderboard,
# README.md and records.tar.xz (training curves left out) go to results/reference/interim/ and
# interim-b/. When a board is complete, run.py without --interim scores it into its final
# place (results/reference/README.md says which).
set -eu
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
RUN=scripts/reference/run.py
SAVE=0
if [ "${1:-}" = "--save" ]; then SAVE=1; shift; fi
ROOT=${1:-$HOME/bench-refrun}
# Runs A and B put the submissions in this order, the ones of the earlier boards first.
SUBMISSIONS="adamw lion sgd_nesterov nadamw prodigy schedule_free_adamw nadamw_wsd autolrs cocob
  dadapt_adamw dog lamb lars mechanic nadamw_infinite nadamw_power nadamw_refined nadamw_rex
  tvlars"
A=(--ruleset self --results-dir "$ROOT/a")
B=(--ruleset self --seed-offset 1000000 --results-dir "$ROOT/b")
EXT=(--ruleset external --results-dir "$ROOT/ext")

has_records() { [ -n "$(find "$1" -name 'trial_*.json' -print -quit 2>/dev/null)" ]; }
committed() { [ -f "$1" ] && echo --records-from "$1"; }

if [ "$SAVE" = 1 ]; then
  if has_records "$ROOT/a"; then $PYTHON $RUN "${A[@]}" --out results/reference/interim --interim; fi
  if has_records "$ROOT/b"; then $PYTHON $RUN "${B[@]}" --out results/reference/interim-b --interim; fi
  if has_records "$ROOT/ext"; then $PYTHON $RUN "${EXT[@]}" --out results/reference/interim --interim; fi
  exit 0
fi

# A failed study is reported and the sitting goes on; nothing is scored until --save.
# shellcheck disable=SC2046 # committed's output is two words or none
for SUBMISSION in $SUBMISSIONS; do
  $PYTHON $RUN "${A[@]}" -s "$SUBMISSION" --no-score \
    $(committed results/reference/interim/self/records.tar.xz) || echo "run A of $SUBMISSION failed"
  $PYTHON $RUN "${B[@]}" -s "$SUBMISSION" --no-score \
    $(committed results/reference/interim-b/self/records.tar.xz) || echo "run B of $SUBMISSION failed"
done
$PYTHON $RUN "${EXT[@]}" --no-score \
  $(committed results/reference/interim/external/records.tar.xz) || echo "the external board failed"
