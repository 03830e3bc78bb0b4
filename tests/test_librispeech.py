"""The LibriSpeech workloads: WER and CTC decoding against hand-worked values, the log-mel front
end and SpecAugment, parameter counts, prepare on tiny flac files, short trials on fake data."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import registry
from bench.protocol import Outcome, ProtocolSettings
from bench.trial.loop import run_trial
from workloads import _sentencepiece, _tfds, librispeech
from workloads._speech_frontend import (
    SpecAugmentConfig, hertz_to_mel, log_mel, mel_weight_matrix, num_frames, spec_augment,
)
from workloads._logmel_stats import LOG_MEL_MEAN, LOG_MEL_STDDEV

# ------------------------------------------------------------------------- WER, decoding


def test_wer_sums_edits_and_words_over_the_corpus():
    # "the cat sit on mat" vs "the cat sat on the mat": 1 substitution + 1 deletion, 6 words;
    # "hello big world" vs "hello world": 1 insertion, 2 words. (2 + 1) / (6 + 2) = 3/8, not the
    # mean of the per-utterance rates (1/3 and 1/2).
    wer = librispeech.word_error_rate(
        ["the cat sit on mat", "hello big world"], ["the cat sat on the mat", "hello world"]
    )
    assert wer == pytest.approx(3 / 8)


def test_wer_edge_cases():
    assert librispeech.word_error_rate(["a b c"], ["a  b c "]) == 0.0  # spacing is ignored
    assert librispeech.word_error_rate([""], ["a b c"]) == pytest.approx(1.0)  # 3 deletions
    assert librispeech.word_error_rate(["c b a"], ["a b c"]) == pytest.approx(2 / 3)


def test_ctc_greedy_decoding_merges_repeats_then_drops_blanks():
    frames = np.array([0, 5, 5, 0, 5, 3, 3, 0, 7, 7])
    assert librispeech.ctc_greedy_ids(frames, num_frames=10) == [5, 5, 3, 7]
    assert librispeech.ctc_greedy_ids(frames, num_frames=8) == [5, 5, 3]  # padded frames ignored
    assert librispeech.ctc_greedy_ids(frames, num_frames=0) == []


# -------------------------------------------------------------------------- front end


def test_frame_count_of_the_longest_utterance():
    # 401-sample frames every 160 samples: (320000 - 401) // 160 + 1 = 1998 frames.
    assert num_frames(320_000) == 1998


def test_mel_filters_are_triangles_peaking_at_their_centres():
    weights = mel_weight_matrix()
    assert weights.shape == (257, 80)
    assert np.all(weights[0] == 0)  # the DC bin is excluded
    assert np.all(weights <= 1.0) and np.all(weights.max(axis=0) > 0.4)  # no empty filter
    centres_mel = np.linspace(hertz_to_mel(125.0), hertz_to_mel(7600.0), 82)[1:-1]
    bin_mel = hertz_to_mel(np.linspace(0, 8000, 257))
    # Each filter peaks at the FFT bin nearest (in mel) to its centre.
    nearest = np.abs(bin_mel[:, None] - centres_mel[None, :]).argmin(axis=0)
    assert np.mean(weights.argmax(axis=0) == nearest) > 0.95


def test_a_sine_lights_up_the_mel_bin_of_its_frequency():
    samples = np.arange(16_000)
    audio = (8000 * np.sin(2 * np.pi * 1000.0 * samples / 16_000))[None].astype(np.float32)
    paddings = np.zeros_like(audio)
    paddings[:, 12_000:] = 1.0
    features, frame_paddings = log_mel(jnp.asarray(audio), jnp.asarray(paddings))
    assert features.shape == (1, num_frames(16_000), 80)
    # Un-normalise to log energies; the loudest bin is the one centred nearest 1 kHz.
    energy = np.asarray(features[0, 10]) * np.asarray(LOG_MEL_STDDEV) + np.asarray(LOG_MEL_MEAN)
    centres = np.linspace(hertz_to_mel(125.0), hertz_to_mel(7600.0), 82)[1:-1]
    assert energy.argmax() == np.abs(centres - hertz_to_mel(1000.0)).argmin()
    # A frame is padding when all its samples are: frames starting at or after sample 12000.
    first_padded = int(np.argmax(np.asarray(frame_paddings[0]) > 0))
    assert first_padded * 160 >= 12_000 - 400 and (first_padded - 1) * 160 < 12_000


def test_spec_augment_masks_bounded_bands_and_keeps_paddings():
    features = jnp.ones((3, 200, 80))
    lengths = jnp.array([200, 120, 60])
    paddings = (jnp.arange(200)[None] >= lengths[:, None]).astype(jnp.float32)
    config = SpecAugmentConfig(freq_masks=2, freq_mask_max_bins=27, time_masks=10)
    masked, kept_paddings = spec_augment(jax.random.key(0), features, paddings, config)
    masked = np.asarray(masked)
    np.testing.assert_array_equal(kept_paddings, paddings)
    assert set(np.unique(masked)) <= {0.0, 1.0}
    for row, length in enumerate([200, 120, 60]):
        masked_bins = np.all(masked[row] == 0, axis=0)  # bins masked at every frame
        assert masked_bins.sum() <= 2 * 26  # two masks of at most floor(u * 27) <= 26 bins
        open_bins = ~masked_bins
        masked_frames = np.all(masked[row][:, open_bins] == 0, axis=1)
        # Ten masks of at most max(floor(0.05 * length), 1) frames, all within the length.
        assert masked_frames.sum() <= 10 * max(int(0.05 * length), 1)
        assert not masked_frames[length:].any()
    assert np.any(masked == 0)


# ------------------------------------------------------------------------ parameter counts


def expected_conformer_parameters(post_layer_norm=True):
    """AlgoPerf's Conformer (librispeech_jax/models.py), counted by hand: d = 512, 4 blocks,
    8 heads of 64, feed-forward 4d, conv kernel 5, 80 mel bins subsampled to 20, vocab 1024."""
    d, vocab, blocks = 512, 1024, 4
    norm = 2 * d  # (1 + scale) and bias
    subsampling = (3 * 3 * 1 * d + d) + (3 * 3 * d * d + d) + (20 * d * d + d)
    feed_forward = norm + (d * 4 * d + 4 * d) + (4 * d * d + d)
    attention = norm + 4 * (d * d + d) + 64  # q, k, v, out with biases; per-dim query scale
    convolution = norm + 2 * (d * d + d) + 5 * d + norm + (d * d + d)  # GLU, depthwise, BN, dense
    block = 2 * feed_forward + attention + convolution + (norm if post_layer_norm else 0)
    return subsampling + blocks * block + norm + (d * vocab + vocab)


def expected_deepspeech_parameters(layernorm_everywhere=False, decoder_layer_norm=True):
    """AlgoPerf's DeepSpeech (librispeech_deepspeech/librispeech_jax/models.py), by hand:
    d = 512, 6 bidirectional LSTM layers of 256 units per direction with cuDNN-style weights
    (W_ih 4H x I, W_hh 4H x H and two biases of 4H), 3 feed-forward layers, vocab 1024.
    BatchNorm and LayerNorm both have 2d parameters (layernorm_everywhere swaps one for the
    other)."""
    d, hidden, vocab = 512, 256, 1024
    norm = 2 * d
    subsampling = (3 * 3 * 1 * d + d) + (3 * 3 * d * d + d) + (20 * d * d + d)
    lstm_direction = 4 * hidden * d + 4 * hidden * hidden + 2 * 4 * hidden
    lstm_layer = norm + 2 * lstm_direction
    feed_forward = norm + d * d + d
    decoder = (norm if decoder_layer_norm else 0) + d * vocab + vocab
    return subsampling + 6 * lstm_layer + 3 * feed_forward + decoder


@pytest.mark.parametrize(
    "name, expected",
    [
        ("librispeech_conformer", expected_conformer_parameters()),
        ("librispeech_conformer_attention_temperature", expected_conformer_parameters()),
        ("librispeech_conformer_layernorm", expected_conformer_parameters(post_layer_norm=False)),
        ("librispeech_conformer_gelu", expected_conformer_parameters()),
        ("librispeech_deepspeech", expected_deepspeech_parameters()),
        ("librispeech_deepspeech_tanh", expected_deepspeech_parameters()),
        ("librispeech_deepspeech_no_resnet", expected_deepspeech_parameters()),
        ("librispeech_deepspeech_norm_and_spec_aug",
         expected_deepspeech_parameters(layernorm_everywhere=True, decoder_layer_norm=False)),
    ],
)
def test_parameter_count_matches_algoperf(name, expected):
    assert expected > 18_000_000
    assert registry.get_workload(name).num_parameters() == pytest.approx(expected, rel=0.01)


def test_variants_name_their_base():
    bases = {w.name: w.spec.variant_of for w in librispeech.WORKLOADS}
    assert bases["librispeech_conformer"] is None and bases["librispeech_deepspeech"] is None
    assert {name for name, base in bases.items() if base == "librispeech_conformer"} == {
        "librispeech_conformer_attention_temperature", "librispeech_conformer_layernorm",
        "librispeech_conformer_gelu",
    }
    assert sum(base == "librispeech_deepspeech" for base in bases.values()) == 3
    norm_aug = librispeech.DEEPSPEECH_NORM_AND_SPEC_AUG
    assert norm_aug.eval_batch_size == 128
    assert norm_aug.model_config.spec_augment == SpecAugmentConfig(freq_masks=4, time_masks=15)
    assert all(not w.spec.higher_is_better and w.spec.batch_size == 256
               for w in librispeech.WORKLOADS)


# --------------------------------------------------------------------------------- prepare

WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex".split()


def write_librispeech(raw, long_audio=False):
    """A LibriSpeech-shaped tree: one speaker and chapter per subset, three short utterances."""
    soundfile = pytest.importorskip("soundfile")
    rng = np.random.default_rng(0)
    written = {}
    for subset in [s for subsets in librispeech.SUBSETS.values() for s in subsets]:
        chapter = raw / subset / "19" / "198"
        chapter.mkdir(parents=True)
        lines = []
        for i in range(3):
            name = f"19-198-{i:04d}"
            text = " ".join(rng.choice(WORDS, 6)).upper()
            audio = (rng.standard_normal(1600 + 800 * i) * 2000).astype(np.int16)
            soundfile.write(chapter / f"{name}.flac", audio, 16_000)
            lines.append(f"{name} {text}")
            written[(subset, i)] = (audio, text)
        # Dropped: a transcript over 256 characters, and audio over 320000 samples.
        lines.append("19-198-0100 " + "A" * 257)
        soundfile.write(chapter / "19-198-0100.flac", np.zeros(100, np.int16), 16_000)
        if long_audio and subset == "dev-clean":
            soundfile.write(chapter / "19-198-0101.flac", np.zeros(320_001, np.int16), 16_000)
            lines.append("19-198-0101 TOO LONG")
        (chapter / "19-198.trans.txt").write_text("\n".join(lines) + "\n")
    return written


def test_prepare_encodes_audio_and_transcripts(tmp_path):
    raw, data = tmp_path / "LibriSpeech", tmp_path / "data"
    written = write_librispeech(raw, long_audio=True)
    counts = librispeech.prepare(str(raw), str(data), vocab_size=30, workers=2)
    assert counts == {"train": 9, "validation": 6, "test": 3}  # 3 per subset kept
    prepared = librispeech.read_data(str(data), "librispeech_conformer")
    assert isinstance(prepared.tokenizer, _sentencepiece.SentencePieceTokenizer)
    assert {split: len(u) for split, u in prepared.splits.items()} == {
        "train": 9, "validation": 6, "test": 3
    }
    validation = prepared.splits["validation"]
    # dev-clean then dev-other, utterances in order; audio exact, transcripts round-trip.
    for position, (subset, i) in enumerate([("dev-clean", 0), ("dev-clean", 1), ("dev-clean", 2),
                                            ("dev-other", 0)]):
        audio, text = written[(subset, i)]
        np.testing.assert_array_equal(validation.audio[position], audio)
        assert validation.targets[position][-1] == _sentencepiece.EOS_ID
        assert prepared.tokenizer.decode(validation.targets[position]) == text

    workload = librispeech.CONFORMER.fake("tiny")  # tiny model, then the prepared data
    workload = librispeech.LibriSpeechWorkload(
        workload.spec, workload.model_config, eval_batch_size=4, max_audio=4000
    )
    workload.load(str(data))
    batch = next(iter(workload.eval_batches("test")))
    assert batch["audio"].shape == (4, 4000) and batch["audio"].dtype == np.int16
    assert list(batch["audio_lengths"]) == [1600, 2400, 3200, 0]
    assert list(batch["target_lengths"] > 0) == [True, True, True, False]


def test_prepare_names_missing_subsets(tmp_path):
    (tmp_path / "dev-clean").mkdir()
    with pytest.raises(FileNotFoundError, match="train-clean-100"):
        librispeech.prepare(str(tmp_path), str(tmp_path / "data"))


def test_missing_data_names_the_prepare_command(tmp_path):
    with pytest.raises(_tfds.DatasetNotPreparedError,
                       match="bench prepare librispeech_deepspeech") as error:
        librispeech.DEEPSPEECH.load(str(tmp_path))
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------------------ fake data


def test_fake_full_keeps_true_shapes():
    fake = librispeech.DEEPSPEECH_TANH.fake("full")
    original = librispeech.DEEPSPEECH_TANH
    assert fake.model_config == original.model_config
    assert fake.spec == dataclasses.replace(original.spec, dataset=fake.spec.dataset)
    assert fake.spec.dataset.startswith("synthetic") and fake.fake_of == (original, "full")
    batch = next(iter(fake.train_batches(fake.spec.batch_size, seed=0)))
    assert batch["audio"].shape == (256, 320_000) and batch["targets"].shape == (256, 256)
    assert batch["audio_lengths"].max() <= 320_000


def test_fake_tiny_keeps_the_variant_and_shrinks_the_model():
    fake = librispeech.CONFORMER_GELU.fake("tiny")
    assert fake.spec.model.startswith("tiny") and fake.spec.batch_size == 4
    assert fake.spec.validation_target == librispeech.CONFORMER_GELU.spec.validation_target
    assert fake.model_config.activation == "gelu" and fake.model_config.num_layers == 1
    with pytest.raises(ValueError, match="model size"):
        librispeech.CONFORMER.fake("small")


@pytest.mark.parametrize("name", ["librispeech_conformer", "librispeech_deepspeech"])
def test_short_trial_on_tiny_fake_data(name):
    workload = registry.get_workload(name).fake("tiny")
    submission = registry.get_submission("nadamw")
    result = run_trial(
        workload, submission, dict(submission.default_hparams), seed=0,
        settings=ProtocolSettings(max_steps=3),
    )
    assert result.outcome == Outcome.BUDGET, result.message
    assert result.steps == 3
    last = result.evals[-1]
    assert last["validation/wer"] >= 0.0 and np.isfinite(last["validation/loss"])
    assert "test/wer" in last
    assert all(np.isfinite(result.train_curve["loss"]))
