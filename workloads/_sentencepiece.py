"""SentencePiece tokenizers as AlgoPerf trains and uses them (WMT and LibriSpeech).

AlgoPerf (algorithmic_efficiency/workloads/wmt/tokenizer.py and datasets/librispeech_tokenizer.py,
v0.5.0) trains a unigram SentencePiece model (Kudo & Richardson 2018, arXiv 1808.06226) on the
first ~10^7 characters of the training text, one sentence per line, with character coverage
1.0 and SentencePiece's default special ids (unk 0, bos 1, eos 2, no pad id); texts are encoded
with EOS appended and no BOS. Id 0 (unk) doubles as padding in the batches and as the CTC blank.

`Tokenizer` is the small interface the workloads need (`encode`, `decode`), so that fake-data
workloads can use `WordTokenizer` (id n <-> the word "wn") without a trained model.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

UNK_ID = 0
EOS_ID = 2
MAX_CORPUS_CHARS = 10**7


class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


class SentencePieceTokenizer:
    """A trained SentencePiece model: `encode` appends EOS, `decode` stops at the first EOS."""

    def __init__(self, model_path: str):
        import sentencepiece

        self.model_path = str(model_path)
        self._processor = sentencepiece.SentencePieceProcessor(model_file=self.model_path)
        self.vocab_size = self._processor.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return list(self._processor.encode(text, add_eos=True))

    def decode(self, ids: Sequence[int]) -> str:
        return self._processor.decode(_until_eos(ids))


class WordTokenizer:
    """Id n <-> word "wn" (n >= 3): a stand-in for fake data; `decode` skips ids below 3."""

    def encode(self, text: str) -> list[int]:
        return [int(word[1:]) for word in text.split()] + [EOS_ID]

    def decode(self, ids: Sequence[int]) -> str:
        return " ".join(f"w{i}" for i in _until_eos(ids) if i > EOS_ID)


def _until_eos(ids: Sequence[int]) -> list[int]:
    ids = [int(i) for i in np.asarray(ids).ravel()]
    return ids[: ids.index(EOS_ID)] if EOS_ID in ids else ids


def train(
    lines: Iterable[str], model_path: str, vocab_size: int, max_chars: int = MAX_CORPUS_CHARS
) -> SentencePieceTokenizer:
    """Train a unigram model on `lines` (read until `max_chars` characters) into `model_path`."""
    import sentencepiece

    with tempfile.TemporaryDirectory() as scratch:
        corpus = os.path.join(scratch, "corpus.txt")
        count = 0
        with open(corpus, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line.rstrip("\n") + "\n")
                count += len(line) + 1
                if count >= max_chars:
                    break
        prefix = os.path.join(scratch, "spm")
        try:
            sentencepiece.SentencePieceTrainer.train(
                input=corpus, model_prefix=prefix, vocab_size=vocab_size,
                character_coverage=1.0, model_type="unigram", minloglevel=2,
            )
        except RuntimeError as error:  # e.g. too little text for the vocabulary size
            reason = str(error).splitlines()[-1].rpartition("] ")[2]
            raise ValueError(
                f"training a {vocab_size}-piece vocabulary on {count:,} characters failed: {reason}"
            ) from None
        os.makedirs(os.path.dirname(os.path.abspath(model_path)), exist_ok=True)
        partial = f"{model_path}.{os.getpid()}.tmp"
        with open(prefix + ".model", "rb") as source, open(partial, "wb") as target:
            target.write(source.read())
        os.replace(partial, model_path)
    return SentencePieceTokenizer(model_path)
