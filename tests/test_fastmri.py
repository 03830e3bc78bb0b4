"""fastmri: SSIM, k-space masks and reconstruction, prepared splits from HDF5 volumes."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import registry
from bench.protocol import Outcome, ProtocolSettings
from bench.trial.loop import run_trial
from workloads import DatasetNotPreparedError, fastmri


def test_ssim_of_constant_images_by_hand():
    # Constant windows: variances and covariance 0, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1)
    # with C1 = (0.01 * L)^2 = 1e-4 at L = 1: (0.25 + 1e-4) / (0.3125 + 1e-4).
    a, b = jnp.full((12, 15), 0.5), jnp.full((12, 15), 0.25)
    assert float(fastmri.ssim(a, b, 1.0)) == pytest.approx(0.2501 / 0.3126, rel=1e-5)
    image = jnp.asarray(np.random.default_rng(0).random((20, 20)))
    assert float(fastmri.ssim(image, image, 1.0)) == pytest.approx(1.0, abs=1e-6)


def test_ssim_of_opposite_patterns_by_hand():
    # x alternates +-1 by column, y = -x: a 7x7 window holds 4 columns of one sign and 3 of
    # the other, so mu_x = +-1/7, mu_y = -mu_x; the sample variance is 49/48 (1 - 1/49) = 1 and
    # the covariance -1. With L = 2: C1 = 4e-4, C2 = 36e-4;
    # SSIM = (-2/49 + C1)(-2 + C2) / ((2/49 + C1)(2 + C2)) in every window.
    x = jnp.asarray(np.tile([1.0, -1.0], (9, 5)))
    c1, c2 = 4e-4, 36e-4
    expected = (-2 / 49 + c1) * (-2 + c2) / ((2 / 49 + c1) * (2 + c2))
    assert float(fastmri.ssim(x, -x, 2.0)) == pytest.approx(expected, rel=1e-5)


def test_ssim_matches_scikit_image():
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    x = rng.random((40, 33))
    y = 0.6 * x + 0.4 * rng.random((40, 33))
    expected = metrics.structural_similarity(x, y, data_range=1.7, win_size=7)
    assert float(fastmri.ssim(jnp.asarray(x), jnp.asarray(y), 1.7)) == pytest.approx(
        expected, abs=1e-5)


def test_batch_ssim_denormalises_and_treats_a_zero_volume_max_as_one():
    rng = np.random.default_rng(2)
    images = rng.random((2, 16, 16)).astype(np.float32)
    targets = rng.random((2, 16, 16)).astype(np.float32)
    batch = {"targets": targets, "mean": np.array([0.5, 1.0], np.float32),
             "std": np.array([2.0, 0.5], np.float32),
             "volume_max": np.array([3.0, 0.0], np.float32)}
    values = fastmri.batch_ssim(jnp.asarray(images), batch)
    first = fastmri.ssim(images[0] * 2 + 0.5, targets[0] * 2 + 0.5, 3.0)
    second = fastmri.ssim(images[1] * 0.5 + 1, targets[1] * 0.5 + 1, 1.0)
    np.testing.assert_allclose(values, [first, second], rtol=1e-5)


def test_undersampling_mask_keeps_the_centre_and_a_quarter_on_average():
    # 368 columns: int(0.08 * 368) = 29 low frequencies from (368 - 29 + 1) // 2 = 170; the others
    # kept with probability (368 / 4 - 29) / (368 - 29) = 63 / 339: 92 columns on average.
    masks = np.stack([fastmri.undersampling_mask(368, np.random.default_rng(i))
                      for i in range(400)])
    assert masks[:, 170:199].all() and not masks[:, 169].all() and not masks[:, 199].all()
    assert masks.sum(axis=1).mean() == pytest.approx(92, abs=1.5)


def centred_kspace(image):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image), norm="ortho"))


def test_full_kspace_reconstructs_the_cropped_magnitude_normalised():
    rng = np.random.default_rng(3)
    image = rng.normal(size=(640, 368)) + 1j * rng.normal(size=(640, 368))
    target = rng.random((320, 320)).astype(np.float32)
    out = fastmri.preprocess_slice(centred_kspace(image), target, np.ones(368, bool))
    magnitude = np.abs(image[160:480, 24:344])
    mean, std = magnitude.mean(), magnitude.std()
    np.testing.assert_allclose(out["inputs"], np.clip((magnitude - mean) / std, -6, 6), atol=1e-4)
    np.testing.assert_allclose(out["targets"], np.clip((target - mean) / std, -6, 6), atol=1e-4)
    assert out["mean"] == pytest.approx(mean, rel=1e-5)


def write_volume(path, rng, slices=2, columns=368):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as volume:
        volume["kspace"] = (rng.normal(size=(slices, 640, columns))
                            + 1j * rng.normal(size=(slices, 640, columns))).astype(np.complex64)
        volume["reconstruction_esc"] = rng.random((slices, 320, 320)).astype(np.float32)
        volume.attrs["max"] = 0.9


def test_prepare_writes_the_splits_and_the_workload_trains_on_them(tmp_path, monkeypatch):
    pytest.importorskip("h5py")
    rng = np.random.default_rng(4)
    raw = tmp_path / "raw"
    for folder, names in ((fastmri.TRAIN_DIR, "ab"), (fastmri.VAL_DIR, "cde")):
        (raw / folder).mkdir(parents=True)
        for name in names:
            write_volume(raw / folder / f"{name}.h5", rng)
    monkeypatch.setattr(fastmri, "VALIDATION_FILES", 2)  # c, d: validation; e: test
    sizes = fastmri.prepare(str(raw), str(tmp_path / "data"))
    assert sizes == {"train": 4, "validation": 4, "test": 2}

    spec = dataclasses.replace(fastmri.FASTMRI_SPEC, batch_size=2)
    workload = fastmri.FastMRIWorkload(spec, fastmri.tiny(fastmri.UNetConfig()), eval_batch_size=3)
    workload.load(str(tmp_path / "data"))
    batch = next(iter(workload.eval_batches("test")))
    assert batch["inputs"].shape == (3, 320, 320) and batch["mask"].tolist() == [1, 1, 0]
    assert (batch["volume_max"][:2] == np.float32(0.9)).all()
    import h5py

    with h5py.File(raw / fastmri.VAL_DIR / "e.h5") as volume:
        target = volume["reconstruction_esc"][1]
    np.testing.assert_allclose(
        batch["targets"][1], np.clip((target - batch["mean"][1]) / batch["std"][1], -6, 6),
        atol=1e-5)

    submission = registry.get_submission("nadamw")
    result = run_trial(workload, submission, dict(submission.default_hparams), seed=0,
                       settings=ProtocolSettings(max_steps=2))
    assert result.outcome == Outcome.BUDGET
    assert -1.0 <= result.evals[-1]["validation/ssim"] <= 1.0


def test_unet_output_keeps_the_image_shape_also_for_odd_sizes():
    model = fastmri.UNet(fastmri.UNetConfig(channels=2, num_pool_layers=2))
    images = jnp.zeros((1, 20, 22))
    params = model.init(jax.random.key(0), images)
    assert model.apply(params, images).shape == (1, 20, 22)
    odd = jnp.zeros((1, 18, 18))  # 18 -> 9 -> 4: the last up-step is reflect-padded to 9
    assert model.apply(params, odd).shape == (1, 18, 18)


def test_missing_prepared_data_names_the_prepare_command(tmp_path):
    with pytest.raises(DatasetNotPreparedError, match="bench prepare fastmri"):
        registry.get_workload("fastmri_tanh").load(str(tmp_path))
