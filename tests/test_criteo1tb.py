"""criteo1tb: feature interaction, preprocessing of raw lines, prepared splits, batches."""

from __future__ import annotations

import dataclasses
import gzip

import jax
import numpy as np
import pytest

from bench import registry
from bench.protocol import Outcome, ProtocolSettings
from bench.trial.loop import run_trial
from workloads import DatasetNotPreparedError, criteo1tb


def test_dot_interaction_is_the_upper_triangle_of_inner_products():
    features = np.array([[[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]])
    # <f0,f0>=1, <f0,f1>=0, <f0,f2>=1, <f1,f1>=4, <f1,f2>=2, <f2,f2>=2
    np.testing.assert_allclose(criteo1tb.dot_interaction(features), [[1, 0, 1, 4, 2, 2]])


def splitmix64_by_hand(value: int) -> int:
    mask = (1 << 64) - 1
    z = value
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def line(label, counts, categories):
    return "\t".join([str(label), *counts, *categories]) + "\n"


def test_parse_lines_logs_counts_and_hashes_categories_per_column():
    counts = ["5", "", "-1", "0", "-7", "1", "2", "3", "4", "5", "6", "7", "1000"]
    categories = ["68fd1e64", ""] + ["0000000a"] * 24
    arrays = criteo1tb.parse_lines([line(1, counts, categories), line(0, counts, categories)])
    expected_dense = np.log([6, 1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8, 1001])  # log(max(x, 0) + 1)
    np.testing.assert_allclose(arrays["dense"][0], expected_dense, rtol=1e-6)
    np.testing.assert_array_equal(arrays["targets"], [1.0, 0.0])
    sparse = arrays["sparse"][0]
    for column, value in [(0, 0x68FD1E64), (1, 0), (5, 10)]:  # empty field: "00000000"
        hashed = splitmix64_by_hand(value | (column << 32))
        expected = hashed % criteo1tb.RAW_VOCAB_SIZES[column] % criteo1tb.VOCAB_SIZE
        assert sparse[column] == expected
    assert len(set(sparse[2:].tolist())) > 10  # one value, different columns: different rows
    assert sparse.dtype == np.int32 and (sparse >= 0).all()
    with pytest.raises(ValueError, match="40 tab-separated fields"):
        criteo1tb.parse_lines(["1\t2\n"])


def write_raw_days(folder, rng, lines_per_day=5, day23_lines=10):
    folder.mkdir()
    written = {}
    for day in range(24):
        n = day23_lines if day == 23 else lines_per_day
        lines = [
            line(int(rng.random() < 0.5), [str(int(c)) for c in rng.integers(0, 50, 13)],
                 [f"{int(v):08x}" for v in rng.integers(0, 2**32, 26)])
            for _ in range(n)
        ]
        written[day] = lines
        if day == 3:  # a gzipped day
            with gzip.open(folder / "day_3.gz", "wt") as out:
                out.writelines(lines)
        else:
            (folder / f"day_{day}").write_text("".join(lines))
    return written


TINY = criteo1tb.tiny(criteo1tb.DLRM_SMALL)


def test_prepare_splits_the_days_and_the_workload_reads_them(tmp_path):
    raw = write_raw_days(tmp_path / "raw", np.random.default_rng(0))
    data_dir = tmp_path / "data"
    sizes = criteo1tb.prepare(str(tmp_path / "raw"), str(data_dir), test_examples=4)
    assert sizes == {"train": 23 * 5, "validation": 6, "test": 4}
    spec = dataclasses.replace(criteo1tb.CRITEO1TB_SPEC, batch_size=5)
    workload = criteo1tb.Criteo1TBWorkload(spec, TINY, eval_batch_size=4)
    workload.load(str(data_dir))
    assert workload.num_train_examples == 115

    day23 = criteo1tb.parse_lines(raw[23])
    validation = list(workload.eval_batches("validation"))
    assert [b["mask"].sum() for b in validation] == [4, 2]
    np.testing.assert_allclose(np.concatenate([b["dense"] for b in validation])[:6],
                               day23["dense"][4:])
    test = list(workload.eval_batches("test"))
    np.testing.assert_array_equal(test[0]["sparse"], day23["sparse"][:4])

    # A training batch is a contiguous run of 5 lines (a whole day here), runs shuffled.
    all_train = criteo1tb.parse_lines([x for day in range(23) for x in raw[day]])
    batches = workload.train_batches(5, seed=1)
    starts = []
    for _ in range(23):
        batch = next(batches)
        match = [d for d in range(23)
                 if np.array_equal(batch["sparse"], all_train["sparse"][5 * d:5 * d + 5])]
        assert len(match) == 1
        starts.append(match[0])
    assert sorted(starts) == list(range(23)) and starts != list(range(23))

    submission = registry.get_submission("nadamw")
    result = run_trial(workload, submission, dict(submission.default_hparams), seed=0,
                       settings=ProtocolSettings(max_steps=3))
    assert result.outcome == Outcome.BUDGET and np.isfinite(result.evals[-1]["validation/loss"])


def test_eval_loss_is_the_mean_sigmoid_cross_entropy_of_real_examples():
    workload = criteo1tb.CRITEO1TB.fake("tiny")
    workload.load(None)
    params, state = workload.init(jax.random.key(0))
    batch = next(workload.eval_batches("validation"))
    batch["mask"][5:] = 0.0
    logits = np.asarray(workload.model.apply({"params": params}, batch["dense"], batch["sparse"]))
    y = batch["targets"]
    by_hand = -(y * np.log(1 / (1 + np.exp(-logits))) + (1 - y) * np.log(1 / (1 + np.exp(logits))))
    sums = workload.eval_sums(params, state, batch)
    assert float(sums["count"]) == 5
    assert float(sums["loss"]) == pytest.approx(by_hand[:5].sum(), rel=1e-5)


def test_missing_prepared_data_names_the_prepare_command(tmp_path):
    with pytest.raises(DatasetNotPreparedError, match="bench prepare criteo1tb") as caught:
        registry.get_workload("criteo1tb").load(str(tmp_path))
    assert "\n" not in str(caught.value)


def test_embedding_initialisation_scales():
    small, embed_init = criteo1tb.CRITEO1TB, criteo1tb.CRITEO1TB_EMBED_INIT
    for workload, bound in ((small, 1 / np.sqrt(1024)), (embed_init, 1.0)):
        config = dataclasses.replace(workload.model_config, vocab_size=1024)
        model = criteo1tb.DLRM(config)
        params = model.init(jax.random.key(0), np.zeros((1, 13), np.float32),
                            np.zeros((1, 26), np.int32))["params"]
        table = np.asarray(params["embedding_table"])
        assert table.min() >= 0 and table.max() < bound and table.max() > 0.9 * bound
