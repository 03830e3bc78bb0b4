"""LibriSpeech speech recognition with a Conformer or DeepSpeech model and CTC: full tier,
AlgoPerf's `librispeech_conformer` and `librispeech_deepspeech` workloads and their variants.

Facts from AlgoPerf v0.5.0 (algorithmic_efficiency/workloads/librispeech_conformer/: workload.py,
input_pipeline.py, metrics.py, librispeech_jax/workload.py; librispeech_deepspeech/librispeech_jax/
workload.py; datasets/librispeech_preprocess.py and datasets/librispeech_tokenizer.py):

Data: LibriSpeech (Panayotov et al. 2015; openslr.org/12, about 60 GB of flac): training on
train-clean-100 + train-clean-360 + train-other-500, validation on dev-clean + dev-other, test on
test-clean. Utterances with a transcript longer than 256 characters or more than 320,000 samples
(20 s at 16 kHz) are dropped. Transcripts are encoded with a SentencePiece unigram vocabulary of
1024 pieces trained on train-clean-100's transcripts (`workloads._sentencepiece`), EOS appended;
id 0 is the CTC blank.

`prepare(raw_dir, data_dir)` (the `bench prepare librispeech_conformer` or
`... librispeech_deepspeech` command; both workloads share the data) reads the extracted
`LibriSpeech/` folder (raw_dir holds train-clean-100/, ..., test-clean/, each
SPEAKER/CHAPTER/*.flac with SPEAKER-CHAPTER.trans.txt) with `soundfile` (pip install
soundfile; no TensorFlow) and writes under DATA_DIR/librispeech the audio as int16 samples
(about 110 GB, memory-mapped when training), the token ids and the vocabulary; an AlgoPerf
vocabulary file `spm_model.vocab` in raw_dir is used instead of training one. Decoding the
281,000 training files takes a few hours on one core (`workers` threads help).

Batches: "audio" int16 [batch, 320000] zero-padded, "audio_lengths" [batch], "targets" int32
[batch, 256] zero-padded and "target_lengths" [batch]; training batches are shuffled per epoch
by the seed; evaluation batches (256, 128 for librispeech_deepspeech_norm_and_spec_aug) are
filled up with empty utterances. The models compute log-mel features and SpecAugment
themselves (`workloads._speech_frontend`).

Loss: CTC (Graves et al. 2006; `optax.ctc_loss`, blank 0) summed over the utterances and divided
by the number of target tokens, as in AlgoPerf. Metric: word error rate of greedy CTC decoding
(the most likely token per frame, repeats merged, blanks removed, decoded to text) against the
transcripts decoded from the target ids: word-level edit distance summed over the split divided
by the number of reference words, computed with `jiwer`.

Models (`workloads._conformer`, `workloads._deepspeech`): Conformer 32.3M parameters, DeepSpeech
18.4M. Targets (validation / test WER), step hints and budgets are in the specs below.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
from collections.abc import Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.workload import Batch, WorkloadSpec
from workloads import _pipeline, _sentencepiece, _synthetic, _tfds
from workloads._conformer import Conformer, ConformerConfig
from workloads._deepspeech import DeepSpeech, DeepSpeechConfig
from workloads._image_classification import count_parameters
from workloads._prepared import PreparedDataWorkload
from workloads._ragged import Ragged, pad_rows, write_streaming
from workloads._speech_frontend import SpecAugmentConfig

VOCAB_SIZE = 1024
MAX_AUDIO_SAMPLES = 320_000
MAX_TARGET_TOKENS = 256
MAX_TRANSCRIPT_CHARS = 256
EVAL_BATCH_SIZE = 256
SUBSETS = {
    "train": ("train-clean-100", "train-clean-360", "train-other-500"),
    "validation": ("dev-clean", "dev-other"),
    "test": ("test-clean",),
}
TOKENIZER_SUBSET = "train-clean-100"
VOCAB_FILE = "sentencepiece.model"
ALGOPERF_VOCAB_FILE = "spm_model.vocab"
PREPARE_COMMAND = "bench prepare {workload} --raw RAW_DIR/LibriSpeech --data-dir {data_dir}"


# ------------------------------------------------------------------------------------ data


@dataclasses.dataclass
class Utterances:
    audio: Ragged  # int16 samples at 16 kHz
    targets: Ragged  # token ids, EOS last

    def __len__(self) -> int:
        return len(self.audio)


@dataclasses.dataclass
class SpeechData:
    splits: dict[str, Utterances]
    tokenizer: _sentencepiece.Tokenizer


def _data_root(data_dir: str | None) -> str:
    return os.path.join(os.path.expanduser(data_dir or _tfds.default_data_dir()), "librispeech")


def read_data(data_dir: str | None, workload: str) -> SpeechData:
    """The prepared splits and vocabulary; a one-line error naming `bench prepare` if missing."""
    root = _data_root(data_dir)
    missing = [
        f"{split}.{kind}" for split in SUBSETS for kind in ("audio", "targets")
        if not Ragged.exists(os.path.join(root, f"{split}.{kind}"))
    ]
    if not os.path.exists(os.path.join(root, VOCAB_FILE)):
        missing.insert(0, VOCAB_FILE)
    if missing:
        command = PREPARE_COMMAND.format(
            workload=workload, data_dir=data_dir or os.path.dirname(root)
        )
        raise _tfds.DatasetNotPreparedError(
            f"workload {workload}: prepared LibriSpeech data not found under {root} (missing "
            f"{', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}). Prepare it with "
            f"`{command}`."
        )
    splits = {
        split: Utterances(*(Ragged.load(os.path.join(root, f"{split}.{kind}"))
                            for kind in ("audio", "targets")))
        for split in SUBSETS
    }
    tokenizer = _sentencepiece.SentencePieceTokenizer(os.path.join(root, VOCAB_FILE))
    return SpeechData(splits, tokenizer)


def list_utterances(subset_dir: str) -> Iterator[tuple[str, str]]:
    """(flac path, transcript) of every line of every SPEAKER-CHAPTER.trans.txt, sorted."""
    for speaker in sorted(os.listdir(subset_dir)):
        speaker_dir = os.path.join(subset_dir, speaker)
        if not os.path.isdir(speaker_dir):
            continue
        for chapter in sorted(os.listdir(speaker_dir)):
            chapter_dir = os.path.join(speaker_dir, chapter)
            transcripts = os.path.join(chapter_dir, f"{speaker}-{chapter}.trans.txt")
            if not os.path.isfile(transcripts):
                continue
            with open(transcripts, encoding="utf-8") as lines:
                for line in lines:
                    utterance, _, text = line.strip().partition(" ")
                    yield os.path.join(chapter_dir, f"{utterance}.flac"), text


def _kept_utterances(raw_dir: str, subsets, tokenizer) -> list[tuple[str, list[int], int]]:
    """(flac path, token ids, samples) of the utterances AlgoPerf keeps (module docstring)."""
    import soundfile

    kept = []
    for subset in subsets:
        for path, text in list_utterances(os.path.join(raw_dir, subset)):
            if len(text) > MAX_TRANSCRIPT_CHARS or not os.path.isfile(path):
                continue
            samples = soundfile.info(path).frames
            tokens = tokenizer.encode(text)
            if samples <= MAX_AUDIO_SAMPLES and len(tokens) <= MAX_TARGET_TOKENS:
                kept.append((path, tokens, samples))
    return kept


def _read_flac(path: str) -> np.ndarray:
    import soundfile

    audio, _ = soundfile.read(path, dtype="int16")
    return audio if audio.ndim == 1 else audio[:, 0]


def _train_tokenizer(raw_dir: str, vocab_path: str, vocab_size: int, max_chars: int):
    algoperf_vocab = os.path.join(raw_dir, ALGOPERF_VOCAB_FILE)
    if os.path.isfile(algoperf_vocab):
        with open(algoperf_vocab, "rb") as source, open(vocab_path, "wb") as target:
            target.write(source.read())
        return _sentencepiece.SentencePieceTokenizer(vocab_path)
    transcripts = (text for _, text in list_utterances(os.path.join(raw_dir, TOKENIZER_SUBSET)))
    return _sentencepiece.train(transcripts, vocab_path, vocab_size, max_chars)


def prepare(
    raw_dir: str, data_dir: str, *, vocab_size: int = VOCAB_SIZE,
    max_corpus_chars: int = _sentencepiece.MAX_CORPUS_CHARS, workers: int = 8,
) -> dict[str, int]:
    """Vocabulary, token ids and int16 audio under DATA_DIR/librispeech (module docstring).

    Returns the number of utterances kept per split.
    """
    try:
        import soundfile  # noqa: F401  (reads the flac files)
    except ImportError:
        raise ValueError(
            "librispeech: reading flac needs soundfile: pip install soundfile "
            "(or pip install 'bench[librispeech]')"
        ) from None
    needed = [subset for subsets in SUBSETS.values() for subset in subsets]
    missing = [subset for subset in needed if not os.path.isdir(os.path.join(raw_dir, subset))]
    if missing:
        raise FileNotFoundError(
            f"librispeech: {raw_dir} lacks {', '.join(missing)} (the extracted LibriSpeech "
            "folder from openslr.org/12 holds one folder per subset)"
        )
    root = _data_root(data_dir)
    os.makedirs(root, exist_ok=True)
    tokenizer = _train_tokenizer(
        raw_dir, os.path.join(root, VOCAB_FILE), vocab_size, max_corpus_chars
    )
    counts = {}
    for split, subsets in SUBSETS.items():
        kept = _kept_utterances(raw_dir, subsets, tokenizer)
        counts[split] = len(kept)
        targets = Ragged.from_sequences([tokens for _, tokens, _ in kept], np.uint16)
        with concurrent.futures.ThreadPoolExecutor(max(workers, 1)) as pool:
            audio = pool.map(_read_flac, [path for path, _, _ in kept])
            write_streaming(
                os.path.join(root, f"{split}.audio"), [n for _, _, n in kept], np.int16, audio
            )
        targets.save(os.path.join(root, f"{split}.targets"))
    return counts


def make_batch(utterances: Utterances, index, max_audio: int, max_target: int) -> Batch:
    """The utterances `index` padded to fixed shapes (index -1: an empty utterance)."""
    empty = np.zeros(0, np.int16)
    audio = [utterances.audio[i] if i >= 0 else empty for i in index]
    targets = [utterances.targets[i] if i >= 0 else empty for i in index]
    return {
        "audio": pad_rows(audio, max_audio, np.int16),
        "audio_lengths": np.array([min(len(a), max_audio) for a in audio], np.int32),
        "targets": pad_rows(targets, max_target, np.int32),
        "target_lengths": np.array([min(len(t), max_target) for t in targets], np.int32),
    }


def _paddings(lengths, size: int):
    """1.0 at positions at or beyond each row's length."""
    return (jnp.arange(size)[None, :] >= lengths[:, None]).astype(jnp.float32)


# ---------------------------------------------------------------------------------- metric


def ctc_greedy_ids(frame_ids: np.ndarray, num_frames: int, blank: int = 0) -> list[int]:
    """Best-path CTC decoding: merge repeated ids over the first `num_frames`, drop blanks."""
    ids = np.asarray(frame_ids)[:num_frames]
    if ids.size == 0:
        return []
    changed = np.r_[True, ids[1:] != ids[:-1]]
    return [int(i) for i in ids[changed] if i != blank]


def word_error_rate(hypotheses: list[str], references: list[str]) -> float:
    """Sum over utterances of the word-level edit distance (substitutions + deletions +
    insertions) divided by the total number of reference words, via jiwer."""
    import jiwer

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    references = [" ".join(reference.split()) for reference in references]
    hypotheses = [" ".join(hypothesis.split()) for hypothesis in hypotheses]
    return float(jiwer.wer(references, hypotheses))


# -------------------------------------------------------------------------------- workload

MODELS = {ConformerConfig: Conformer, DeepSpeechConfig: DeepSpeech}
TINY_MODELS = {
    ConformerConfig: dict(vocab_size=32, encoder_dim=16, num_heads=2, num_layers=1),
    DeepSpeechConfig: dict(vocab_size=32, encoder_dim=16, num_lstm_layers=1, num_ffn_layers=1),
}


class LibriSpeechWorkload(PreparedDataWorkload):
    def __init__(
        self,
        spec: WorkloadSpec,
        model_config: ConformerConfig | DeepSpeechConfig,
        *,
        eval_batch_size: int = EVAL_BATCH_SIZE,
        max_audio: int = MAX_AUDIO_SAMPLES,
        max_target: int = MAX_TARGET_TOKENS,
        data: SpeechData | None = None,
    ):
        super().__init__(spec, data)
        self.model_config = model_config
        self.model: nn.Module = MODELS[type(model_config)](model_config)
        self.eval_batch_size = eval_batch_size
        self.max_audio, self.max_target = max_audio, max_target

    # ---- data

    def read_prepared(self, data_dir: str | None) -> SpeechData:
        return read_data(data_dir, self.name)

    def train_batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        utterances = self.split_data("train")
        index_batches = _pipeline.shuffled_index_batches(len(utterances), batch_size, seed)
        return _pipeline.BatchStream(
            index_batches,
            lambda _, index: make_batch(utterances, index, self.max_audio, self.max_target),
        )

    def eval_batches(self, split: str) -> Iterator[Batch]:
        utterances, size = self.split_data(split), self.eval_batch_size
        for start in range(0, len(utterances), size):
            index = list(range(start, min(start + size, len(utterances))))
            index += [-1] * (size - len(index))
            yield make_batch(utterances, index, self.max_audio, self.max_target)

    # ---- model and loss

    def init(self, rng):
        params_rng, dropout_rng = jax.random.split(rng)
        if not hasattr(self, "_jitted_init"):
            self._jitted_init = jax.jit(functools.partial(self.model.init, train=False))
        audio = jnp.zeros((2, self.max_audio), jnp.float32)
        variables = self._jitted_init({"params": params_rng, "dropout": dropout_rng}, audio, audio)
        model_state = {key: value for key, value in variables.items() if key != "params"}
        return variables["params"], model_state

    def num_parameters(self) -> int:
        """Number of trainable parameters (from shapes only; nothing is initialised)."""
        params, _ = jax.eval_shape(self.init, jax.random.key(0))
        return count_parameters(params)

    def _apply(self, params, model_state, batch, *, train: bool, rng=None):
        """(logits, logit paddings, new model state)."""
        audio_paddings = _paddings(batch["audio_lengths"], batch["audio"].shape[1])
        variables = {"params": params, **model_state}
        if train and model_state:
            (logits, paddings), updates = self.model.apply(
                variables, batch["audio"], audio_paddings, train=True, rngs={"dropout": rng},
                mutable=list(model_state),
            )
            return logits, paddings, {**model_state, **updates}
        rngs = {"dropout": rng} if train else {}
        logits, paddings = self.model.apply(
            variables, batch["audio"], audio_paddings, train=train, rngs=rngs
        )
        return logits, paddings, model_state

    def _ctc_losses(self, logits, logit_paddings, batch):
        target_paddings = _paddings(batch["target_lengths"], batch["targets"].shape[1])
        return optax.ctc_loss(logits, logit_paddings, batch["targets"], target_paddings, blank_id=0)

    def loss(self, params, model_state, batch: Batch, rng, train: bool):
        logits, logit_paddings, new_state = self._apply(
            params, model_state, batch, train=train, rng=rng
        )
        losses = self._ctc_losses(logits, logit_paddings, batch)
        return losses.sum() / jnp.maximum(batch["target_lengths"].sum(), 1), new_state

    def eval_sums(self, params, model_state, batch: Batch):
        """"loss": CTC loss summed over the real utterances; "count": their target tokens."""
        logits, logit_paddings, _ = self._apply(params, model_state, batch, train=False)
        real = batch["target_lengths"] > 0
        losses = jnp.where(real, self._ctc_losses(logits, logit_paddings, batch), 0.0)
        return {"loss": losses.sum(), "count": batch["target_lengths"].sum()}

    def _eval_outputs(self, params, model_state, batch):
        """Loss sums, the most likely id per frame and the number of unpadded frames."""
        logits, logit_paddings, _ = self._apply(params, model_state, batch, train=False)
        real = batch["target_lengths"] > 0
        losses = jnp.where(real, self._ctc_losses(logits, logit_paddings, batch), 0.0)
        frames = jnp.sum(1.0 - logit_paddings, axis=1).astype(jnp.int32)
        return losses.sum(), jnp.argmax(logits, axis=-1), frames

    def evaluate(self, params, model_state, split: str) -> dict[str, float]:
        """CTC loss per target token and word error rate over the whole split."""
        if not hasattr(self, "_jitted_eval"):
            self._jitted_eval = jax.jit(self._eval_outputs)
        tokenizer = self.data.tokenizer
        loss_sum = count = 0.0
        hypotheses, references = [], []
        for batch in self.eval_batches(split):
            batch_loss, frame_ids, frames = jax.device_get(
                self._jitted_eval(params, model_state, batch)
            )
            loss_sum += float(batch_loss)
            count += float(batch["target_lengths"].sum())
            for row in np.flatnonzero(batch["target_lengths"] > 0):
                hypotheses.append(tokenizer.decode(ctc_greedy_ids(frame_ids[row], frames[row])))
                targets = batch["targets"][row, : batch["target_lengths"][row]]
                references.append(tokenizer.decode(targets))
        if count <= 0:
            raise ValueError(f"workload {self.name}: split {split!r} has no examples")
        return {"loss": loss_sum / count, "wer": word_error_rate(hypotheses, references)}

    # ---- fake data

    def fake(self, model_size: str = "tiny") -> LibriSpeechWorkload:
        """This workload on random audio and token ids (`fake_data`); see `Workload.fake`.

        "tiny": one block (or LSTM and feed-forward layer) of width 16, vocabulary 32, one
        second of audio, at most 8 target tokens, batches of 4.
        """
        spec = _synthetic.fake_spec(self.spec, model_size, batch_size=4)
        if model_size == "full":
            config, eval_batch = self.model_config, self.eval_batch_size
            max_audio, max_target, longest_target = self.max_audio, self.max_target, 100
            sizes = {"train": 2 * spec.batch_size, "validation": eval_batch, "test": eval_batch}
        else:
            config = dataclasses.replace(self.model_config, **TINY_MODELS[type(self.model_config)])
            eval_batch, max_audio, max_target, longest_target = 4, 16_000, 8, 5
            sizes = {"train": 32, "validation": 4, "test": 4}
        data = fake_data(sizes, config.vocab_size, max_audio, longest_target, seed=0)
        copy = LibriSpeechWorkload(
            spec, config, eval_batch_size=eval_batch, max_audio=max_audio,
            max_target=max_target, data=data,
        )
        copy.fake_of = (self, model_size)  # how another process rebuilds it
        return copy


def fake_data(
    sizes: dict[str, int], vocab_size: int, max_audio: int, longest_target: int, seed: int
) -> SpeechData:
    """Uniform noise (+-3000) of max_audio/2..max_audio samples; 1..longest_target ids in
    [3, vocab), then EOS."""
    rng = np.random.default_rng(seed)

    def utterances(count):
        audio = [
            rng.integers(-3000, 3000, n, dtype=np.int16)
            for n in rng.integers(max_audio // 2, max_audio + 1, count)
        ]
        targets = [
            np.r_[rng.integers(3, vocab_size, n), _sentencepiece.EOS_ID]
            for n in rng.integers(1, longest_target, count, endpoint=False)
        ]
        return Utterances(
            Ragged.from_sequences(audio, np.int16), Ragged.from_sequences(targets, np.uint16)
        )

    splits = {split: utterances(count) for split, count in sizes.items()}
    return SpeechData(splits, _sentencepiece.WordTokenizer())


# ----------------------------------------------------------------------------------- specs

CONFORMER_SPEC = WorkloadSpec(
    name="librispeech_conformer",
    tier="full",
    dataset="LibriSpeech 960 h (train 281k utterances; validation dev-clean+dev-other, test "
            "test-clean)",
    model="Conformer, 4 layers, width 512 (32.3M parameters)",
    target_metric="wer",
    validation_target=0.085884,
    test_target=0.052981,
    higher_is_better=False,
    step_hint=80_000,
    max_runtime=61_068.0,
    eval_period=1440.0,
    batch_size=256,
    description="Speech recognition with a Conformer and CTC (AlgoPerf's librispeech_conformer)",
    calibration=(
        "Targets, step hint 80,000, budget 61,068 s and evaluation every 1440 s are AlgoPerf "
        "v0.5.0's (algorithmic_efficiency/workloads/librispeech_conformer/workload.py); "
        "AlgoPerf's current code has step hint 76,000 and budget 58,015 s. Budgets are for 8 "
        "NVIDIA V100 GPUs. Batch size 256 (AlgoPerf's baseline)."
    ),
)

DEEPSPEECH_SPEC = dataclasses.replace(
    CONFORMER_SPEC,
    name="librispeech_deepspeech",
    model="DeepSpeech: 6 BiLSTM + 3 feed-forward layers, width 512 (18.4M parameters)",
    validation_target=0.119936,
    test_target=0.074143,
    step_hint=48_000,
    max_runtime=55_506.0,
    description="Speech recognition with DeepSpeech and CTC (AlgoPerf's librispeech_deepspeech)",
    calibration=(
        "Targets, step hint 48,000, budget 55,506 s and evaluation every 1440 s are AlgoPerf "
        "v0.5.0's (algorithmic_efficiency/workloads/librispeech_deepspeech/librispeech_jax/"
        "workload.py); AlgoPerf's current code has step hint 38,400 and budget 44,405 s. "
        "Budgets are for 8 NVIDIA V100 GPUs. Batch size 256 (AlgoPerf's baseline)."
    ),
)


def _variant(base: WorkloadSpec, name: str, model: str, validation: float, test: float):
    return dataclasses.replace(
        base, name=name, model=model, validation_target=validation, test_target=test,
        variant_of=base.name, description=f"{base.name} with {model} (AlgoPerf's {name})",
        calibration=f"{base.calibration} Variant targets: AlgoPerf v0.5.0's.",
    )


CONFORMER = LibriSpeechWorkload(CONFORMER_SPEC, ConformerConfig())
CONFORMER_ATTENTION_TEMPERATURE = LibriSpeechWorkload(
    _variant(CONFORMER_SPEC, "librispeech_conformer_attention_temperature",
             "attention temperature 1.6", 0.109977, 0.068065),
    ConformerConfig(attention_temperature=1.6),
)
CONFORMER_LAYERNORM = LibriSpeechWorkload(
    _variant(CONFORMER_SPEC, "librispeech_conformer_layernorm",
             "no LayerNorm after each block", 0.09731, 0.05996),
    ConformerConfig(post_layer_norm=False),
)
CONFORMER_GELU = LibriSpeechWorkload(
    _variant(CONFORMER_SPEC, "librispeech_conformer_gelu", "GELU activations", 0.094114, 0.056629),
    ConformerConfig(activation="gelu"),
)
DEEPSPEECH = LibriSpeechWorkload(DEEPSPEECH_SPEC, DeepSpeechConfig())
DEEPSPEECH_TANH = LibriSpeechWorkload(
    _variant(DEEPSPEECH_SPEC, "librispeech_deepspeech_tanh", "tanh activations",
             0.150883, 0.098613),
    DeepSpeechConfig(activation="tanh"),
)
DEEPSPEECH_NO_RESNET = LibriSpeechWorkload(
    _variant(DEEPSPEECH_SPEC, "librispeech_deepspeech_no_resnet", "no residual connections",
             0.131564, 0.079297),
    DeepSpeechConfig(residual=False),
)
DEEPSPEECH_NORM_AND_SPEC_AUG = LibriSpeechWorkload(
    _variant(DEEPSPEECH_SPEC, "librispeech_deepspeech_norm_and_spec_aug",
             "LayerNorm everywhere and stronger SpecAugment", 0.14342, 0.090976),
    DeepSpeechConfig(
        layernorm_everywhere=True, decoder_layer_norm=False,
        spec_augment=SpecAugmentConfig(freq_masks=4, time_masks=15),
    ),
    eval_batch_size=128,
)

WORKLOADS = [
    CONFORMER, CONFORMER_ATTENTION_TEMPERATURE, CONFORMER_LAYERNORM, CONFORMER_GELU,
    DEEPSPEECH, DEEPSPEECH_TANH, DEEPSPEECH_NO_RESNET, DEEPSPEECH_NORM_AND_SPEC_AUG,
]
