"""Parallel trials on a machine with several devices: one device per trial (`--jobs`).

Fake CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count) stand in for GPUs: each
trial's process sees four devices, and trains on one.
"""

import os

import pytest

from bench import devices, tuning
from bench.protocol import ProtocolSettings
from bench.submission import load_submission
from tests.conftest import TINY, write_submission

# SGD that notes which device slot its process was given, and the CPUs it may run on.
SLOT_NOTING_SGD = '''
import os
import optax

DEFAULT_HPARAMS = {"learning_rate": 0.1}

def make_optimizer(hparams, workload_info):
    cpus = ",".join(str(cpu) for cpu in sorted(os.sched_getaffinity(0)))
    with open(os.environ["BENCH_TEST_SLOTS"], "a") as handle:
        handle.write(os.environ.get("BENCH_DEVICE_SLOT", "none") + ":" + cpus + "\\n")
    return optax.sgd(hparams["learning_rate"])
'''
CPUS = sorted(os.sched_getaffinity(0))


def noted(slots):
    """{slot: the CPUs its process could run on} from the file the submission wrote."""
    lines = [line.split(":") for line in slots.read_text().split()]
    return {slot: [int(cpu) for cpu in cpus.split(",")] for slot, cpus in lines}
SETTINGS = ProtocolSettings(max_steps=5, eval_period=1e6, evaluate_test=False)


@pytest.fixture
def four_fake_devices(tmp_path, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
    slots = tmp_path / "slots.txt"
    monkeypatch.setenv("BENCH_TEST_SLOTS", str(slots))
    return load_submission(write_submission(tmp_path, SLOT_NOTING_SGD, name="slots")), slots


def test_parallel_trials_train_on_one_device_each(tmp_path, four_fake_devices):
    submission, slots = four_fake_devices
    outcomes = tuning.run_study(submission, [TINY], ruleset="self", studies=2, jobs=2,
                                results_dir=str(tmp_path / "r"), settings=SETTINGS)
    assert [o.record["device_count"] for o in outcomes] == [1, 1]
    cpus = noted(slots)
    assert sorted(cpus) == ["0", "1"]
    assert sorted(o.record["hardware"]["cpus"] for o in outcomes) == sorted(
        len(share) for share in cpus.values())
    if len(CPUS) >= 2:  # each process kept to its own half of the CPUs
        assert sorted(cpus["0"] + cpus["1"]) == CPUS
        assert cpus["0"] == CPUS[:len(CPUS) // 2] and cpus["1"] == CPUS[len(CPUS) // 2:]


def test_one_trial_at_a_time_trains_on_every_device(tmp_path, four_fake_devices):
    submission, slots = four_fake_devices
    [outcome] = tuning.run_study(submission, [TINY], ruleset="self", studies=1, isolate=True,
                                 results_dir=str(tmp_path / "r"), settings=SETTINGS)
    assert outcome.record["device_count"] == 4
    assert noted(slots) == {"none": CPUS}


def test_a_slot_picks_among_the_visible_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    monkeypatch.setenv(devices.SLOT_VARIABLE, "")  # restored (removed) after the test
    devices.pin_to_device(5)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    assert os.environ[devices.SLOT_VARIABLE] == "5"


def test_parallel_trials_share_the_cpus_out_evenly():
    assert devices.cpu_share(0, 2, [0, 1]) == [0] and devices.cpu_share(1, 2, [0, 1]) == [1]
    assert [devices.cpu_share(slot, 2, [2, 3, 5, 7, 11]) for slot in (0, 1)] == [[2, 3, 5],
                                                                                   [7, 11]]
    assert [devices.cpu_share(slot, 3, [0, 1]) for slot in (0, 1, 2)] == [[0], [1], [0]]
    assert devices.cpu_share(0, 1, [0, 1, 2, 3]) == [0, 1, 2, 3]
