#!/usr/bin/env bash
# GPU measurements of issue #18, in one command (README, "GPU measurements"):
#   1. benchmarks/full_tier_steps.py: every full-tier base workload at full size on fake data,
#      a NadamW trial against the bare jitted step, and the input pipeline's rate;
#   2. benchmarks/imagenet_pipeline.py: ImageNet's training pipeline on synthetic JPEGs,
#      grain workers against threads, 1 to 15 workers.
# Results (text and JSON) go to OUT_DIR. Sized to finish within 10 minutes: STEPS (default 100)
# steps each of bare loop and harness per workload; each part is cut off by its own timeout, and
# rows already measured are kept. Run from the repository root, in an environment with bench
# installed and jax for the accelerator (PYTHON names its interpreter).
#
#     scripts/gpu/measure.sh OUT_DIR [more options of full_tier_steps.py]
set -u
out=${1:?usage: scripts/gpu/measure.sh OUT_DIR}
python=${PYTHON:-python}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
(nvidia-smi; nproc; "$python" -c "import jax; print(jax.devices())") > "$out/machine.txt" 2>&1

timeout "${STEPS_TIMEOUT:-420}" "$python" benchmarks/full_tier_steps.py \
    --steps "${STEPS:-100}" --out "$out/full_tier_steps.json" "${@:2}" 2>&1 \
    | tee "$out/full_tier_steps.txt"

workers=$(nproc)
timeout "${PIPELINE_TIMEOUT:-150}" "$python" benchmarks/imagenet_pipeline.py \
    --images "${IMAGES:-512}" --batches 10 --rounds 2 --workers 1 4 8 $((workers > 1 ? workers - 1 : 1)) \
    2>&1 | grep -v OpenCV | tee "$out/imagenet_pipeline.txt"
