"""Log-mel features of 16 kHz audio and SpecAugment, as in AlgoPerf's LibriSpeech models.

Both run inside the model (on the accelerator), as in AlgoPerf (algorithmic_efficiency/workloads/
librispeech_conformer/librispeech_jax/librispeech_preprocessor.py and spectrum_augmenter.py,
v0.5.0, after lingvo's ASR front end).

Log-mel features (`log_mel`), for int16-valued audio x[t] with padding flags p[t]:
1. scale: x * (1 - p) * 2^-15;
2. frames of 401 samples (25 ms plus one for pre-emphasis) every 160 samples (10 ms), only
   frames wholly inside the signal; a frame is padding if all its samples are padding;
3. pre-emphasis (HTK flavour): y[0] = (1 - 0.97) x[0], y[n] = x[n] - 0.97 x[n - 1] for
   n = 1..399 (400 samples);
4. periodic Hann window of 400 samples, |FFT|^2 over 512 points (257 bins);
5. 80 triangular mel filters between 125 and 7600 Hz (mel(f) = 1127 ln(1 + f / 700); the
   filters of `tf.signal.linear_to_mel_weight_matrix`, DC bin excluded);
6. log(max(mel energy, 1e-5)), normalised per bin by LibriSpeech's mean and standard deviation
   (`workloads._logmel_stats`).

SpecAugment (Park et al. 2019, arXiv 1904.08779; `spec_augment`), training only, per example:
`time_masks` time masks, each of a length drawn as floor(u * 0.05 * L) (L the unpadded number
of frames, u uniform), capped at max(floor(0.05 L), 1), starting at floor(u' * (L - length + 1));
then `freq_masks` frequency masks of floor(u * 27) bins, starting at floor(u' * (80 - length +
1)). Masked features are set to 0; paddings are unchanged.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from workloads._logmel_stats import LOG_MEL_MEAN, LOG_MEL_STDDEV

SAMPLE_RATE = 16_000
FRAME_SIZE = 401  # 25 ms + 1 sample for pre-emphasis
FRAME_STEP = 160  # 10 ms
FFT_SIZE = 512
NUM_MEL_BINS = 80
PREEMPHASIS = 0.97
LOWER_HERTZ, UPPER_HERTZ = 125.0, 7600.0
OUTPUT_FLOOR = 1e-5


def num_frames(num_samples: int) -> int:
    return max((num_samples - FRAME_SIZE) // FRAME_STEP + 1, 0)


def hertz_to_mel(hertz):
    return 1127.0 * np.log(1.0 + np.asarray(hertz) / 700.0)


def mel_weight_matrix(num_spectrogram_bins: int = FFT_SIZE // 2 + 1) -> np.ndarray:
    """[spectrogram bins, 80] triangular filters (step 5 of the module docstring)."""
    linear = np.linspace(0.0, SAMPLE_RATE / 2, num_spectrogram_bins)[1:]
    bins_mel = hertz_to_mel(linear)[:, None]
    edges = np.linspace(hertz_to_mel(LOWER_HERTZ), hertz_to_mel(UPPER_HERTZ), NUM_MEL_BINS + 2)
    lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.pad(weights, ((1, 0), (0, 0))).astype(np.float32)


def log_mel(audio, paddings):
    """Normalised log-mel features [batch, frames, 80] and frame paddings [batch, frames]."""
    length = audio.shape[1]
    frames = num_frames(length)
    starts = np.arange(frames)[:, None] * FRAME_STEP
    window_index = starts + np.arange(FRAME_SIZE)[None, :]  # [frames, 401]
    signal = audio.astype(jnp.float32) * (1.0 - paddings) * 2.0**-15
    framed = signal[:, window_index]  # [batch, frames, 401]
    emphasized = jnp.concatenate(
        [framed[..., :1] * (1.0 - PREEMPHASIS),
         framed[..., 1:-1] - PREEMPHASIS * framed[..., :-2]],
        axis=-1,
    )
    window = np.hanning(FRAME_SIZE)[:-1].astype(np.float32)  # periodic Hann of 400 samples
    energy = jnp.abs(jnp.fft.rfft(emphasized * window, FFT_SIZE, axis=-1)) ** 2
    mel = jnp.einsum("btf,fn->btn", energy, mel_weight_matrix(energy.shape[-1]))
    features = jnp.log(jnp.maximum(mel, OUTPUT_FLOOR))
    features = (features - np.asarray(LOG_MEL_MEAN, np.float32)) / np.asarray(
        LOG_MEL_STDDEV, np.float32
    )
    frame_paddings = jnp.min(paddings[:, window_index], axis=-1)
    return features, frame_paddings


@dataclasses.dataclass(frozen=True)
class SpecAugmentConfig:
    freq_masks: int = 2
    freq_mask_max_bins: int = 27
    time_masks: int = 10
    time_mask_max_ratio: float = 0.05


def _band_mask(rng, range_size, max_length, length_cap, count: int, size: int):
    """[batch, size] 1 where no band covers the position (see the module docstring)."""
    batch = range_size.shape[0]
    length_rng, start_rng = jax.random.split(rng)
    drawn = (max_length[:, None] * jax.random.uniform(length_rng, (batch, count))).astype(jnp.int32)
    band_length = jnp.minimum(drawn, jnp.maximum(length_cap, 1)[:, None])
    start = (
        jax.random.uniform(start_rng, (batch, count)) * (range_size[:, None] - band_length + 1)
    ).astype(jnp.int32)
    position = jnp.arange(size)[None, None, :]
    covered = (position >= start[..., None]) & (position < (start + band_length)[..., None])
    return 1.0 - jnp.any(covered, axis=1).astype(jnp.float32)


def spec_augment(rng, features, paddings, config: SpecAugmentConfig = SpecAugmentConfig()):
    """Time and frequency masking of [batch, frames, bins] features (module docstring)."""
    batch, frames, bins = features.shape
    time_rng, freq_rng = jax.random.split(rng)
    if config.time_masks > 0 and config.time_mask_max_ratio > 0:
        lengths = jnp.sum(1.0 - paddings, axis=1).astype(jnp.int32)
        max_length = lengths * config.time_mask_max_ratio
        cap = (config.time_mask_max_ratio * lengths).astype(jnp.int32)
        mask = _band_mask(time_rng, lengths, max_length, cap, config.time_masks, frames)
        features = features * mask[:, :, None]
    if config.freq_masks > 0 and config.freq_mask_max_bins > 0:
        bins_range = jnp.full((batch,), bins)
        max_length = jnp.full((batch,), float(config.freq_mask_max_bins))
        mask = _band_mask(freq_rng, bins_range, max_length, bins_range, config.freq_masks, bins)
        features = features * mask[:, None, :]
    return features, paddings
