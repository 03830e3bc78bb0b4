# bench: one command to set up and run, one to test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test reference reference-sitting reference-save reference-final-self reference-final test-kill test-slow test-parity test-algoperf-logs test-browser test-slurm bench-perf lint install clean

$(BIN)/bench: setup.py setup.cfg
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/bench

install: $(BIN)/bench

run: install  ## set up, then benchmark NadamW on MNIST-1D (a few minutes on 2 CPU cores)
	$(BIN)/bench run --workload mnist1d --submission nadamw

test: install  ## the test suite (fast, deterministic, CPU only)
	$(BIN)/python -m pytest

test-slow: install  ## slow checks: every submission learns mnist1d at its default point (no divergence, 0.95 by the step hint); full_tier_steps.py runs all 8 bases (tiny); every held-out variant trains on fake data
	$(BIN)/python -m pytest -m slow tests/test_slow_targets.py tests/test_algoperf_adapter.py \
		tests/test_reference_run.py tests/test_full_tier_steps.py tests/test_fake_data.py

reference: install  ## the cpu tier's reference leaderboards into results/reference (hours on 2 cores; re-run to continue; ARGS="--dry-run" shows the plan)
	$(BIN)/python scripts/reference/run.py $(ARGS)

reference-sitting: install  ## one sitting of the cpu-v3 reference boards, from their committed interim records (hours; Ctrl-C stops; ROOT=~/bench-refrun)
	PYTHON=$(BIN)/python scripts/reference/sitting.sh $(ROOT)

reference-save: install  ## score what the sittings recorded into results/reference/interim*, to commit before the machine goes
	PYTHON=$(BIN)/python scripts/reference/sitting.sh --save $(ROOT)

reference-final-self: install  ## once both self-tuning runs are complete: place those boards with their stability figure and fidelity table (the external board goes on)
	PYTHON=$(BIN)/python scripts/reference/sitting.sh --final-self $(ROOT)

reference-final: install  ## the last sitting: go on, then score the complete boards into results/reference with their stability and fidelity figures
	PYTHON=$(BIN)/python scripts/reference/sitting.sh --final $(ROOT)

test-kill: install  ## kill a real bench study 20 times at random points: nothing lost, no trial trained twice at once (2-4 minutes)
	$(BIN)/python -m pytest -m kill tests/test_random_kill.py

test-algoperf-logs: install  ## the published AlgoPerf v0.5/v0.6 scores from their logs (LOGS=.../previous_leaderboards)
	ALGOPERF_LOGS=$(LOGS) $(BIN)/python -m pytest -m slow tests/test_algoperf_logs.py

test-parity: install  ## learning-rate-free optimizers against the authors' PyTorch packages (installs torch)
	$(BIN)/pip install --quiet -e '.[parity]'
	$(BIN)/python -m pytest tests/parity

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

test-browser: install  ## the HTML leaderboard page in headless Chromium (installs Debian's chromium, chromium-driver and selenium)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
		|| { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }
	$(BIN)/pip install --quiet -e '.[browser]'
	$(BIN)/python -m pytest -m browser tests/test_report_browser.py

test-slurm: install  ## studies on a one-node SLURM cluster it starts here (installs slurm-wlm and munge; a few minutes)
	PYTHON=$(BIN)/python scripts/slurm/run_tests.sh

# How far the cpu tier's ranking holds (README, "How far to trust the cpu tier"): not timings, and
# ranking_stability.py compares two reference runs named on its command line.
RANKING_BENCHMARKS = benchmarks/ranking_stability.py benchmarks/seed_spread.py

bench-perf: install  ## performance benchmarks: ratios measured side by side in one run
	@for script in $(filter-out $(RANKING_BENCHMARKS),$(wildcard benchmarks/[!_]*.py)); do \
		echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: install
	$(BIN)/python -m pyflakes bench workloads submissions tests benchmarks 2>/dev/null \
		|| $(BIN)/python -m compileall -q bench workloads submissions tests benchmarks

clean:
	rm -rf $(VENV) *.egg-info
