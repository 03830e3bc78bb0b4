"""WMT German-English translation with a Transformer: full tier, AlgoPerf's `wmt` workload.

Facts from AlgoPerf v0.5.0 (algorithmic_efficiency/workloads/wmt/: workload.py, input_pipeline.py,
tokenizer.py, wmt_jax/workload.py and wmt_jax/models.py; datasets/dataset_setup.py):

Data: training pairs are tfds `wmt17_translate/de-en` train (5,906,184 pairs); validation is
newstest2013 (3,000 pairs) and test newstest2014 (3,003 pairs), tfds `wmt14_translate/de-en`.
German is the input, English the target. One SentencePiece unigram vocabulary of 32,000 pieces
is shared by both languages, trained on the first 10^7 characters of the training pairs (German
and English lines alternating); every sentence is encoded with EOS (id 2) appended and pairs
longer than 256 tokens on either side are dropped (see `workloads._sentencepiece`).

`prepare(raw_dir, data_dir)` (the `bench prepare wmt` command) builds this without TensorFlow
from plain parallel text files in raw_dir, one sentence per line: train.de / train.en,
validation.de / validation.en (newstest2013) and test.de / test.en (newstest2014), e.g. exported
from the tfds datasets above or taken from statmt.org. A `wmt_sentencepiece_model` file in
raw_dir (AlgoPerf's trained vocabulary) is used as is instead of training a new one. The result
under DATA_DIR/wmt is about 1 GB of token ids (uint16, memory-mapped) and the vocabulary.
Training the vocabulary takes minutes; encoding the 5.9M training pairs takes about an hour on
one core.

Batches: training rows are *packed* as in AlgoPerf: pairs taken in the seed's shuffled order
fill a row of 256 input and 256 target tokens until the next pair would overflow either side,
and "inputs_segmentation" / "targets_segmentation" (1, 2, ... per pair, 0 for padding) and
"*_position" (restarting at 0 per pair) keep the pairs apart in attention. (AlgoPerf packs within
consecutive chunks of 256 pairs; here the stream is packed without chunk boundaries.) Evaluation
rows hold one pair each, padded to 256, in batches of 128.

Model: the Transformer-big-like model of `workloads._transformer` (6+6 layers, width 1024, 16
heads, MLP 1024, shared embedding; 133.5M parameters). Loss: cross-entropy over the non-padding
target tokens with label smoothing 0.1 in training (AlgoPerf's default in its JAX loss; its
baseline passes the smoothing as a hyperparameter) and none in evaluation.

Metric: BLEU (Papineni et al. 2002) of the validation/test translations against the references
(the target token ids decoded back to text, as AlgoPerf does), with sacrebleu's corpus BLEU and
its defaults (13a tokenisation, exponential smoothing, case-sensitive), which is AlgoPerf's
configuration. Translations come from beam search with beam 4 and length penalty alpha 0.6, up
to 255 tokens, as in AlgoPerf (see `workloads._transformer.beam_search`).

Targets (validation / test BLEU): wmt 30.8491 / 30.7219; variants wmt_post_ln (post-LN)
30.0779 / 29.8982, wmt_attention_temp (attention temperature 4) 29.3379 / 29.4143,
wmt_glu_tanh (GLU MLP with tanh) 29.5779 / 29.0515.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.workload import Batch, WorkloadSpec
from workloads import _pipeline, _sentencepiece, _synthetic, _tfds
from workloads._prepared import PreparedDataWorkload
from workloads._image_classification import count_parameters
from workloads._ragged import Ragged, pad_rows
from workloads._transformer import Transformer, TransformerConfig, beam_search

VOCAB_SIZE = 32_000
MAX_LEN = 256
EVAL_BATCH_SIZE = 128
LABEL_SMOOTHING = 0.1
BEAM_SIZE, LENGTH_PENALTY_ALPHA = 4, 0.6
SPLITS = ("train", "validation", "test")
LANGUAGES = ("de", "en")  # (input, target)
VOCAB_FILE = "sentencepiece.model"
ALGOPERF_VOCAB_FILE = "wmt_sentencepiece_model"
PREPARE_COMMAND = "bench prepare wmt --raw RAW_DIR --data-dir {data_dir}"


# ------------------------------------------------------------------------------------ data


@dataclasses.dataclass
class Pairs:
    """Token ids of one split: inputs[i] translates to targets[i] (each ends with EOS)."""

    inputs: Ragged
    targets: Ragged

    def __len__(self) -> int:
        return len(self.inputs)


@dataclasses.dataclass
class WmtData:
    splits: dict[str, Pairs]
    tokenizer: _sentencepiece.Tokenizer


def _data_root(data_dir: str | None) -> str:
    return os.path.join(os.path.expanduser(data_dir or _tfds.default_data_dir()), "wmt")


def read_data(data_dir: str | None, workload: str = "wmt") -> WmtData:
    """The prepared splits and vocabulary; a one-line error naming `bench prepare` if missing."""
    root = _data_root(data_dir)
    missing = [
        f"{split}.{side}" for split in SPLITS for side in ("inputs", "targets")
        if not Ragged.exists(os.path.join(root, f"{split}.{side}"))
    ]
    if not os.path.exists(os.path.join(root, VOCAB_FILE)):
        missing.insert(0, VOCAB_FILE)
    if missing:
        raise _tfds.DatasetNotPreparedError(
            f"workload {workload}: prepared WMT data not found under {root} (missing "
            f"{', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}). Prepare it with "
            f"`{PREPARE_COMMAND.format(data_dir=data_dir or os.path.dirname(root))}`."
        )
    splits = {
        split: Pairs(*(Ragged.load(os.path.join(root, f"{split}.{side}"))
                       for side in ("inputs", "targets")))
        for split in SPLITS
    }
    return WmtData(splits, _sentencepiece.SentencePieceTokenizer(os.path.join(root, VOCAB_FILE)))


def _read_lines(path: str) -> Iterator[str]:
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            yield line.rstrip("\n")


def _alternating_lines(raw_dir: str) -> Iterator[str]:
    """Training text for the vocabulary: German and English lines of each pair in turn."""
    german, english = (_read_lines(os.path.join(raw_dir, f"train.{lang}")) for lang in LANGUAGES)
    for de, en in zip(german, english):
        yield de
        yield en


def encode_pairs(tokenizer, raw_dir: str, split: str, max_len: int = MAX_LEN) -> Pairs:
    """Both sides of a split encoded; pairs longer than `max_len` on either side dropped."""
    inputs, targets = [], []
    german, english = (_read_lines(os.path.join(raw_dir, f"{split}.{lang}")) for lang in LANGUAGES)
    for de, en in zip(german, english, strict=True):
        source, target = tokenizer.encode(de), tokenizer.encode(en)
        if max(len(source), len(target)) <= max_len:
            inputs.append(source)
            targets.append(target)
    return Pairs(
        Ragged.from_sequences(inputs, np.uint16), Ragged.from_sequences(targets, np.uint16)
    )


def prepare(
    raw_dir: str, data_dir: str, *, vocab_size: int = VOCAB_SIZE,
    max_corpus_chars: int = _sentencepiece.MAX_CORPUS_CHARS,
) -> dict[str, int]:
    """Vocabulary and token ids under DATA_DIR/wmt from the text files in raw_dir (module doc).

    Returns the number of sentence pairs kept per split.
    """
    needed = [f"{split}.{lang}" for split in SPLITS for lang in LANGUAGES]
    missing = [name for name in needed if not os.path.isfile(os.path.join(raw_dir, name))]
    if missing:
        raise FileNotFoundError(
            f"wmt: {raw_dir} lacks {', '.join(missing)} (parallel text, one sentence per line: "
            "train = WMT17 de-en, validation = newstest2013, test = newstest2014)"
        )
    root = _data_root(data_dir)
    os.makedirs(root, exist_ok=True)
    vocab_path = os.path.join(root, VOCAB_FILE)
    algoperf_vocab = os.path.join(raw_dir, ALGOPERF_VOCAB_FILE)
    if os.path.isfile(algoperf_vocab):
        with open(algoperf_vocab, "rb") as source, open(vocab_path, "wb") as target:
            target.write(source.read())
        tokenizer = _sentencepiece.SentencePieceTokenizer(vocab_path)
    else:
        tokenizer = _sentencepiece.train(
            _alternating_lines(raw_dir), vocab_path, vocab_size, max_corpus_chars
        )
    counts = {}
    for split in SPLITS:
        pairs = encode_pairs(tokenizer, raw_dir, split)
        pairs.inputs.save(os.path.join(root, f"{split}.inputs"))
        pairs.targets.save(os.path.join(root, f"{split}.targets"))
        counts[split] = len(pairs)
    return counts


# --------------------------------------------------------------------------------- batches


def packed_rows(
    pairs: Pairs, order: Iterator[int], max_len: int = MAX_LEN
) -> Iterator[list[int]]:
    """Cut a stream of pair indices into rows whose inputs and targets each fit `max_len`."""
    input_lengths, target_lengths = pairs.inputs.lengths, pairs.targets.lengths
    row: list[int] = []
    used_inputs = used_targets = 0
    for index in order:
        index = int(index)
        fits = (used_inputs + input_lengths[index] <= max_len
                and used_targets + target_lengths[index] <= max_len)
        if not fits and row:
            yield row
            row, used_inputs, used_targets = [], 0, 0
        row.append(index)
        used_inputs += int(input_lengths[index])
        used_targets += int(target_lengths[index])
    if row:
        yield row


def pack(pairs: Pairs, rows: list[list[int]], max_len: int = MAX_LEN) -> Batch:
    """One training batch: each row the concatenation of its pairs (see the module doc)."""
    batch = {}
    for side, ragged in (("inputs", pairs.inputs), ("targets", pairs.targets)):
        tokens = np.zeros((len(rows), max_len), np.int32)
        positions = np.zeros((len(rows), max_len), np.int32)
        segments = np.zeros((len(rows), max_len), np.int32)
        for r, row in enumerate(rows):
            start = 0
            for segment, index in enumerate(row, start=1):
                sequence = ragged[index]
                end = start + len(sequence)
                tokens[r, start:end] = sequence
                positions[r, start:end] = np.arange(len(sequence))
                segments[r, start:end] = segment
                start = end
        batch[side] = tokens
        batch[f"{side}_position"] = positions
        batch[f"{side}_segmentation"] = segments
    return batch


def _endless_order(num_examples: int, seed: int) -> Iterator[int]:
    rng = np.random.default_rng(seed)
    while True:
        yield from rng.permutation(num_examples)


def _grouped(rows: Iterator[list[int]], size: int) -> Iterator[list[list[int]]]:
    while True:
        yield [next(rows) for _ in range(size)]


# -------------------------------------------------------------------------------- workload


class WmtWorkload(PreparedDataWorkload):
    def __init__(
        self,
        spec: WorkloadSpec,
        model_config: TransformerConfig = TransformerConfig(),
        *,
        eval_batch_size: int = EVAL_BATCH_SIZE,
        label_smoothing: float = LABEL_SMOOTHING,
        data: WmtData | None = None,
    ):
        super().__init__(spec, data)
        self.model_config = model_config
        self.model = Transformer(model_config)
        self.eval_batch_size = eval_batch_size
        self.label_smoothing = label_smoothing

    # ---- data

    def read_prepared(self, data_dir: str | None) -> WmtData:
        return read_data(data_dir, self.name)

    def train_batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        pairs = self.split_data("train")
        max_len = self.model_config.max_len
        rows = packed_rows(pairs, _endless_order(len(pairs), seed), max_len)
        return _pipeline.BatchStream(
            _grouped(rows, batch_size), lambda _, group: pack(pairs, group, max_len)
        )

    def eval_batches(self, split: str) -> Iterator[Batch]:
        """Rows of one pair each, padded to max_len; the last batch filled with empty rows."""
        pairs = self.split_data(split)
        size, max_len = self.eval_batch_size, self.model_config.max_len
        for start in range(0, len(pairs), size):
            index = range(start, min(start + size, len(pairs)))
            yield {
                side: pad_rows([ragged[i] for i in index] + [[]] * (size - len(index)),
                               max_len, np.int32)
                for side, ragged in (("inputs", pairs.inputs), ("targets", pairs.targets))
            }

    # ---- model and loss

    def init(self, rng):
        params_rng, dropout_rng = jax.random.split(rng)
        if not hasattr(self, "_jitted_init"):
            self._jitted_init = jax.jit(functools.partial(self.model.init, train=False))
        dummy = jnp.ones((2, self.model_config.max_len), jnp.int32)
        variables = self._jitted_init({"params": params_rng, "dropout": dropout_rng}, dummy, dummy)
        return variables["params"], {}

    def num_parameters(self) -> int:
        """Number of trainable parameters (from shapes only; nothing is initialised)."""
        params, _ = jax.eval_shape(self.init, jax.random.key(0))
        return count_parameters(params)

    def _logits(self, params, batch, *, train: bool, rng=None):
        extras = {key: value for key, value in batch.items() if key not in ("inputs", "targets")}
        return self.model.apply(
            {"params": params}, batch["inputs"], batch["targets"], extras, train=train,
            rngs={"dropout": rng} if rng is not None else {},
        )

    def _token_losses(self, logits, targets, smoothing: float):
        """Cross-entropy per target token against labels smoothed to (1 - s) + s / vocab."""
        labels = optax.smooth_labels(jax.nn.one_hot(targets, logits.shape[-1]), smoothing)
        return optax.softmax_cross_entropy(logits, labels) * (targets > 0)

    def loss(self, params, model_state, batch: Batch, rng, train: bool):
        logits = self._logits(params, batch, train=train, rng=rng if train else None)
        smoothing = self.label_smoothing if train else 0.0
        losses = self._token_losses(logits, batch["targets"], smoothing)
        return losses.sum() / jnp.maximum((batch["targets"] > 0).sum(), 1), model_state

    def eval_sums(self, params, model_state, batch: Batch):
        """Sums over the batch's target tokens: "loss", "accuracy" and "count" (token count)."""
        logits = self._logits(params, batch, train=False)
        targets = batch["targets"]
        weights = targets > 0
        return {
            "loss": self._token_losses(logits, targets, 0.0).sum(),
            "accuracy": ((jnp.argmax(logits, -1) == targets) * weights).sum(),
            "count": weights.sum(),
        }

    # ---- evaluation with decoding

    def translate(self, params, inputs: np.ndarray) -> np.ndarray:
        """Beam-search translations [batch, max_len - 1] of a batch of input rows."""
        if not hasattr(self, "_jitted_decode"):
            self._jitted_decode = jax.jit(functools.partial(
                beam_search, self.model_config, eos_id=_sentencepiece.EOS_ID,
                max_len=self.model_config.max_len, beam_size=BEAM_SIZE,
                alpha=LENGTH_PENALTY_ALPHA,
            ))
        return np.asarray(self._jitted_decode(params, inputs))

    def evaluate(self, params, model_state, split: str) -> dict[str, float]:
        """Per-token loss and accuracy, and corpus BLEU of the translations of the split."""
        if not hasattr(self, "_jitted_eval_sums"):
            self._jitted_eval_sums = jax.jit(self.eval_sums)
        tokenizer = self.data.tokenizer
        totals = {"loss": 0.0, "accuracy": 0.0, "count": 0.0}
        hypotheses, references = [], []
        for batch in self.eval_batches(split):
            sums = jax.device_get(self._jitted_eval_sums(params, model_state, batch))
            for key in totals:
                totals[key] += float(sums[key])
            real = batch["targets"][:, 0] > 0
            translations = self.translate(params, batch["inputs"])
            hypotheses += [tokenizer.decode(row) for row in translations[real]]
            references += [tokenizer.decode(row) for row in batch["targets"][real]]
        count = totals.pop("count")
        if count <= 0:
            raise ValueError(f"workload {self.name}: split {split!r} has no examples")
        metrics = {key: value / count for key, value in totals.items()}
        metrics["bleu"] = corpus_bleu(hypotheses, references)
        return metrics

    # ---- fake data

    def fake(self, model_size: str = "tiny") -> WmtWorkload:
        """This workload on random token sequences (`fake_data`); see `Workload.fake`.

        "tiny": 1+1 layers of width 16, vocabulary 64, rows of 16 tokens, batches of 4.
        """
        spec = _synthetic.fake_spec(self.spec, model_size, batch_size=4)
        if model_size == "full":
            config, eval_batch = self.model_config, self.eval_batch_size
            sizes = {"train": 4 * spec.batch_size, "validation": eval_batch, "test": eval_batch}
        else:
            config = dataclasses.replace(
                self.model_config, vocab_size=64, emb_dim=16, num_heads=2, num_layers=1,
                qkv_dim=16, mlp_dim=32, max_len=16,
            )
            eval_batch = 8
            sizes = {"train": 64, "validation": 8, "test": 8}
        data = fake_data(sizes, config.vocab_size, config.max_len, seed=0)
        copy = WmtWorkload(spec, config, eval_batch_size=eval_batch,
                           label_smoothing=self.label_smoothing, data=data)
        copy.fake_of = (self, model_size)  # how another process rebuilds it
        return copy


def fake_data(sizes: dict[str, int], vocab_size: int, max_len: int, seed: int) -> WmtData:
    """Random pairs: lengths uniform in [2, max_len // 2], tokens in [3, vocab) then EOS."""
    rng = np.random.default_rng(seed)

    def sentences(count):
        lengths = rng.integers(1, max_len // 2, count)
        return Ragged.from_sequences(
            [np.r_[rng.integers(3, vocab_size, n), _sentencepiece.EOS_ID] for n in lengths],
            np.uint16,
        )

    splits = {split: Pairs(sentences(count), sentences(count)) for split, count in sizes.items()}
    return WmtData(splits, _sentencepiece.WordTokenizer())


# ---------------------------------------------------------------------------------- metric


def corpus_bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU in [0, 100] with sacrebleu's defaults (AlgoPerf's configuration).

    BLEU = BP * exp(mean_n log p_n), n = 1..4, where p_n is the number of hypothesis n-grams
    found in the reference (clipped by their count there) over the number of hypothesis
    n-grams, both summed over the corpus, and BP = min(1, exp(1 - r / c)) for total reference
    length r and hypothesis length c (tokens after sacrebleu's 13a tokenisation).
    """
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score)


# ----------------------------------------------------------------------------------- specs

WMT_SPEC = WorkloadSpec(
    name="wmt",
    tier="full",
    dataset="WMT17 de-en (5.9M pairs; validation newstest2013, test newstest2014)",
    model="Transformer 6+6 layers, width 1024 (133.5M parameters)",
    target_metric="bleu",
    validation_target=30.8491,
    test_target=30.7219,
    higher_is_better=True,
    step_hint=133_333,
    max_runtime=48_151.0,
    eval_period=840.0,
    batch_size=128,
    description="German-English translation with a Transformer (AlgoPerf's wmt)",
    calibration=(
        "Targets, step hint 133,333, budget 48,151 s and evaluation every 840 s are AlgoPerf "
        "v0.5.0's (algorithmic_efficiency/workloads/wmt/workload.py); AlgoPerf's current code "
        "has step hint 120,000 and budget 43,336 s. Budgets are for 8 NVIDIA V100 GPUs. Batch "
        "size 128 packed rows (AlgoPerf's baseline). BLEU of beam search (beam 4, alpha "
        "0.6), as AlgoPerf's."
    ),
)


def _variant(name: str, model: str, validation: float, test: float, note: str) -> WorkloadSpec:
    return dataclasses.replace(
        WMT_SPEC, name=name, model=model, validation_target=validation, test_target=test,
        variant_of="wmt", description=f"wmt with {model} (AlgoPerf's {name})",
        calibration=f"{WMT_SPEC.calibration} Variant targets: {note}",
    )


_LOWERED = (
    "AlgoPerf lowered this variant's validation target on 2024-04-08 (commit cf436b09, "
    "after the v0.5.0 tag and before the v0.5 results were scored) from {old}."
)
WMT_POST_LN_SPEC = _variant(
    "wmt_post_ln", "post-LayerNorm Transformer", 30.0779, 29.8982, "AlgoPerf v0.5.0's."
)
WMT_ATTENTION_TEMP_SPEC = _variant(
    "wmt_attention_temp", "attention temperature 4.0", 29.3379, 29.4143,
    _LOWERED.format(old=29.8611),
)
WMT_GLU_TANH_SPEC = _variant(
    "wmt_glu_tanh", "GLU MLP with tanh", 29.5779, 29.0515, _LOWERED.format(old=29.6517)
)

WMT = WmtWorkload(WMT_SPEC)
WMT_POST_LN = WmtWorkload(WMT_POST_LN_SPEC, TransformerConfig(pre_ln=False))
WMT_ATTENTION_TEMP = WmtWorkload(WMT_ATTENTION_TEMP_SPEC, TransformerConfig(attention_temp=4.0))
WMT_GLU_TANH = WmtWorkload(WMT_GLU_TANH_SPEC, TransformerConfig(glu=True, activation="tanh"))

WORKLOADS = [WMT, WMT_POST_LN, WMT_ATTENTION_TEMP, WMT_GLU_TANH]
