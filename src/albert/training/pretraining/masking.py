"""N-gram whole-word masking for the masked-LM objective (ALBERT paper section 4.1), on whole batches.

What the paper and google-research/albert prescribe:

* masks cover whole words: a word is a piece starting with "▁" and the pieces that follow it
  (as in the reference, punctuation, digits and non-Latin pieces count as words of their own);
* masked spans are n-grams of up to 3 words, with p(n) proportional to 1/n (6/11, 3/11, 2/11);
* 15% of the (maskable) tokens are predicted, at most ``max_predictions_per_seq`` per row;
* a predicted token becomes [MASK] 80% of the time, a random token 10%, itself 10%;
* [CLS], [SEP] and padding are never masked.

How it is computed without a Python loop per token: each row's words are tiled into consecutive
spans whose lengths are drawn from p(n); the spans are put in a random order and taken while
their tokens fit in the row's budget; a second pass fills what is left of the budget with the
first word of spans that did not fit (the reference's fallback to a shorter n-gram). The
reference instead tries random start words one by one, rejecting overlaps; both give
non-overlapping whole-word n-grams with the same length law, up to the small bias that filling
an exact budget puts on short spans (present in the reference too).

Masks are drawn from the generator passed in, a fresh one per step in training, so every epoch
sees new masks (dynamic masking) and a resumed run draws the very same ones.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...errors import CheckpointError, OptionError

IGNORE_INDEX = -100

_PUNCTUATION = frozenset(string.punctuation)


def is_word_start(piece: str) -> bool:
    """Whether a SentencePiece piece begins a word: it starts with "▁", or it is not made of
    Latin letters (punctuation, digits, other scripts), as google-research/albert decides."""
    if piece.startswith("\u2581"):
        return True
    if len(piece) == 1 and piece in _PUNCTUATION:
        return True
    return not all(char.isascii() and (char.isalpha() or char in _PUNCTUATION) for char in piece)


def word_start_table(pieces: Sequence[str], special_ids: Sequence[int] = ()) -> np.ndarray:
    """A boolean per vocabulary id: does that piece begin a word? Special ids count as words."""
    table = np.fromiter((is_word_start(piece) for piece in pieces), dtype=bool, count=len(pieces))
    table[list(special_ids)] = True
    return table


@dataclass
class MaskedBatch:
    """The model input with masks applied, and the labels (-100 where nothing is predicted)."""

    input_ids: np.ndarray  # (B, L)
    labels: np.ndarray  # (B, L): the original id at predicted positions, else -100
    span_lengths: np.ndarray  # words in each masked span (for statistics and tests)


class NgramMasker:
    """Draws n-gram whole-word masks for batches of rows.

    Args:
        word_starts: :func:`word_start_table` of the vocabulary.
        mask_token_id: id of [MASK].
        replacement_ids: ids a token may be replaced by in the "random token" case (the
            vocabulary without special tokens).
        masked_lm_prob: share of maskable tokens to predict (0.15).
        max_predictions_per_seq: cap on predicted tokens per row (20 for 512 in the paper's runs).
        max_ngram: longest span in words (3).
    """

    def __init__(
        self,
        word_starts: np.ndarray,
        mask_token_id: int,
        replacement_ids: np.ndarray,
        masked_lm_prob: float = 0.15,
        max_predictions_per_seq: int = 20,
        max_ngram: int = 3,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
    ) -> None:
        if not 0 < masked_lm_prob < 1:
            raise OptionError(f"masked_lm_prob must be in (0, 1), got {masked_lm_prob}")
        if max_predictions_per_seq < 1:
            raise OptionError(f"max_predictions_per_seq must be at least 1, got {max_predictions_per_seq}")
        if max_ngram < 1:
            raise OptionError(f"max_ngram must be at least 1, got {max_ngram}")
        if len(replacement_ids) == 0:
            raise CheckpointError("replacement_ids is empty: the vocabulary has no ordinary tokens")
        self.word_starts = np.asarray(word_starts, dtype=bool)
        self.mask_token_id = mask_token_id
        self.replacement_ids = np.asarray(replacement_ids, dtype=np.int64)
        self.masked_lm_prob = masked_lm_prob
        self.max_predictions_per_seq = max_predictions_per_seq
        inverse = 1.0 / np.arange(1, max_ngram + 1)
        self.ngram_probs = inverse / inverse.sum()
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob

    def budget(self, maskable_tokens: np.ndarray) -> np.ndarray:
        """Tokens to predict per row: 15% of its maskable tokens (at least 1), capped."""
        wanted = np.maximum(1, np.floor(maskable_tokens * self.masked_lm_prob + 0.5)).astype(np.int64)
        return np.where(maskable_tokens > 0, np.minimum(wanted, self.max_predictions_per_seq), 0)

    def __call__(self, input_ids: np.ndarray, special_tokens_mask: np.ndarray, rng: np.random.Generator) -> MaskedBatch:
        """Mask a batch. ``special_tokens_mask`` is True where nothing may be masked ([CLS],
        [SEP], padding). Neither input is modified."""
        input_ids = np.asarray(input_ids)
        batch_size = input_ids.shape[0]
        rows = np.arange(batch_size)[:, None]
        maskable = ~np.asarray(special_tokens_mask, dtype=bool)

        # Words: a maskable token starts one if its piece does or if the token before is special.
        previous_maskable = np.zeros_like(maskable)
        previous_maskable[:, 1:] = maskable[:, :-1]
        word_start = maskable & (self.word_starts[input_ids] | ~previous_maskable)
        word_of_token = np.cumsum(word_start, axis=1) - 1  # (B, L), meaningful where maskable
        words_per_row = word_start.sum(axis=1)
        num_words = max(int(words_per_row.max(initial=0)), 1)
        flat_word = (rows * num_words + word_of_token)[maskable]
        tokens_per_word = np.bincount(flat_word, minlength=batch_size * num_words).reshape(batch_size, num_words)

        # Tile each row's words into consecutive spans of 1..max_ngram words, p(n) ~ 1/n.
        drawn = rng.choice(len(self.ngram_probs), size=(batch_size, num_words), p=self.ngram_probs) + 1
        first_word = np.cumsum(drawn, axis=1) - drawn  # (B, num_words) increasing
        span_starts = np.zeros((batch_size, num_words), dtype=bool)
        inside = first_word < words_per_row[:, None]
        span_starts[np.broadcast_to(rows, first_word.shape)[inside], first_word[inside]] = True
        span_of_word = np.cumsum(span_starts, axis=1) - 1  # (B, num_words)
        real_word = np.arange(num_words)[None, :] < words_per_row[:, None]
        flat_span = (rows * num_words + span_of_word)[real_word]
        size = batch_size * num_words
        tokens_per_span = np.bincount(flat_span, weights=tokens_per_word[real_word], minlength=size)
        tokens_per_span = tokens_per_span.astype(np.int64).reshape(batch_size, num_words)
        words_per_span = np.bincount(flat_span, minlength=size).reshape(batch_size, num_words)

        # Take spans in a random order while they fit the budget. Then fill what is left with
        # the first word of spans that did not fit (the reference's fallback to a shorter n-gram).
        budget = self.budget(maskable.sum(axis=1))[:, None]
        priority = rng.random((batch_size, num_words))
        priority[tokens_per_span == 0] = 2.0  # not a span: last
        order = np.argsort(priority, axis=1)
        sorted_tokens = np.take_along_axis(tokens_per_span, order, axis=1)
        is_span = sorted_tokens > 0
        taken = is_span & (np.cumsum(sorted_tokens, axis=1) <= budget)
        left = budget - (sorted_tokens * taken).sum(axis=1, keepdims=True)
        first_word_of_span = np.where(span_starts, np.arange(num_words)[None, :], num_words - 1)
        first_word_of_span = np.sort(first_word_of_span, axis=1)  # span k starts at word [k]
        first_word_tokens = np.take_along_axis(tokens_per_word, first_word_of_span, axis=1)
        sorted_first_tokens = np.take_along_axis(first_word_tokens, order, axis=1)
        fits = is_span & ~taken & (sorted_first_tokens <= left)
        shortened = fits & (np.cumsum(sorted_first_tokens * fits, axis=1) <= left)
        selected_span = np.zeros_like(taken)
        np.put_along_axis(selected_span, order, taken, axis=1)
        shortened_span = np.zeros_like(shortened)
        np.put_along_axis(shortened_span, order, shortened, axis=1)

        # A word is selected with its whole span, or as the first word of a shortened one.
        is_first_word = np.zeros((batch_size, num_words), dtype=bool)
        is_first_word[:, 0] = True
        is_first_word[:, 1:] = span_of_word[:, 1:] != span_of_word[:, :-1]
        selected_word = np.take_along_axis(selected_span, span_of_word, axis=1) | (
            np.take_along_axis(shortened_span, span_of_word, axis=1) & is_first_word
        )
        selected = maskable & np.take_along_axis(selected_word, np.clip(word_of_token, 0, num_words - 1), axis=1)
        span_lengths = np.concatenate([words_per_span[selected_span], np.ones(int(shortened_span.sum()), np.int64)])

        # 80% [MASK], 10% a random ordinary token, 10% unchanged (decided per token, as the reference).
        draw = rng.random(input_ids.shape)
        to_mask = selected & (draw < self.mask_replace_prob)
        to_random = selected & (draw >= self.mask_replace_prob) & (
            draw < self.mask_replace_prob + self.random_replace_prob
        )
        masked_ids = input_ids.copy()
        masked_ids[to_mask] = self.mask_token_id
        masked_ids[to_random] = self.replacement_ids[rng.integers(0, len(self.replacement_ids), int(to_random.sum()))]
        labels = np.where(selected, input_ids, IGNORE_INDEX)
        return MaskedBatch(masked_ids, labels, span_lengths)


def default_max_predictions(max_seq_length: int, masked_lm_prob: float = 0.15) -> int:
    """``ceil(max_seq_length * masked_lm_prob)``: 20 for 128 tokens, as BERT's and ALBERT's scripts."""
    return int(np.ceil(max_seq_length * masked_lm_prob))
