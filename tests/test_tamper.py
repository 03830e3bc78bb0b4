"""Tamper fingerprints: each kind of patch a submission could make shows up by name."""

import time

import jax
import pytest

from bench import tamper
from bench.protocol import SubmissionClock
from bench.workload import Workload
from tests.conftest import TinyRegression


@pytest.fixture
def workload():
    return TinyRegression()


def test_nothing_changed_nothing_reported(workload):
    clock = SubmissionClock()
    before = tamper.fingerprint(workload, clock, len)
    clock.start()
    clock.stop()
    workload.evaluate(workload.init(jax.random.key(0))[0], {}, "validation")  # caches a jit
    assert tamper.changed(before, tamper.fingerprint(workload, clock, len)) == []


def test_a_patched_base_class_method(workload, monkeypatch):
    before = tamper.fingerprint(workload)
    monkeypatch.setattr(Workload, "target_reached", lambda self, metrics: True)
    assert "Workload.target_reached" in tamper.changed(before, tamper.fingerprint(workload))


def test_a_method_patched_on_the_instance(workload):
    before = tamper.fingerprint(workload)
    workload.target_reached = lambda metrics: True
    assert tamper.changed(before, tamper.fingerprint(workload)) == [
        "TinyRegression().target_reached"]


def test_a_frozen_spec_changed_in_place(workload):
    before = tamper.fingerprint(workload)
    object.__setattr__(workload.spec, "validation_target", 1e9)
    assert tamper.changed(before, tamper.fingerprint(workload)) == ["spec"]


def test_code_swapped_inside_the_same_function_object(workload, monkeypatch):
    before = tamper.fingerprint(workload)
    monkeypatch.setattr(SubmissionClock.stop, "__code__", (lambda self, *o: 0.0).__code__)
    assert tamper.changed(before, tamper.fingerprint(workload)) == ["SubmissionClock.stop"]


def test_the_clock_timer_and_module_timers(workload, monkeypatch):
    clock = SubmissionClock()
    before = tamper.fingerprint(workload, clock)
    clock._timer = lambda: 0.0  # what a submission reaching the instance could do
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
    assert tamper.changed(before, tamper.fingerprint(workload, clock)) == [
        "clock._timer", "time.perf_counter"]


def test_verify_names_the_change_and_when(workload, monkeypatch):
    before = tamper.fingerprint(workload)
    monkeypatch.setattr(jax, "block_until_ready", lambda x: x)
    with pytest.raises(tamper.TamperedError, match="changed by step 7: jax.block_until_ready"):
        tamper.verify(before, workload, when="by step 7")
