"""Sentence-order pairs from the sharded corpus, as google-research/albert's create_pretraining_data.

Paper section 4.1 and the reference code: within a document, consecutive sentences are gathered
until they reach a target length (the whole ``max_seq_length - 3``, or with ``short_seq_prob`` a
random shorter one, drawn once per document); the chunk is cut at a random sentence boundary into
segment A and segment B, which are swapped half the time (sentence-order label 1); the longer
segment is then trimmed one token at a time, from the front or the back at random, until the
pair fits. Input: ``[CLS] A [SEP] B [SEP]``.

Two departures, both to use data the reference would waste:

* a chunk of one sentence is cut inside the sentence (the reference pairs it with a random
  other document, an NSP-style negative that ALBERT's sentence-order task does not want);
* a sentence longer than half the pair budget is first cut into pieces of half the budget, so a
  long record gives several pairs instead of one heavily trimmed one.

An instance is only six numbers (shard, the token ranges of A and B, the label), since
consecutive sentences are contiguous in a shard; an epoch's instances are a small array, rebuilt
from ``(seed, epoch)`` whenever needed, so the pairs differ between epochs and resuming is exact.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from ...errors import InputError, OptionError
from ...tokenization_base import pad_batch
from .shards import ShardedCorpus

INSTANCE_DTYPE = np.dtype(
    [
        ("shard", np.int32),
        ("a_start", np.int64),
        ("a_end", np.int64),
        ("b_start", np.int64),
        ("b_end", np.int64),
        ("sentence_order_label", np.int8),  # 1: the segments were swapped
    ]
)

#: [CLS] A [SEP] B [SEP]
SPECIAL_TOKENS_PER_PAIR = 3


def pair_budget(max_seq_length: int) -> int:
    """Tokens left for the two segments once [CLS] and two [SEP] are placed."""
    if max_seq_length < SPECIAL_TOKENS_PER_PAIR + 2:
        raise OptionError(f"max_seq_length must be at least 5 to hold a pair of segments, got {max_seq_length}")
    return max_seq_length - SPECIAL_TOKENS_PER_PAIR


def trimmed_lengths(length_a: int, length_b: int, budget: int) -> tuple[int, int]:
    """Lengths after the reference's trimming: drop one token at a time from the longer segment
    (from B on a tie) until both fit in ``budget``; computed in closed form."""
    excess = length_a + length_b - budget
    if excess <= 0:
        return length_a, length_b
    if length_a > length_b:
        step = min(excess, length_a - length_b)
        length_a -= step
    else:
        step = min(excess, length_b - length_a)
        length_b -= step
    excess -= step
    # Now equal (or done): B loses a token first, then they alternate.
    return length_a - excess // 2, length_b - (excess + 1) // 2


def _coin_flips(rng: random.Random, count: int) -> int:
    """How many of ``count`` fair coins came up heads (a Binomial(count, 1/2) draw)."""
    return rng.getrandbits(count).bit_count() if count > 0 else 0


def _trim(rng: random.Random, start: int, end: int, keep: int) -> tuple[int, int]:
    """Keep ``keep`` tokens of [start, end), each dropped token from the front or back at random."""
    dropped = end - start - keep
    from_front = _coin_flips(rng, dropped)
    return start + from_front, start + from_front + keep


def _split_long_sentences(starts: list[int], piece_length: int) -> list[int]:
    """Sentence start offsets (with the end offset last), sentences longer than ``piece_length``
    cut into pieces of that length (two of which just fill a pair)."""
    out = [starts[0]]
    for start, end in zip(starts, starts[1:]):
        if end - start > piece_length:
            out.extend(range(start + piece_length, end, piece_length))
        out.append(end)
    return out


def document_pairs(
    sentence_starts: list[int],
    budget: int,
    short_seq_prob: float,
    rng: random.Random,
    shard: int = 0,
) -> list[tuple[int, int, int, int, int, int]]:
    """The sentence-order pairs of one document.

    Args:
        sentence_starts: token offsets of the document's sentences in its shard, with the end
            offset of the last sentence appended.
        budget: tokens for A and B together (``max_seq_length - 3``).
        short_seq_prob: probability that the document uses a random shorter target length.
        rng: the epoch's random stream (consumed in a fixed order: results are reproducible).

    Returns:
        Tuples ``(shard, a_start, a_end, b_start, b_end, sentence_order_label)``.
    """
    starts = _split_long_sentences(sentence_starts, max(1, -(-budget // 2)))
    target = budget
    if rng.random() < short_seq_prob:
        target = rng.randint(2, budget)
    pairs = []
    chunk_first = 0  # index of the chunk's first sentence
    last = len(starts) - 2
    for index in range(last + 1):
        if index < last and starts[index + 1] - starts[chunk_first] < target:
            continue
        chunk_start, chunk_end = starts[chunk_first], starts[index + 1]
        sentences = index - chunk_first + 1
        if sentences >= 2:
            cut = starts[chunk_first + rng.randint(1, sentences - 1)]
        elif chunk_end - chunk_start >= 2:
            cut = rng.randint(chunk_start + 1, chunk_end - 1)
        else:
            chunk_first = index + 1
            continue  # a one-token document chunk cannot make a pair
        a_start, a_end, b_start, b_end = chunk_start, cut, cut, chunk_end
        label = 1 if rng.random() < 0.5 else 0
        if label:
            a_start, a_end, b_start, b_end = b_start, b_end, a_start, a_end
        keep_a, keep_b = trimmed_lengths(a_end - a_start, b_end - b_start, budget)
        a_start, a_end = _trim(rng, a_start, a_end, keep_a)
        b_start, b_end = _trim(rng, b_start, b_end, keep_b)
        pairs.append((shard, a_start, a_end, b_start, b_end, label))
        chunk_first = index + 1
    return pairs


def epoch_instances(
    corpus: ShardedCorpus, max_seq_length: int, short_seq_prob: float, seed: int, epoch: int, shuffle: bool = True
) -> np.ndarray:
    """All sentence-order pairs of one pass over the corpus, shuffled; a structured array of
    :data:`INSTANCE_DTYPE`. The same ``(seed, epoch)`` always gives the same array.

    Raises:
        ValueError: the corpus yields no pair at all (every document is a single token).
    """
    if not 0 <= short_seq_prob <= 1:
        raise OptionError(f"short_seq_prob must be in [0, 1], got {short_seq_prob}")
    budget = pair_budget(max_seq_length)
    rng = random.Random(f"albert-pairs:{seed}:{epoch}")
    per_shard = []
    for shard_index, shard in enumerate(corpus.shards):
        sentence_offsets = shard.sentences.tolist()
        document_offsets = shard.documents.tolist()
        pairs: list[tuple[int, int, int, int, int, int]] = []
        for first, end in zip(document_offsets, document_offsets[1:]):
            pairs.extend(
                document_pairs(sentence_offsets[first:end + 1], budget, short_seq_prob, rng, shard_index)
            )
        per_shard.append(np.array(pairs, dtype=INSTANCE_DTYPE))  # 37 bytes a pair, not a Python tuple
    instances = np.concatenate(per_shard)
    if not len(instances):
        raise InputError(
            f"the {corpus.split!r} data in {corpus.folder} gives no sentence pairs (its documents are "
            "too short); give it more text"
        )
    if shuffle:
        np.random.default_rng([seed, epoch, 0x5EED]).shuffle(instances)
    return instances


class InstanceStream:
    """An endless, resumable stream of instances: epoch after epoch, each freshly built and shuffled.

    Its state is just ``(epoch, position)``; :meth:`take` always returns the same instances for
    the same state, which is what makes an interrupted run resume exactly.
    """

    def __init__(
        self,
        corpus: ShardedCorpus,
        max_seq_length: int,
        short_seq_prob: float,
        seed: int,
        epoch: int = 0,
        position: int = 0,
    ) -> None:
        self.corpus, self.max_seq_length, self.short_seq_prob, self.seed = corpus, max_seq_length, short_seq_prob, seed
        self.epoch, self.position = epoch, position
        self._instances = self._build(epoch)

    def _build(self, epoch: int) -> np.ndarray:
        return epoch_instances(self.corpus, self.max_seq_length, self.short_seq_prob, self.seed, epoch)

    @property
    def epoch_size(self) -> int:
        return len(self._instances)

    def take(self, count: int) -> np.ndarray:
        """The next ``count`` instances, crossing into the next epoch when this one runs out."""
        parts = []
        while count > 0:
            if self.position >= len(self._instances):
                self.epoch, self.position = self.epoch + 1, 0
                self._instances = self._build(self.epoch)
            part = self._instances[self.position:self.position + count]
            parts.append(part)
            self.position += len(part)
            count -= len(part)
        return np.concatenate(parts) if len(parts) != 1 else parts[0]

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}


def collate_pairs(
    corpus: ShardedCorpus,
    instances: np.ndarray,
    cls_token_id: int,
    sep_token_id: int,
    pad_token_id: int,
    pad_to_multiple_of: int = 8,
) -> dict[str, Any]:
    """Build ``[CLS] A [SEP] B [SEP]`` rows, padded to the longest row of the batch.

    Returns numpy arrays: ``input_ids``, ``token_type_ids``, ``attention_mask`` (B, L),
    ``special_tokens_mask`` (True at [CLS], [SEP] and padding: never masked), and
    ``sentence_order_label`` (B,).
    """
    cls, sep = np.array([cls_token_id]), np.array([sep_token_id])
    spans = zip(*(instances[key].tolist() for key in ("shard", "a_start", "a_end", "b_start", "b_end")))
    rows = []
    for shard, a_start, a_end, b_start, b_end in spans:
        tokens = corpus.shards[shard].tokens
        rows.append(np.concatenate((cls, tokens[a_start:a_end], sep, tokens[b_start:b_end], sep)))
    batch = pad_batch(rows, pad_token_id, pad_to_multiple_of=pad_to_multiple_of)
    positions = np.arange(batch["input_ids"].shape[1])[None, :]
    lengths_a = (instances["a_end"] - instances["a_start"])[:, None]
    row_lengths = batch["attention_mask"].sum(axis=1, keepdims=True)
    batch["token_type_ids"] = ((positions >= 2 + lengths_a) & (positions < row_lengths)).astype(np.int64)
    batch["special_tokens_mask"] = (
        (positions == 0)
        | (positions == 1 + lengths_a)
        | (positions >= row_lengths - 1)  # the last [SEP] and the padding
    )
    batch["sentence_order_label"] = instances["sentence_order_label"].astype(np.int64)
    return batch
