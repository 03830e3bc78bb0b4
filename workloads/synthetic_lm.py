"""Next-token language modelling on sequences of a fixed random hidden Markov model: cpu tier.

The cpu tier's counterpart of the full tier's language workloads (WMT, language models): a small
causal Transformer learns to predict each token of a sequence from the tokens before it. The
sequences come from a hidden Markov model (HMM) drawn once from a fixed seed, so nothing is
downloaded and the data can be as large as wanted:

- `HMMSource`: `num_states` hidden states, `vocab_size` tokens. Each row of the transition
  matrix `A` (state -> next state) and of the emission matrix `B` (state -> token) is drawn
  from a symmetric Dirichlet prior with a small concentration, so each state mostly moves to a
  few states and mostly emits a few tokens, and states share tokens. The first state is drawn
  from the stationary distribution of `A`, so every position is drawn from the same marginal.
  The source is predictable but not from the last token alone: guessing the hidden state well
  takes the context (here the best predictor's cross-entropy is 0.43 nats per token below that
  of the bigram frequencies of the training split).
- the training, validation and test splits are independent draws from that one HMM (their own
  random streams), `sequence_length + 1` tokens per sequence: the model reads the first
  `sequence_length` tokens and predicts each next one.

The floor: no predictor can, in expectation, do better than the source's conditional
probabilities `p(x_t | x_<t)`, which the forward algorithm computes exactly (Rabiner 1989, "A
Tutorial on Hidden Markov Models and Selected Applications in Speech Recognition", Proc. IEEE
77(2):257, sec. III.A): with `alpha_t(i) = p(z_t = i | x_<t)`,

    p(x_t | x_<t) = sum_i alpha_t(i) B[i, x_t],
    alpha_{t+1}(j) = sum_i alpha_t(i) B[i, x_t] A[i, j] / p(x_t | x_<t).

`cross_entropy_floor` averages `-log p(x_t | x_<t)` over the predicted tokens of a set of
sequences; as the set grows it tends to the source's entropy rate. On this workload's
validation split (1,024 sequences, 32,768 predicted tokens) the floor is 1.4895 nats per token
(`validation_floor()` computes it; a test checks this number); predicting with the training
split's token frequencies gives 2.92, with its bigram frequencies 1.91.

Model: a decoder-only Transformer (Vaswani et al. 2017, "Attention Is All You Need", arXiv
1706.03762) with pre-layer-norm blocks (Xiong et al. 2020, "On Layer Normalization in the
Transformer Architecture", arXiv 2002.04745): learned token and position embeddings, two blocks
of width 32 with 4 causal attention heads and a GELU MLP of 4x the width, a final layer norm and
a linear read-out to the vocabulary; 29k parameters, about 5 ms a step at the batch size of 32
sequences on 2 CPU cores. The loss is the mean softmax cross-entropy of the next token over
every position of the batch (nats per token); evaluation reports it (`loss`) and the next-token
accuracy, each averaged over every predicted token of the split. The target is the validation
cross-entropy, lower is better: a mean over 32,768 tokens of one fixed split, it moves smoothly
from one evaluation to the next, and its floor is known.

What it asks of an optimizer: the loss falls quickly to the unigram and bigram levels; the rest,
down towards the floor, needs the attention layers to infer the hidden state from the context,
a slower phase where the learning rate, its schedule and the optimizer's handling of the
embeddings and attention weights decide how soon the target is met. Measured on 2 cores
(2026-11-30): the tuned Nesterov momentum point that set the target (see the spec's
`calibration`) is still improving at the end of its runs; NadamW at AlgoPerf's self-tuning point
(bench's `nadamw` default) levels off at 1.5358 at the step hint, 0.011 above the target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from bench.workload import Batch, Workload, WorkloadSpec
from workloads import _pipeline, targets

SPLIT_NAMES = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class HMMSource:
    """The hidden Markov model and how many sequences each split draws from it."""

    vocab_size: int = 32
    num_states: int = 32
    transition_concentration: float = 0.02  # Dirichlet prior of each row of A
    emission_concentration: float = 0.02  # Dirichlet prior of each row of B
    sequence_length: int = 32  # tokens the model reads; each sequence has one more
    train_sequences: int = 50_000
    validation_sequences: int = 1_024
    test_sequences: int = 1_024
    seed: int = 0

    def split_size(self, split: str) -> int:
        """Sequences in `split` ("train", "validation" or "test")."""
        return getattr(self, f"{split}_sequences")


@dataclasses.dataclass(frozen=True)
class HMM:
    """Transition `A[i, j] = p(z_{t+1}=j | z_t=i)`, emission `B[i, k] = p(x_t=k | z_t=i)` and
    the initial state distribution `initial`."""

    transition: np.ndarray
    emission: np.ndarray
    initial: np.ndarray


def stationary_distribution(transition: np.ndarray) -> np.ndarray:
    """The `pi` with `pi A = pi` and `sum(pi) = 1`, solved by least squares (for a chain with
    several closed classes, where it is not unique, one of them)."""
    num_states = len(transition)
    equations = np.vstack([transition.T - np.eye(num_states), np.ones(num_states)])
    right = np.zeros(num_states + 1)
    right[-1] = 1.0
    pi = np.clip(np.linalg.lstsq(equations, right, rcond=None)[0], 0.0, None)
    return pi / pi.sum()


def draw_hmm(source: HMMSource) -> HMM:
    """The source's HMM, a function of its sizes, concentrations and seed."""
    rng = np.random.default_rng([source.seed, 0])
    transition = rng.dirichlet(np.full(source.num_states, source.transition_concentration),
                               size=source.num_states)
    emission = rng.dirichlet(np.full(source.vocab_size, source.emission_concentration),
                             size=source.num_states)
    return HMM(transition, emission, stationary_distribution(transition))


def _draw_rows(cumulative: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw from each distribution `cumulative[rows[n]]` (inverse transform sampling)."""
    uniform = rng.random((len(rows), 1))
    return np.minimum((cumulative[rows] < uniform).sum(axis=1), cumulative.shape[1] - 1)


def sample_sequences(hmm: HMM, num_sequences: int, length: int,
                     rng: np.random.Generator) -> np.ndarray:
    """`num_sequences` independent token sequences of `length` tokens, int32."""
    next_state = np.cumsum(hmm.transition, axis=1)
    emit = np.cumsum(hmm.emission, axis=1)
    states = _draw_rows(np.cumsum(hmm.initial)[None], np.zeros(num_sequences, int), rng)
    tokens = np.empty((num_sequences, length), np.int32)
    for position in range(length):
        tokens[:, position] = _draw_rows(emit, states, rng)
        states = _draw_rows(next_state, states, rng)
    return tokens


def make_splits(source: HMMSource) -> dict[str, np.ndarray]:
    """Each split's sequences, int32 [n, sequence_length + 1]. Every split has its own random
    stream, so one split's size does not change another's sequences."""
    hmm = draw_hmm(source)
    return {
        split: sample_sequences(hmm, source.split_size(split), source.sequence_length + 1,
                                np.random.default_rng([source.seed, 1 + index]))
        for index, split in enumerate(SPLIT_NAMES)
    }


def conditional_log_probs(hmm: HMM, tokens: np.ndarray) -> np.ndarray:
    """`log p(x_t | x_<t)` under the HMM for every position of every sequence, [n, length],
    by the forward algorithm (see the module docstring), normalised at each step."""
    belief = np.tile(hmm.initial, (len(tokens), 1))  # p(z_t | x_<t), one row per sequence
    log_probs = np.empty(tokens.shape)
    for position in range(tokens.shape[1]):
        joint = belief * hmm.emission[:, tokens[:, position]].T  # p(z_t, x_t | x_<t)
        prob = joint.sum(axis=1)
        log_probs[:, position] = np.log(prob)
        belief = (joint / prob[:, None]) @ hmm.transition
    return log_probs


def cross_entropy_floor(hmm: HMM, tokens: np.ndarray) -> float:
    """The mean `-log p(x_t | x_<t)` over the tokens a model predicts (all but each first):
    the validation cross-entropy of the best possible predictor, in nats per token."""
    return float(-conditional_log_probs(hmm, tokens)[:, 1:].mean())


# ------------------------------------------------------------------------------------ the model


@dataclasses.dataclass(frozen=True)
class LMConfig:
    vocab_size: int
    sequence_length: int
    width: int = 32
    num_layers: int = 2
    num_heads: int = 4


class DecoderBlock(nn.Module):
    """Pre-layer-norm block: x + causal attention(LN(x)), then x + MLP(LN(x))."""

    width: int
    num_heads: int

    @nn.compact
    def __call__(self, x, mask):
        y = nn.LayerNorm()(x)
        x = x + nn.MultiHeadDotProductAttention(num_heads=self.num_heads)(y, y, mask=mask)
        y = nn.Dense(4 * self.width)(nn.LayerNorm()(x))
        return x + nn.Dense(self.width)(nn.gelu(y))


class CausalLM(nn.Module):
    """Token sequences [batch, length] -> next-token logits [batch, length, vocab]."""

    config: LMConfig

    @nn.compact
    def __call__(self, tokens):
        cfg = self.config
        x = nn.Embed(cfg.vocab_size, cfg.width)(tokens)
        positions = self.param(
            "position_embedding", nn.initializers.normal(0.02), (cfg.sequence_length, cfg.width))
        x = x + positions[: tokens.shape[1]]
        mask = nn.make_causal_mask(tokens)
        for _ in range(cfg.num_layers):
            x = DecoderBlock(cfg.width, cfg.num_heads)(x, mask)
        return nn.Dense(cfg.vocab_size)(nn.LayerNorm()(x))


# --------------------------------------------------------------------------------- the workload


class SyntheticLMWorkload(Workload):
    """Next-token prediction on HMM sequences; target: validation cross-entropy (nats/token).

    A batch is {"tokens": int32 [batch, sequence_length + 1]}; the model reads `tokens[:, :-1]`
    and is scored on `tokens[:, 1:]`. In evaluation every predicted token is one example
    ("count"), so the metrics are means over tokens. Evaluation batches are small because on
    2 CPU cores a split evaluated 64 sequences at a time took 0.037 s, 512 at a time 0.085 s.
    """

    def __init__(self, spec: WorkloadSpec, source: HMMSource, width: int = 32,
                 num_layers: int = 2, num_heads: int = 4, eval_batch_size: int = 64):
        self.spec = spec
        self.source = source
        self.model = CausalLM(LMConfig(source.vocab_size, source.sequence_length, width,
                                       num_layers, num_heads))
        self.eval_batch_size = eval_batch_size
        self._data: dict[str, np.ndarray] | None = None

    def load(self, data_dir: str | None = None) -> None:
        if self._data is None:
            self._data = make_splits(self.source)

    @property
    def num_train_examples(self) -> int:
        return self.source.split_size("train")

    def _split(self, split: str) -> np.ndarray:
        if self._data is None:
            raise RuntimeError(f"workload {self.name}: call load() first")
        return self._data[split]

    def validation_floor(self) -> float:
        """The best possible validation cross-entropy (`cross_entropy_floor`), nats per token."""
        return cross_entropy_floor(draw_hmm(self.source), self._split("validation"))

    def init(self, rng):
        if not hasattr(self, "_jitted_init"):  # compiled once: faster than flax's op-by-op init
            self._jitted_init = jax.jit(self.model.init)
        tokens = jnp.zeros((1, self.source.sequence_length), jnp.int32)
        return self._jitted_init(rng, tokens)["params"], {}

    def _token_losses(self, params, tokens):
        """Per-token cross-entropy and whether the argmax is right, [batch, sequence_length]."""
        logits = self.model.apply({"params": params}, tokens[:, :-1])
        next_tokens = tokens[:, 1:]
        losses = optax.softmax_cross_entropy_with_integer_labels(logits, next_tokens)
        return losses, jnp.argmax(logits, axis=-1) == next_tokens

    def loss(self, params, model_state, batch: Batch, rng, train: bool):
        losses, _ = self._token_losses(params, batch["tokens"])
        return losses.mean(), model_state

    def train_batches(self, batch_size: int, seed: int) -> Iterator[Batch]:
        return _pipeline.ShuffledArrays({"tokens": self._split("train")}, batch_size, seed)

    def eval_batches(self, split: str) -> Iterator[Batch]:
        tokens = self._split(split)
        size = min(self.eval_batch_size, len(tokens))
        for index, mask in _pipeline.eval_index_batches(len(tokens), size):
            yield {"tokens": tokens[index], "mask": mask}

    def eval_sums(self, params, model_state, batch: Batch):
        losses, correct = self._token_losses(params, batch["tokens"])
        mask = batch["mask"][:, None]  # one per sequence, for each of its tokens
        return {
            "loss": jnp.sum(losses * mask),
            "accuracy": jnp.sum(correct * mask),
            "count": jnp.sum(mask) * losses.shape[1],
        }


SYNTHETIC_LM = SyntheticLMWorkload(
    WorkloadSpec(
        name="synthetic_lm",
        tier="cpu",
        dataset="sequences of a random HMM (32 states, 32 tokens, 33 tokens each; 50k/1k/1k)",
        model="causal Transformer, 2 layers, width 32, 4 heads",
        target_metric="loss",
        test_target=None,
        higher_is_better=False,
        eval_period=0.5,
        batch_size=32,
        description="Next-token prediction on hidden-Markov-model sequences, small Transformer",
        **targets.spec_fields("synthetic_lm"),
    ),
    HMMSource(),
)

WORKLOADS = [SYNTHETIC_LM]
