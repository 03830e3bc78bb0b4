#!/bin/bash
# One sitting of the cpu tier's cpu-v3 reference boards (issue 21), for machines that keep no
# files from one sitting to the next. The boards take about a day of 2-core machine time.
#
#   scripts/reference/sitting.sh [RESULTS_ROOT]          # go on with the boards (Ctrl-C stops)
#   scripts/reference/sitting.sh --save [RESULTS_ROOT]   # before the machine goes: score what
#                                                        # is recorded, then commit the folders
#   scripts/reference/sitting.sh --final-self [ROOT]     # once runs A and B are complete: put
#                                                        # the self-tuning boards in their final
#                                                        # places while the external one goes on
#   scripts/reference/sitting.sh --final [RESULTS_ROOT]  # the last sitting: go on, then put the
#                                                        # complete boards in their final places
#
# Going on first unpacks the committed interim records (results/reference/interim/self and
# /external, results/reference/interim-b/self) into RESULTS_ROOT/{a,ext,b} (default
# ~/bench-refrun), keeping records already there. Then each submission's self-tuning studies
# run in run A (seed offset 0) and straight after in run B (seed offset 1000000), so that the
# stability figure (benchmarks/ranking_stability.py RESULTS_ROOT/a RESULTS_ROOT/b
# --complete-only) covers more submissions after every sitting; the external board comes last.
# Once the self-tuning boards are placed (results/reference/second-run/self exists), a sitting
# goes on with the external board alone.
# A trial cut short resumes from its checkpoint if the machine keeps it, and runs again if not.
# Nothing is scored while the trials run (run.py --no-score).
#
# --save runs scripts/reference/run.py --interim for each board in progress with records: its
# leaderboard, README.md and records.tar.xz (training curves left out) go to
# results/reference/interim/ and interim-b/.
#
# --final-self places the two self-tuning boards: run.py without --interim scores run A into
# results/reference/self and run B into results/reference/second-run/self, running first any
# trial still missing (so it never places an incomplete board); then the stability figure
# (benchmarks/ranking_stability.py on the two leaderboards, results/reference/stability.json)
# and the fidelity table (scripts/reference/fidelity.py, results/reference/fidelity_self.md).
# The self-tuning interim folders and the cpu-v2 board they replace (self-b/) are removed, to
# commit with the rest.
#
# --final goes on as a sitting does; then places the self-tuning boards as --final-self does
# unless they are placed already, scores the external board into results/reference/external
# with its fidelity table (fidelity_external.md), and removes the interim folders.
# $REFERENCE_OUT stands for results/reference in all of the above (the tests use it).
set -eu
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
RUN=scripts/reference/run.py
OUT=${REFERENCE_OUT:-results/reference}  # where the boards are committed
MODE=sitting
case "${1:-}" in
  --save) MODE=save; shift ;; --final-self) MODE=final-self; shift ;; --final) MODE=final; shift ;;
esac
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
self_placed() { [ -f "$OUT/second-run/self/leaderboard.json" ]; }

# shellcheck disable=SC2046 # committed's output is two words or none
place_self() {  # the complete self-tuning boards, their stability figure and fidelity table
  $PYTHON $RUN "${A[@]}" --out "$OUT" $(committed "$OUT/interim/self/records.tar.xz")
  $PYTHON $RUN "${B[@]}" --out "$OUT/second-run" $(committed "$OUT/interim-b/self/records.tar.xz")
  $PYTHON benchmarks/ranking_stability.py "$OUT/self/leaderboard.json" \
    "$OUT/second-run/self/leaderboard.json" --out "$OUT/stability.json"
  $PYTHON scripts/reference/fidelity.py "$OUT/self/leaderboard.json" --out "$OUT/fidelity_self.md"
  rm -rf "$OUT/interim/self" "$OUT/interim-b" "$OUT/self-b"
}

if [ "$MODE" = save ]; then
  if ! self_placed; then
    if has_records "$ROOT/a"; then $PYTHON $RUN "${A[@]}" --out "$OUT/interim" --interim; fi
    if has_records "$ROOT/b"; then $PYTHON $RUN "${B[@]}" --out "$OUT/interim-b" --interim; fi
  fi
  if has_records "$ROOT/ext"; then $PYTHON $RUN "${EXT[@]}" --out "$OUT/interim" --interim; fi
  exit 0
fi
if [ "$MODE" = final-self ]; then
  if self_placed; then echo "the self-tuning boards are placed already ($OUT/second-run/self)"
  else place_self; fi
  exit 0
fi

# A failed study is reported and the sitting goes on; nothing is scored until --save.
# shellcheck disable=SC2046
if ! self_placed; then
  for SUBMISSION in $SUBMISSIONS; do
    $PYTHON $RUN "${A[@]}" -s "$SUBMISSION" --no-score \
      $(committed "$OUT/interim/self/records.tar.xz") || echo "run A of $SUBMISSION failed"
    $PYTHON $RUN "${B[@]}" -s "$SUBMISSION" --no-score \
      $(committed "$OUT/interim-b/self/records.tar.xz") || echo "run B of $SUBMISSION failed"
  done
fi
# shellcheck disable=SC2046
$PYTHON $RUN "${EXT[@]}" --no-score \
  $(committed "$OUT/interim/external/records.tar.xz") || echo "the external board failed"

if [ "$MODE" = final ]; then
  if ! self_placed; then place_self; fi  # (not `||`: set -e would not stop a failure there)
  $PYTHON $RUN "${EXT[@]}" --out "$OUT"
  $PYTHON scripts/reference/fidelity.py "$OUT/external/leaderboard.json" \
    --out "$OUT/fidelity_external.md"
  rm -rf "$OUT/interim"
fi
