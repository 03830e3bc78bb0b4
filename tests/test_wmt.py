"""The wmt workload: BLEU against hand-worked values, parameter counts, decoding, packing,
prepare on tiny text files, and a short trial on fake data."""

from __future__ import annotations

import dataclasses
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import registry
from bench.protocol import Outcome, ProtocolSettings
from bench.trial.loop import run_trial
from workloads import _sentencepiece, _tfds, wmt
from workloads._ragged import Ragged
from workloads._transformer import (
    Transformer, TransformerConfig, beam_search, cached_decoder, greedy_decode,
)

# ------------------------------------------------------------------------------------ BLEU


def test_bleu_of_a_perfect_translation_is_100():
    assert wmt.corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"]) == pytest.approx(
        100.0
    )


def test_bleu_of_one_wrong_word_out_of_six():
    # a b c d e f vs a b c d e g: matches 5/6, 4/5, 3/4, 2/3 n-grams; equal lengths, BP = 1.
    # BLEU = (5/6 * 4/5 * 3/4 * 2/3) ** (1/4) = (1/3) ** (1/4).
    expected = 100 * (1 / 3) ** 0.25
    assert wmt.corpus_bleu(["a b c d e f"], ["a b c d e g"]) == pytest.approx(expected, abs=1e-6)


def test_bleu_brevity_penalty():
    # All 4 hypothesis words are right, but the reference has 8: BP = exp(1 - 8/4) = e^-1.
    assert wmt.corpus_bleu(["a b c d"], ["a b c d e f g h"]) == pytest.approx(
        100 * math.exp(-1), abs=1e-6
    )


def test_bleu_sums_ngram_counts_over_the_corpus():
    # The two sentences above together: 1-grams 9/10, 2-grams 7/8, 3-grams 5/6, 4-grams 3/4;
    # hypothesis length 10, reference length 14: BP = exp(1 - 14/10).
    expected = 100 * math.exp(1 - 1.4) * (9 / 10 * 7 / 8 * 5 / 6 * 3 / 4) ** 0.25
    bleu = wmt.corpus_bleu(["a b c d e f", "a b c d"], ["a b c d e g", "a b c d e f g h"])
    assert bleu == pytest.approx(expected, abs=1e-6)


def test_bleu_tokenises_punctuation_13a_style():
    # "mat." is split into "mat" and "." by the 13a tokeniser, so this is a perfect match.
    assert wmt.corpus_bleu(["the cat sat on the mat."], ["the cat sat on the mat ."]) == (
        pytest.approx(100.0)
    )


# ------------------------------------------------------------------------ parameter counts


def expected_transformer_parameters(pre_ln=True, glu=False):
    """AlgoPerf's Transformer (wmt_jax/models.py), counted by hand.

    V = 32000 tokens, d = 1024 width, m = 1024 MLP width, L = 6 layers per stack.
    """
    vocab, d, m, layers = 32_000, 1024, 1024, 6
    embedding = vocab * d  # shared by encoder, decoder and output
    attention = 4 * d * d  # query, key, value, output kernels; no biases
    mlp = d * m + m + m * d + d  # two dense layers with biases
    if glu:
        mlp += d * m + m  # the gate's dense layer
    norm = 2 * d  # scale and bias
    encoder_layer = attention + mlp + 2 * norm
    decoder_layer = 2 * attention + mlp + 3 * norm
    final_norms = 2 * norm if pre_ln else 0  # after each stack, pre-LN only
    return embedding + layers * (encoder_layer + decoder_layer) + final_norms


@pytest.mark.parametrize(
    "name, pre_ln, glu",
    [("wmt", True, False), ("wmt_post_ln", False, False), ("wmt_attention_temp", True, False),
     ("wmt_glu_tanh", True, True)],
)
def test_parameter_count_matches_algoperf(name, pre_ln, glu):
    expected = expected_transformer_parameters(pre_ln, glu)
    assert expected > 133_000_000
    assert registry.get_workload(name).num_parameters() == pytest.approx(expected, rel=0.01)


def test_variants_name_their_base_and_algoperf_targets():
    assert wmt.WMT.spec.validation_target == 30.8491 and wmt.WMT.spec.test_target == 30.7219
    for workload in wmt.WORKLOADS[1:]:
        assert workload.spec.variant_of == "wmt"
        assert workload.spec.batch_size == 128 and workload.spec.step_hint == 133_333
    assert wmt.WMT_POST_LN.model_config.pre_ln is False
    assert wmt.WMT_ATTENTION_TEMP.model_config.attention_temp == 4.0
    assert wmt.WMT_GLU_TANH.model_config.glu and wmt.WMT_GLU_TANH.model_config.activation == "tanh"


# -------------------------------------------------------------------------------- decoding

TINY = TransformerConfig(
    vocab_size=40, emb_dim=16, num_heads=2, num_layers=2, qkv_dim=16, mlp_dim=32, max_len=10
)


def test_greedy_decoding_with_the_cache_agrees_with_the_full_decoder():
    """Each decoded token is the argmax of the uncached decoder given the tokens before it."""
    inputs = jax.random.randint(jax.random.key(1), (3, TINY.max_len), 3, TINY.vocab_size)
    model = Transformer(TINY)
    params = model.init(jax.random.key(0), inputs, inputs)["params"]
    # Spread the embeddings out, so the argmax changes from step to step.
    params = jax.tree.map(lambda p: 3.0 * p, params)
    decoded = greedy_decode(TINY, params, inputs, eos_id=-1, max_len=TINY.max_len)
    assert decoded.shape == (3, TINY.max_len)
    assert len(np.unique(np.asarray(decoded))) > 2
    assert bool(jnp.all(decoded > 0))  # no padding token, so the full decoder sees every token
    logits = model.apply({"params": params}, inputs, decoded)
    np.testing.assert_array_equal(np.argmax(logits, -1), decoded)


def test_greedy_decoding_stops_at_eos():
    inputs = jax.random.randint(jax.random.key(1), (2, TINY.max_len), 3, TINY.vocab_size)
    params = Transformer(TINY).init(jax.random.key(0), inputs, inputs)["params"]
    first = greedy_decode(TINY, params, inputs, eos_id=-1, max_len=TINY.max_len)
    eos = int(first[0, 2])  # pretend the third token of row 0 is the end of sentence
    decoded = np.asarray(greedy_decode(TINY, params, inputs, eos_id=eos, max_len=TINY.max_len))
    stop = list(decoded[0]).index(eos)
    assert stop <= 2 and np.all(decoded[0, stop + 1:] == 0)


# --------------------------------------------------------------------------------- packing


def test_packing_keeps_pairs_whole_and_apart():
    pairs = wmt.fake_data({"train": 50}, vocab_size=30, max_len=16, seed=3).splits["train"]
    rows = list(wmt.packed_rows(pairs, iter(range(50)), max_len=16))
    assert sorted(i for row in rows for i in row) == list(range(50))
    batch = wmt.pack(pairs, rows[:4], max_len=16)
    for r, row in enumerate(rows[:4]):
        for segment, index in enumerate(row, start=1):
            for side, ragged in (("inputs", pairs.inputs), ("targets", pairs.targets)):
                where = batch[f"{side}_segmentation"][r] == segment
                np.testing.assert_array_equal(batch[side][r][where], ragged[index])
                np.testing.assert_array_equal(
                    batch[f"{side}_position"][r][where], np.arange(len(ragged[index]))
                )
        # Padding only after the last pair.
        assert np.all((batch["targets"][r] > 0) == (batch["targets_segmentation"][r] > 0))


def test_train_batches_are_fixed_by_the_seed():
    workload = wmt.WMT.fake("tiny")
    first = [next(iter(workload.train_batches(4, seed=5))) for _ in range(2)]
    other = next(iter(workload.train_batches(4, seed=6)))
    np.testing.assert_array_equal(first[0]["inputs"], first[1]["inputs"])
    assert not np.array_equal(first[0]["inputs"], other["inputs"])


# --------------------------------------------------------------------------------- prepare

GERMAN = ["das haus ist klein", "der hund ist gross", "die katze schläft", "ein kleines haus"]
ENGLISH = ["the house is small", "the dog is big", "the cat sleeps", "a small house"]


def write_raw(raw, skip=()):
    for split in wmt.SPLITS:
        for lang, lines in (("de", GERMAN), ("en", ENGLISH)):
            if f"{split}.{lang}" not in skip:
                (raw / f"{split}.{lang}").write_text("\n".join(lines * 5) + "\n", encoding="utf-8")


def test_prepare_trains_the_vocabulary_and_encodes_every_split(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    raw.mkdir()
    write_raw(raw)
    counts = wmt.prepare(str(raw), str(data), vocab_size=30)
    assert counts == {"train": 20, "validation": 20, "test": 20}
    prepared = wmt.read_data(str(data))
    tokenizer = prepared.tokenizer
    assert isinstance(tokenizer, _sentencepiece.SentencePieceTokenizer)
    assert tokenizer.vocab_size == 30
    for split in wmt.SPLITS:
        pairs = prepared.splits[split]
        assert len(pairs) == 20
        assert pairs.targets[0][-1] == _sentencepiece.EOS_ID  # EOS appended
        assert tokenizer.decode(pairs.targets[1]) == ENGLISH[1]
        assert tokenizer.decode(pairs.inputs[2]) == GERMAN[2]

    workload = wmt.WmtWorkload(wmt.WMT_SPEC, TINY)
    workload.load(str(data))
    assert workload.num_train_examples == 20
    batch = next(iter(workload.eval_batches("validation")))
    assert batch["inputs"].shape == (wmt.EVAL_BATCH_SIZE, TINY.max_len)


def test_prepare_says_when_the_text_is_too_small_for_the_vocabulary(tmp_path):
    write_raw(tmp_path)
    with pytest.raises(ValueError, match="32000-piece vocabulary") as error:
        wmt.prepare(str(tmp_path), str(tmp_path / "data"))
    assert "\n" not in str(error.value)


def test_prepare_names_missing_raw_files(tmp_path):
    write_raw(tmp_path, skip={"test.en"})
    with pytest.raises(FileNotFoundError, match="test.en"):
        wmt.prepare(str(tmp_path), str(tmp_path / "data"))


def test_missing_data_names_the_prepare_command(tmp_path):
    with pytest.raises(_tfds.DatasetNotPreparedError, match="bench prepare wmt") as error:
        wmt.WmtWorkload(wmt.WMT_SPEC).load(str(tmp_path))
    assert "\n" not in str(error.value)


def test_ragged_round_trip(tmp_path):
    ragged = Ragged.from_sequences([[1, 2, 3], [], [4]], np.uint16)
    ragged.save(str(tmp_path / "x"))
    loaded = Ragged.load(str(tmp_path / "x"))
    assert [list(loaded[i]) for i in range(3)] == [[1, 2, 3], [], [4]]


# ------------------------------------------------------------------------------ fake data


def test_fake_full_keeps_the_real_model_and_batch_size():
    fake = wmt.WMT_GLU_TANH.fake("full")
    assert fake.model_config == wmt.WMT_GLU_TANH.model_config
    assert fake.spec == dataclasses.replace(wmt.WMT_GLU_TANH.spec, dataset=fake.spec.dataset)
    assert fake.spec.dataset.startswith("synthetic") and fake.fake_of == (wmt.WMT_GLU_TANH, "full")
    batch = next(iter(fake.train_batches(fake.spec.batch_size, seed=0)))
    assert batch["inputs"].shape == (128, 256) and batch["targets"].dtype == np.int32


def test_fake_tiny_keeps_the_rules_and_shrinks_model_and_batch():
    fake = wmt.WMT_POST_LN.fake("tiny")
    spec = wmt.WMT_POST_LN.spec
    kept = ("name", "validation_target", "test_target", "step_hint", "max_runtime", "variant_of")
    assert all(getattr(fake.spec, field) == getattr(spec, field) for field in kept)
    assert fake.spec.model.startswith("tiny") and fake.spec.batch_size == 4
    assert fake.model_config.pre_ln is False and fake.model_config.num_layers == 1
    assert fake.num_parameters() < 10_000
    with pytest.raises(ValueError, match="model size"):
        wmt.WMT.fake("huge")


def test_short_trial_on_tiny_fake_data():
    workload = wmt.WMT.fake("tiny")
    submission = registry.get_submission("nadamw")
    result = run_trial(
        workload, submission, dict(submission.default_hparams), seed=0,
        settings=ProtocolSettings(max_steps=3),
    )
    assert result.outcome == Outcome.BUDGET, result.message
    assert result.steps == 3
    last = result.evals[-1]
    assert 0.0 <= last["validation/bleu"] <= 100.0 and np.isfinite(last["validation/loss"])
    assert "test/bleu" in last


# ----------------------------------------------------------------------------- beam search


def log_probabilities(config, params, inputs, sequences):
    """Log-probability of each token of `sequences` [batch, n] given the ones before it."""
    cache, step = cached_decoder(config, params, inputs, config.max_len)
    previous = jnp.zeros(inputs.shape[0], jnp.int32)
    result = []
    for position in range(sequences.shape[1]):
        logits, cache = step(previous, jnp.full(previous.shape, position), cache)
        token = sequences[:, position]
        result.append(jax.nn.log_softmax(logits)[jnp.arange(len(token)), token])
        previous = token
    return jnp.stack(result, axis=1)


def test_a_beam_wider_than_the_search_space_finds_the_best_scoring_translation():
    """Vocabulary 5, at most 3 tokens: beam 40 keeps every hypothesis, so beam search must
    return the best of all EOS-terminated sequences by log p / ((5 + n) / 6)^0.6."""
    config = TransformerConfig(vocab_size=5, emb_dim=16, num_heads=2, num_layers=1, qkv_dim=16,
                               mlp_dim=16, max_len=4)
    eos, alpha = 2, 0.6
    inputs = jax.random.randint(jax.random.key(1), (3, 4), 1, 5)
    params = Transformer(config).init(jax.random.key(0), inputs, inputs)["params"]
    params = jax.tree.map(lambda p: 2.0 * p, params)
    found = np.asarray(beam_search(config, params, inputs, eos, 4, beam_size=40, alpha=alpha))

    candidates = [prefix + (eos,) for n in range(3)
                  for prefix in itertools.product([0, 1, 3, 4], repeat=n)]
    # Every (sentence, candidate) pair as one row, candidates padded to 3 tokens.
    rows = jnp.repeat(inputs, len(candidates), axis=0)
    padded = jnp.tile(jnp.array([list(c) + [0] * (3 - len(c)) for c in candidates]), (3, 1))
    lengths = np.tile([len(c) for c in candidates], 3)
    token_logp = jax.jit(log_probabilities, static_argnums=0)(config, params, rows, padded)
    total = np.where(np.arange(3)[None, :] < lengths[:, None], np.asarray(token_logp), 0).sum(1)
    scores = (total / ((5 + lengths) / 6) ** alpha).reshape(3, len(candidates))
    for row in range(3):
        expected = padded[int(np.argmax(scores[row]))]
        np.testing.assert_array_equal(found[row], expected)


def test_beam_search_translates_a_batch_like_each_sentence_alone():
    inputs = jax.random.randint(jax.random.key(2), (3, TINY.max_len), 3, TINY.vocab_size)
    params = Transformer(TINY).init(jax.random.key(0), inputs, inputs)["params"]
    params = jax.tree.map(lambda p: 3.0 * p, params)
    together = np.asarray(beam_search(TINY, params, inputs, eos_id=5, max_len=TINY.max_len))
    assert together.shape == (3, TINY.max_len - 1)
    alone = np.asarray(beam_search(TINY, params, inputs[1:2], eos_id=5, max_len=TINY.max_len))
    np.testing.assert_array_equal(together[1:2], alone)
