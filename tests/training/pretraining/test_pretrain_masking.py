"""N-gram whole-word masking: the statistics the ALBERT paper prescribes, measured over many draws."""

from __future__ import annotations

import numpy as np
import pytest

from albert.training.pretraining.masking import (
    IGNORE_INDEX,
    NgramMasker,
    default_max_predictions,
    is_word_start,
    word_start_table,
)

MASK_ID = 4
SPECIAL_IDS = [0, 1, 2, 3, 4]


def _vocabulary() -> list[str]:
    """A small vocabulary: specials, word-starting pieces, continuation pieces, punctuation."""
    pieces = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]
    pieces += [f"\u2581w{i}" for i in range(60)]  # start a word
    pieces += [f"x{chr(97 + i)}" for i in range(20)]  # continue a word (Latin letters only)
    pieces += [",", ".", "\u2581"]
    return pieces


VOCAB = _vocabulary()
STARTS = [i for i, p in enumerate(VOCAB) if p.startswith("\u2581w")]
CONTINUATIONS = [i for i, p in enumerate(VOCAB) if p.startswith("x")]


def _batch(rng: np.random.Generator, rows: int = 256, length: int = 128):
    """Rows of [CLS] words [SEP] words [SEP] pad..., words of 1-3 pieces, every 4th row shorter."""
    words = rows * length
    pieces_per_word = 1 + rng.integers(0, 3, words)
    stream = rng.choice(CONTINUATIONS, int(pieces_per_word.sum()))
    stream[np.cumsum(pieces_per_word) - pieces_per_word] = rng.choice(STARTS, words)
    input_ids = np.zeros((rows, length), dtype=np.int64)
    special = np.ones((rows, length), dtype=bool)
    for row in range(rows):
        used = length - 1 if row % 4 else int(rng.integers(12, length - 1))
        tokens = stream[row * length : row * length + used - 3]
        cut = len(tokens) // 2
        sequence = [2, *tokens[:cut], 3, *tokens[cut:], 3]
        input_ids[row, : len(sequence)] = sequence
        special[row, 1 : 1 + cut] = False
        special[row, 2 + cut : len(sequence) - 1] = False
    return input_ids, special


def _word_groups(row_ids: np.ndarray, row_special: np.ndarray, table: np.ndarray) -> list[list[int]]:
    groups: list[list[int]] = []
    for position, (token, is_special) in enumerate(zip(row_ids, row_special)):
        if is_special:
            continue
        if groups and not table[token] and groups[-1][-1] == position - 1:
            groups[-1].append(position)
        else:
            groups.append([position])
    return groups


@pytest.fixture(scope="module")
def masker() -> NgramMasker:
    replacement = np.setdiff1d(np.arange(len(VOCAB)), SPECIAL_IDS)
    return NgramMasker(word_start_table(VOCAB, SPECIAL_IDS), MASK_ID, replacement, max_predictions_per_seq=20)


@pytest.fixture(scope="module")
def draws(masker: NgramMasker):
    """20 batches of 256 rows, each masked with its own generator."""
    results = []
    for seed in range(20):
        input_ids, special = _batch(np.random.default_rng(seed))
        results.append((input_ids, special, masker(input_ids, special, np.random.default_rng(1000 + seed))))
    return results


def test_word_starts_follow_the_sentencepiece_boundary() -> None:
    assert is_word_start("\u2581the")
    assert not is_word_start("ing")  # a continuation of Latin letters
    assert is_word_start(",") and is_word_start("99") and is_word_start("\u00e9t\u00e9")  # as the reference
    table = word_start_table(["<pad>", "<unk>", "abc"], special_ids=[0, 1])
    assert table.tolist() == [True, True, False]


def test_masks_about_15_percent_of_maskable_tokens(draws) -> None:
    selected = sum(int((out.labels != IGNORE_INDEX).sum()) for _, _, out in draws)
    maskable = sum(int((~special).sum()) for _, special, _ in draws)
    assert 0.14 <= selected / maskable <= 0.155


def test_every_row_gets_its_budget_capped_by_max_predictions(draws, masker: NgramMasker) -> None:
    for _, special, out in draws:
        per_row = (out.labels != IGNORE_INDEX).sum(axis=1)
        budget = masker.budget((~special).sum(axis=1))
        assert per_row.max() <= 20 and (per_row <= budget).all()
        # Words here have at most 3 pieces, so a budget of 3 always fits one (as in the
        # reference, a smaller budget may fit no whole word at all).
        assert (per_row[budget >= 3] >= 1).all()
        assert (budget - per_row).mean() < 0.5  # the budget is (nearly) always filled


def test_replacements_are_80_percent_mask_10_random_10_kept(draws) -> None:
    counts = np.zeros(3)
    for input_ids, _, out in draws:
        predicted = out.labels != IGNORE_INDEX
        now, before = out.input_ids[predicted], input_ids[predicted]
        counts += [(now == MASK_ID).sum(), ((now != MASK_ID) & (now != before)).sum(), (now == before).sum()]
    shares = counts / counts.sum()
    # a random replacement can draw the original token (1 in 83 here): it then counts as kept
    assert shares[0] == pytest.approx(0.8, abs=0.01)
    assert shares[1] == pytest.approx(0.1 * (1 - 1 / 83), abs=0.01)
    assert shares[2] == pytest.approx(0.1 * (1 + 1 / 83), abs=0.01)


def test_random_replacements_are_never_special_tokens(draws) -> None:
    for input_ids, _, out in draws:
        replaced = (out.labels != IGNORE_INDEX) & (out.input_ids != MASK_ID) & (out.input_ids != input_ids)
        assert not np.isin(out.input_ids[replaced], SPECIAL_IDS).any()


def test_span_lengths_follow_one_over_n() -> None:
    # Long rows of one-piece words with a large budget: filling the budget exactly, which
    # favours short spans a little (in the reference too), hardly matters here.
    words = STARTS
    masker = NgramMasker(word_start_table(VOCAB, SPECIAL_IDS), MASK_ID, np.array(words), max_predictions_per_seq=512)
    rng = np.random.default_rng(0)
    input_ids = rng.choice(words, size=(512, 512))
    special = np.zeros(input_ids.shape, dtype=bool)
    special[:, [0, 255, 511]] = True
    lengths = masker(input_ids, special, np.random.default_rng(1)).span_lengths
    shares = np.bincount(lengths, minlength=4)[1:] / len(lengths)
    assert len(lengths) > 20_000
    assert shares == pytest.approx([6 / 11, 3 / 11, 2 / 11], abs=0.015)


def test_span_lengths_on_multi_piece_words_stay_close_to_one_over_n(draws) -> None:
    # Words of 1-3 pieces and a budget of ~19 tokens: short spans fill the last tokens of the
    # budget more often, so 1-grams gain a few points (google-research/albert's procedure does
    # the same); the law's order must survive.
    lengths = np.concatenate([out.span_lengths for _, _, out in draws])
    shares = np.bincount(lengths, minlength=4)[1:] / len(lengths)
    assert shares == pytest.approx([6 / 11, 3 / 11, 2 / 11], abs=0.12)
    assert shares[0] > shares[1] > shares[2] > 0.08


def test_special_tokens_and_padding_are_never_masked_or_changed(draws) -> None:
    for input_ids, special, out in draws:
        assert (out.labels[special] == IGNORE_INDEX).all()
        assert (out.input_ids[special] == input_ids[special]).all()


def test_whole_words_are_masked_together(draws) -> None:
    table = word_start_table(VOCAB, SPECIAL_IDS)
    for input_ids, special, out in draws[:5]:
        predicted = out.labels != IGNORE_INDEX
        for row in range(len(input_ids)):
            for group in _word_groups(input_ids[row], special[row], table):
                assert len(set(predicted[row, group].tolist())) == 1, f"row {row}: word {group} partly masked"


def test_labels_hold_the_original_ids(draws) -> None:
    for input_ids, _, out in draws:
        predicted = out.labels != IGNORE_INDEX
        assert (out.labels[predicted] == input_ids[predicted]).all()


def test_masks_are_fresh_per_generator_and_reproducible(masker: NgramMasker) -> None:
    input_ids, special = _batch(np.random.default_rng(0), rows=16)
    first = masker(input_ids, special, np.random.default_rng(1))
    again = masker(input_ids, special, np.random.default_rng(1))
    other = masker(input_ids, special, np.random.default_rng(2))
    assert (first.labels == again.labels).all() and (first.input_ids == again.input_ids).all()
    assert (first.labels != other.labels).any()
    assert (input_ids[:, 0] == 2).all()  # inputs are not modified in place


def test_default_max_predictions_matches_the_reference_scripts() -> None:
    assert default_max_predictions(128) == 20
    assert default_max_predictions(512) == 77
