"""Unit tests of the tokenizer: preprocessing, the calling convention, truncation and overflow
windows, padding, decoding, saving/loading, errors, and the WordPiece variant.

They run on a tiny SentencePiece model trained in seconds (``tiny_spm`` from conftest.py); the
comparisons with transformers on ALBERT's real vocabulary are in test_tokenizer_reference.py.
"""

from __future__ import annotations

import copy
import json
import pickle
import random
import string

import numpy as np
import pytest
import torch

from albert import text_normalization
from albert.encoding_assembly import longest_first_lengths, truncate_pair
from albert.errors import OptionError
from albert.hub import ModelNotFoundError
from albert.text_normalization import align_spans, normalize, normalize_with_alignment
from albert.tokenization_base import BatchEncoding
from albert.tokenizer import AlbertTokenizer
from albert.wordpiece import AlbertWordPieceTokenizer

TEXT = "The quick brown fox jumps over the lazy dog. It was not amused, said the farmer."
OTHER = "Where did the fox jump?"


@pytest.fixture(scope="module")
def tok(tiny_spm):
    return AlbertTokenizer(tiny_spm, model_max_length=64)


def content(tokenizer, row_ids):
    """The ids of a row without [CLS]/[SEP]/padding."""
    return [index for index in row_ids if index not in tokenizer.all_special_ids]


# -- preprocessing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        ("  Hello\t\nWORLD  ", {}, "hello world"),
        ("He said ``hi'' to me", {}, 'he said "hi" to me'),
        ("Café ﬁne ｆｕｌｌ", {}, "cafe fine full"),
        ("Café", {"keep_accents": True}, "café"),
        ("Café", {"do_lower_case": False}, "Cafe"),
        ("  a  b ", {"remove_space": False}, "  a  b "),
        ("ΟΔΟΣ", {}, "οδοσ"),  # lowered character by character first: never the final ς
        ("ℌ İ", {}, "h i"),  # ℌ has no lowercase but decomposes to H, which the last step lowers
        ("e\u0301", {}, "e"),
    ],
)
def test_normalize_follows_albert_recipe(text, options, expected):
    assert normalize(text, **options) == expected


def test_lowercase_per_char_never_makes_final_sigma():
    assert text_normalization.lowercase_per_char("ΣΑΣ") == "σασ"
    assert "ΣΑΣ".lower() == "σας"  # what a plain lower() would do


@pytest.mark.parametrize(
    ("text", "expected_spans"),
    [
        ("A  b", [(0, 1), (1, 3), (3, 4)]),
        ("``x''", [(0, 2), (2, 3), (3, 5)]),
        ("ﬁ", [(0, 1), (0, 1)]),
        ("é!", [(0, 1), (1, 2)]),
        ("  x ", [(2, 3)]),
        ("İ", [(0, 1)]),
    ],
)
def test_alignment_maps_each_normalized_char_to_its_origin(text, expected_spans):
    normalized, spans = normalize_with_alignment(text)
    assert normalized == normalize(text)
    assert spans == expected_spans


def test_alignment_never_fails_on_random_text():
    pool = list(string.ascii_letters + " \t\n`'.,9") + list(
        "ΣσςİıéÅﬁﬃ½ｆ\u0301\u0308\u0345\u200b\u00a0\u3000ẞß\u212aǅℌ"
    )
    rng = random.Random(0)
    for _ in range(300):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 25)))
        for options in ({}, {"keep_accents": True}, {"do_lower_case": False, "remove_space": False}):
            normalized, spans = normalize_with_alignment(text, **options)
            assert normalized == normalize(text, **options)
            assert len(spans) == len(normalized)
            assert all(0 <= start < end <= len(text) for start, end in spans)
            assert [start for start, _ in spans] == sorted(start for start, _ in spans)


def test_alignment_falls_back_to_sequence_matching(monkeypatch):
    source_spans = [(0, 1), (1, 2), (2, 3)]
    assert align_spans("abc", source_spans, "abc") == source_spans
    assert align_spans("abc", source_spans, "axc") == [(0, 1), (1, 2), (2, 3)]
    assert align_spans("abc", source_spans, "abxc") == [(0, 1), (1, 2), (1, 2), (2, 3)]
    assert align_spans("abc", source_spans, "ac") == [(0, 1), (2, 3)]
    assert align_spans("", [], "xy") == [(0, 0), (0, 0)]
    # when the per-character replay disagrees with the real result, spans still come out right-sized
    real = text_normalization.normalize
    monkeypatch.setattr(text_normalization, "normalize", lambda text, **kwargs: real(text, **kwargs) + "!")
    normalized, spans = normalize_with_alignment("ab c")
    assert normalized == "ab c!" and len(spans) == 5 and spans[:4] == [(0, 1), (1, 2), (2, 3), (3, 4)]


# -- calling ---------------------------------------------------------------------------------------


def test_single_text_gives_flat_lists(tok):
    encoding = tok(TEXT)
    assert isinstance(encoding, BatchEncoding) and isinstance(encoding, dict)
    assert list(encoding) == ["input_ids", "token_type_ids", "attention_mask"]
    ids = encoding["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert encoding.input_ids == ids  # attribute access
    assert encoding["token_type_ids"] == [0] * len(ids) and encoding["attention_mask"] == [1] * len(ids)
    assert (
        ids
        == tok.encode(TEXT)
        == tok.build_inputs_with_special_tokens(tok.encode(TEXT, add_special_tokens=False))
    )
    assert tok.convert_tokens_to_ids(tok.tokenize(TEXT)) == ids[1:-1]


def test_batch_gives_one_row_per_text(tok):
    encoding = tok([TEXT, OTHER, ""])
    assert [row for row in encoding["input_ids"]] == [tok.encode(TEXT), tok.encode(OTHER), [2, 3]]
    assert encoding.tokens(2) == ["[CLS]", "[SEP]"]


def test_pairs_have_segments(tok):
    encoding = tok(OTHER, TEXT, return_special_tokens_mask=True)
    first, second = tok.encode(OTHER, add_special_tokens=False), tok.encode(TEXT, add_special_tokens=False)
    assert encoding["input_ids"] == [2, *first, 3, *second, 3]
    assert encoding["token_type_ids"] == [0] * (len(first) + 2) + [1] * (len(second) + 1)
    assert encoding["special_tokens_mask"] == tok.get_special_tokens_mask(first, second)
    assert encoding.sequence_ids() == [None] + [0] * len(first) + [None] + [1] * len(second) + [None]
    # a batch of pairs as two lists, or as a list of tuples
    as_lists = tok([OTHER, "a"], [TEXT, "b"])
    as_tuples = tok([(OTHER, TEXT), ("a", "b")])
    assert as_lists == as_tuples and as_lists["input_ids"][0] == encoding["input_ids"]
    # without special tokens the reference gives type 0 throughout
    plain = tok(OTHER, TEXT, add_special_tokens=False)
    assert plain["input_ids"] == first + second and plain["token_type_ids"] == [0] * len(first + second)


def test_return_tensors(tok):
    encoding = tok([TEXT, OTHER], padding=True, return_tensors="pt", return_offsets_mapping=True)
    assert encoding["input_ids"].dtype == torch.int64 and encoding["input_ids"].shape[0] == 2
    assert encoding["offset_mapping"].shape == (*encoding["input_ids"].shape, 2)
    assert encoding.to("cpu") is encoding and encoding["input_ids"].device.type == "cpu"
    assert tok(TEXT, return_tensors="pt")["input_ids"].shape == (1, len(tok.encode(TEXT)))  # batch axis kept
    as_numpy = tok([TEXT, OTHER], padding=True, return_tensors="np")
    assert isinstance(as_numpy["input_ids"], np.ndarray) and as_numpy["input_ids"].dtype == np.int64
    assert (as_numpy["input_ids"] == encoding["input_ids"].numpy()).all()
    assert encoding.word_ids(1) == tok([TEXT, OTHER], padding=True).word_ids(1)
    with pytest.raises(ValueError, match="padding=True"):
        tok([TEXT, OTHER], return_tensors="pt")  # rows of different lengths
    assert tok.encode(TEXT, return_tensors="pt").shape == (1, len(tok.encode(TEXT)))


def test_batch_encoding_helpers(tok):
    encoding = tok(TEXT)
    with pytest.raises(AttributeError, match="input_ids"):
        encoding.no_such_key  # noqa: B018
    with pytest.raises(IndexError, match="single input"):
        encoding.word_ids(1)
    with pytest.raises(IndexError, match="out of range"):
        tok([TEXT]).word_ids(3)
    restored = pickle.loads(pickle.dumps(tok([TEXT, OTHER])))
    assert restored["input_ids"] == tok([TEXT, OTHER])["input_ids"] and restored.word_ids(1) is not None
    assert copy.deepcopy(encoding) == encoding


def test_word_ids_are_computed_on_demand_and_index_words(tok):
    encoding = tok("hello world, fine day")
    word_ids = encoding.word_ids()
    assert word_ids[0] is None and word_ids[-1] is None
    assert sorted(set(word_ids[1:-1])) == [0, 1, 2, 3]
    assert word_ids == tok("hello world, fine day", return_offsets_mapping=True).word_ids()


def test_is_split_into_words(tok):
    words = ["Hello", "wor ld", "", "fox."]
    encoding = tok(words, is_split_into_words=True, return_offsets_mapping=True)
    ids = [index for word in words for index in tok.encode(word, add_special_tokens=False)]
    assert encoding["input_ids"] == [2, *ids, 3]
    word_ids = encoding.word_ids()
    assert word_ids[0] is None and set(word_ids[1:-1]) == {0, 1, 3}
    for word_id, (_, end) in zip(word_ids[1:-1], encoding["offset_mapping"][1:-1], strict=True):
        assert end <= len(words[word_id])  # offsets are within each word, as in transformers
    batch = tok([words, ["x"]], [["q"], ["y", "z"]], is_split_into_words=True)
    assert len(batch["input_ids"]) == 2 and batch.sequence_ids(1).count(1) == len(
        tok.tokenize("y") + tok.tokenize("z")
    )


def test_text_glued_to_a_special_token_has_no_word_start(tok):
    for text in ("x[MASK]y", "a [MASK].", "[CLS]hello world"):
        pieces = tok.tokenize(text)
        glued = pieces[pieces.index(text[text.index("[") : text.index("]") + 1]) + 1]
        assert not glued.startswith("▁"), (text, pieces)  # continues a word: no "▁" before it
    # after whitespace, the text after a special token starts a word as usual
    assert tok.tokenize("x [MASK] y") == tok.tokenize("x") + ["[MASK]"] + tok.tokenize("y")
    assert tok("x[MASK]y", return_offsets_mapping=True)["input_ids"] == tok("x[MASK]y")["input_ids"]


# -- truncation and overflow -----------------------------------------------------------------------


def test_longest_first_removes_from_the_longer_one_at_a_time():
    for first in range(0, 12):
        for second in range(0, 12):
            for budget in range(0, first + second + 1):
                a, b = first, second
                for _ in range(first + second - budget):
                    if a > b:
                        a -= 1
                    else:
                        b -= 1  # ties: the second loses the token, as in the reference
                assert longest_first_lengths(first, second, budget) == (a, b), (first, second, budget)


def test_truncate_pair_is_the_rule_the_tokenizer_applies(tok):
    """The public pure function and the tokenizer's truncation give the same ids, pair or not."""
    long_ids = tok.encode(TEXT, add_special_tokens=False)
    short_ids = tok.encode(OTHER, add_special_tokens=False)
    for strategy in ("longest_first", "only_first", "only_second"):
        for max_length in range(len(short_ids) + 4, len(long_ids) + len(short_ids) + 5):
            try:
                first, second, cut = truncate_pair(long_ids, short_ids, max_length - 3, strategy)
            except OptionError:  # only_second cannot keep the whole long first text: neither can the call
                with pytest.raises(OptionError, match="truncating only the second"):
                    tok(TEXT, OTHER, truncation=strategy, max_length=max_length)
                continue
            row = tok(TEXT, OTHER, truncation=strategy, max_length=max_length)["input_ids"]
            assert row == [2, *first, 3, *second, 3], (strategy, max_length)
            assert cut == (len(first) + len(second) < len(long_ids) + len(short_ids))
    first, second, cut = truncate_pair(long_ids, None, 5)
    assert (first, second, cut) == (long_ids[:5], None, True)
    assert truncate_pair([1, 2], [3], 3) == ([1, 2], [3], False)
    assert truncate_pair([1, 2, 3], [4, 5, 6], 4) == ([1, 2], [4, 5], True)  # a tie cuts the second first
    assert truncate_pair([1, 2, 3], [4, 5, 6], 5) == ([1, 2, 3], [4, 5], True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1, 2], [3, 4, 5], 2, "only_first"), "truncating only the first sequence"),
        (([1, 2, 3], [4], 2, "only_second"), "truncating only the second sequence"),
        (([1, 2], None, 1, "only_second"), "needs a text pair"),
        (([1], [2], -1), "budget=-1"),
        (([1], [2], 1, "shortest_first"), "not a truncation strategy"),
    ],
)
def test_truncate_pair_refuses_what_cannot_fit(args, message):
    with pytest.raises(OptionError, match=message):
        truncate_pair(*args)


def test_truncation_strategies(tok):
    long_ids = tok.encode(TEXT, add_special_tokens=False)
    short_ids = tok.encode(OTHER, add_special_tokens=False)
    encoding = tok(TEXT, truncation=True, max_length=10)
    assert encoding["input_ids"] == [2, *long_ids[:8], 3]
    pair = tok(OTHER, TEXT, truncation="only_second", max_length=len(short_ids) + 8)
    assert pair["input_ids"] == [2, *short_ids, 3, *long_ids[:5], 3]
    pair = tok(TEXT, OTHER, truncation="only_first", max_length=len(short_ids) + 8)
    assert pair["input_ids"] == [2, *long_ids[:5], 3, *short_ids, 3]
    first, second = longest_first_lengths(len(long_ids), len(short_ids), 17)
    pair = tok(TEXT, OTHER, truncation="longest_first", max_length=20)
    assert pair["input_ids"] == [2, *long_ids[:first], 3, *short_ids[:second], 3]
    # truncation=True without max_length cuts to model_max_length; max_length alone truncates too
    assert len(AlbertTokenizer(tok.vocab_file, model_max_length=8)(TEXT, truncation=True)["input_ids"]) == 8
    assert tok(TEXT, max_length=6)["input_ids"] == [2, *long_ids[:4], 3]
    assert len(tok(TEXT * 3)["input_ids"]) > tok.model_max_length  # no truncation unless asked


def test_impossible_truncation_says_why(tok):
    with pytest.raises(ValueError, match="needs a text pair"):
        tok(TEXT, truncation="only_second", max_length=5)
    with pytest.raises(ValueError, match=r"second has \d+ tokens and the first \d+"):
        tok(TEXT, TEXT, truncation="only_first", max_length=20)
    with pytest.raises(ValueError, match=r"first has \d+ tokens and the second \d+"):
        tok(TEXT, TEXT, truncation="only_second", max_length=20)
    with pytest.raises(ValueError, match="max_length=2 is too small"):
        tok(TEXT, truncation=True, max_length=2)
    with pytest.raises(ValueError, match="stride=8 is too large"):
        tok(TEXT, truncation=True, max_length=10, stride=8, return_overflowing_tokens=True)


def windows_of(tokenizer, encoding, sequence: int) -> list[list[tuple[int, tuple[int, int]]]]:
    """Per row: (id, offsets) of the tokens of one sequence."""
    rows = []
    for row in range(len(encoding["input_ids"])):
        rows.append([
            (index, offset)
            for index, offset, which in zip(
                encoding["input_ids"][row], encoding["offset_mapping"][row], encoding.sequence_ids(row), strict=True
            )
            if which == sequence
        ])  # fmt: skip
    return rows


@pytest.mark.parametrize("stride", [0, 1, 4])
def test_overflow_windows_overlap_by_stride_and_cover_everything(tok, stride):
    texts = [TEXT * 2, "a fox"]
    encoding = tok(
        texts,
        truncation=True,
        max_length=12,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    mapping = encoding["overflow_to_sample_mapping"]
    assert mapping == sorted(mapping) and set(mapping) == {0, 1} and mapping.count(1) == 1
    windows = [
        window for window, sample in zip(windows_of(tok, encoding, 0), mapping, strict=True) if sample == 0
    ]
    assert len(windows) > 2 and all(len(window) <= 10 for window in windows)
    for previous, following in zip(windows, windows[1:], strict=False):
        assert previous[len(previous) - stride :] == following[:stride]  # exactly `stride` shared tokens
    rebuilt = windows[0] + [token for window in windows[1:] for token in window[stride:]]
    whole = tok(TEXT * 2, add_special_tokens=False, return_offsets_mapping=True)
    assert [index for index, _ in rebuilt] == whole["input_ids"]
    assert [offset for _, offset in rebuilt] == whole["offset_mapping"]


def test_question_answering_windows(tok):
    """only_second: the question whole in every row, the context windowed with a stride."""
    context = TEXT * 3
    encoding = tok(
        [OTHER, "who?"], [context, "short"], truncation="only_second", max_length=40, stride=5,
        return_overflowing_tokens=True, return_offsets_mapping=True, padding="max_length",
    )  # fmt: skip
    mapping = encoding["overflow_to_sample_mapping"]
    question_ids = tok.encode(OTHER, add_special_tokens=False)
    rows = [row for row, sample in enumerate(mapping) if sample == 0]
    assert len(rows) > 2 and mapping[-1] == 1
    for row in rows:
        ids = encoding["input_ids"][row]
        assert len(ids) == 40 and ids[: len(question_ids) + 2] == [2, *question_ids, 3]
    contexts = [
        window for window, sample in zip(windows_of(tok, encoding, 1), mapping, strict=True) if sample == 0
    ]
    covered = {offset for window in contexts for _, offset in window}
    assert covered == set(
        tok(context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    )
    for previous, following in zip(contexts, contexts[1:], strict=False):
        assert previous[-5:] == following[:5]
    # the symmetric only_first keeps the second sequence whole
    flipped = tok(
        context, OTHER, truncation="only_first", max_length=40, stride=5, return_overflowing_tokens=True
    )
    assert all(ids[-len(question_ids) - 1 : -1] == question_ids for ids in flipped["input_ids"])


def test_overflow_without_truncation_is_one_row_per_input(tok):
    encoding = tok([TEXT, OTHER], return_overflowing_tokens=True)
    assert encoding["overflow_to_sample_mapping"] == [0, 1]
    single = tok(TEXT, return_overflowing_tokens=True, truncation=True, max_length=8, stride=2)
    assert isinstance(single["input_ids"][0], list)  # overflow always returns a batch of rows


# -- padding ---------------------------------------------------------------------------------------


def test_padding_strategies(tok):
    lengths = [len(tok.encode(text)) for text in (TEXT, OTHER)]
    longest = tok(
        [TEXT, OTHER],
        padding=True,
        return_special_tokens_mask=True,
        return_offsets_mapping=True,
        return_length=True,
    )
    assert [len(row) for row in longest["input_ids"]] == [max(lengths)] * 2
    missing = max(lengths) - lengths[1]
    assert longest["input_ids"][1][-missing:] == [tok.pad_token_id] * missing
    assert longest["attention_mask"][1] == [1] * lengths[1] + [0] * missing
    assert longest["token_type_ids"][1][-missing:] == [0] * missing
    assert longest["special_tokens_mask"][1][-missing:] == [1] * missing
    assert longest["offset_mapping"][1][-missing:] == [(0, 0)] * missing
    assert longest.word_ids(1)[-missing:] == [None] * missing and longest.sequence_ids(1)[-1] is None
    assert longest["length"] == [max(lengths)] * 2
    padded = tok([TEXT, OTHER], padding="max_length", max_length=80)["input_ids"]
    assert [len(row) for row in padded] == [80, 80]
    assert len(tok(OTHER, padding="max_length")["input_ids"]) == tok.model_max_length
    multiple = tok([TEXT, OTHER], padding=True, pad_to_multiple_of=8)["input_ids"]
    assert len(multiple[0]) % 8 == 0 and len(multiple[0]) >= max(lengths)
    assert tok([TEXT, OTHER], padding=False)["input_ids"] == tok([TEXT, OTHER])["input_ids"]


def test_pad_already_encoded_examples(tok):
    features = [{"input_ids": tok.encode(TEXT), "label": 1}, {"input_ids": tok.encode(OTHER), "label": 0}]
    padded = tok.pad(features)
    assert padded["input_ids"] == tok([TEXT, OTHER], padding=True)["input_ids"]
    assert padded["attention_mask"] == tok([TEXT, OTHER], padding=True)["attention_mask"]
    assert padded["label"] == [1, 0]
    tensors = tok.pad(features, return_tensors="pt", pad_to_multiple_of=16)
    assert tensors["input_ids"].shape[1] % 16 == 0 and tensors["label"].tolist() == [1, 0]
    columns = tok.pad(
        {"input_ids": [tok.encode(OTHER), tok.encode(TEXT)]}, padding="max_length", max_length=70
    )
    assert [len(row) for row in columns["input_ids"]] == [70, 70]
    single = tok.pad(
        {"input_ids": tok.encode(OTHER)}, padding="max_length", max_length=30, return_tensors="pt"
    )
    assert single["input_ids"].shape == (30,)
    with pytest.raises(ValueError, match="input_ids"):
        tok.pad([{"label": 1}])
    with pytest.raises(ValueError, match="same keys"):
        tok.pad([{"input_ids": [2, 3]}, {"input_ids": [2, 3], "label": 0}])
    with pytest.raises(TypeError, match="list of dicts"):
        tok.pad("text")


def test_works_with_transformers_data_collators(tok):
    transformers = pytest.importorskip("transformers")
    features = [dict(tok(text)) for text in (TEXT, OTHER)]
    batch = transformers.DataCollatorWithPadding(tok)(features)
    assert batch["input_ids"].shape == (2, len(tok.encode(TEXT)))
    assert (
        batch["attention_mask"].sum(1) == torch.tensor([len(tok.encode(TEXT)), len(tok.encode(OTHER))])
    ).all()


# -- vocabulary and decoding -----------------------------------------------------------------------


def test_vocabulary_and_special_tokens(tok):
    assert tok.vocab_size == len(tok) == len(tok.get_vocab())
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == (
        0,
        1,
        2,
        3,
        4,
    )
    assert tok.all_special_tokens == ["[CLS]", "[SEP]", "<unk>", "<pad>", "[MASK]"]
    assert tok.all_special_ids == [2, 3, 1, 0, 4]
    assert (tok.cls_token, tok.sep_token, tok.pad_token, tok.unk_token, tok.mask_token) == (
        "[CLS]", "[SEP]", "<pad>", "<unk>", "[MASK]",
    )  # fmt: skip
    pieces = tok.tokenize(TEXT)
    ids = tok.convert_tokens_to_ids(pieces)
    assert tok.convert_tokens_to_ids(tok.convert_ids_to_tokens(ids)) == ids
    assert tok.convert_tokens_to_ids("no-such-piece-here") == tok.unk_token_id
    assert tok.num_special_tokens_to_add() == 2 and tok.num_special_tokens_to_add(pair=True) == 3
    assert tok.get_special_tokens_mask([2, 7, 1, 3], already_has_special_tokens=True) == [1, 0, 1, 1]
    assert tok.create_token_type_ids_from_sequences([7, 8], [9]) == [0, 0, 0, 0, 1, 1]


def test_decode(tok):
    ids = tok.encode("hello world")
    assert tok.decode(ids, skip_special_tokens=True) == "hello world"
    assert tok.decode(ids) == "[CLS] hello world[SEP]"  # the reference's spacing around special tokens
    assert tok.decode(torch.tensor(ids), skip_special_tokens=True) == "hello world"
    assert tok.batch_decode(torch.tensor([ids, ids]), skip_special_tokens=True) == ["hello world"] * 2
    assert (
        tok.decode(tok.encode("a , b .", add_special_tokens=False), clean_up_tokenization_spaces=True)
        == "a, b."
    )
    assert tok.convert_tokens_to_string(tok.tokenize("hello world")) == "hello world"
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size + 5])


# -- errors for people ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda t: t(None), ValueError, "text is None"),
        (lambda t: t([]), ValueError, "empty list"),
        (lambda t: t(5), TypeError, "got int"),
        (lambda t: t(b"bytes"), TypeError, "decode bytes first"),
        (lambda t: t(["a", 3]), TypeError, r"text\[1\] is a int"),
        (lambda t: t(["a", "b"], ["c"]), ValueError, "2 items but text_pair has 1"),
        (lambda t: t("a", ["b"]), TypeError, "text_pair must be one string"),
        (lambda t: t(["a"], "b"), TypeError, "text_pair must be a list"),
        (lambda t: t("a", return_tensors="tf"), ValueError, "return_tensors='tf'"),
        (lambda t: t("a", padding="yes"), ValueError, "padding='yes'"),
        (lambda t: t("a", truncation="sometimes"), ValueError, "truncation='sometimes'"),
        (lambda t: t("a", stride=-1), ValueError, "stride=-1"),
        (lambda t: t("a", max_length=0), ValueError, "max_length=0"),
        (lambda t: t("a b", is_split_into_words=True), TypeError, "list of words"),
        (lambda t: t([["a", 1]], is_split_into_words=True), TypeError, r"text\[0\]\[1\]"),
        (lambda t: t.encode(["a", "b"]), TypeError, "one text"),
        (lambda t: t.tokenize(None), TypeError, "takes a str"),
    ],
)
def test_bad_arguments_say_what_was_wrong(tok, call, error, match):
    with pytest.raises(error, match=match):
        call(tok)


def test_loading_errors_are_clear(tmp_path, tiny_spm):
    with pytest.raises(FileNotFoundError, match="no SentencePiece model"):
        AlbertTokenizer(tmp_path / "missing.model")
    corrupt = tmp_path / "corrupt" / "spiece.model"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"this is not a sentencepiece model" * 10)
    with pytest.raises(ValueError, match="could not load .*corrupt.* as a SentencePiece model"):
        AlbertTokenizer(corrupt)
    with pytest.raises(ValueError, match="SentencePiece model"):
        AlbertTokenizer.from_pretrained(corrupt.parent)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError, match=r"no tokenizer vocabulary.*spiece\.model.*config\.json"):
        AlbertTokenizer.from_pretrained(tmp_path / "empty")
    with pytest.raises(TypeError, match="unknown tokenizer option"):
        AlbertTokenizer.from_pretrained(tiny_spm.parent, lowercase=True)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        AlbertTokenizer(tiny_spm, mask_token="<mask>")


def test_missing_models_are_clear(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model folder at"):
        AlbertTokenizer.from_pretrained(tmp_path / "does" / "not" / "exist")
    # a Hub id that is not cached, with the network off: says so instead of a stack of HTTP errors
    with pytest.raises(ModelNotFoundError, match=r"neither spiece\.model nor vocab\.txt.*offline"):
        AlbertTokenizer.from_pretrained("albert/albert-base-v2", local_files_only=True, cache_dir=tmp_path)


# -- saving and loading ----------------------------------------------------------------------------


def test_save_and_load_round_trip(tmp_path, tiny_spm):
    original = AlbertTokenizer(tiny_spm, do_lower_case=False, keep_accents=True, model_max_length=77)
    written = original.save_pretrained(tmp_path / "saved")
    assert sorted(p.split("/")[-1] for p in written) == [
        "special_tokens_map.json",
        "spiece.model",
        "tokenizer_config.json",
    ]
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "AlbertTokenizer" and config["model_max_length"] == 77
    assert (
        config["do_lower_case"] is False
        and config["keep_accents"] is True
        and config["mask_token"] == "[MASK]"
    )
    loaded = AlbertTokenizer.from_pretrained(tmp_path / "saved")
    assert (loaded.do_lower_case, loaded.keep_accents, loaded.remove_space, loaded.model_max_length) == (
        False,
        True,
        True,
        77,
    )
    assert loaded([TEXT, "Café ÀB"])["input_ids"] == original([TEXT, "Café ÀB"])["input_ids"]
    assert AlbertTokenizer.from_pretrained(tmp_path / "saved", model_max_length=10).model_max_length == 10


def test_pickle_round_trip(tok):
    restored = pickle.loads(pickle.dumps(tok))
    assert restored([TEXT, "a [MASK]b"])["input_ids"] == tok([TEXT, "a [MASK]b"])["input_ids"]
    assert copy.deepcopy(tok).tokenize(TEXT) == tok.tokenize(TEXT)


def test_batch_path_does_no_alignment_work(tok, monkeypatch):
    """Speed: without offsets, texts go straight to SentencePiece's batch API."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the ids-only path must not align characters")

    monkeypatch.setattr(text_normalization, "normalize_with_alignment", forbidden)
    encoding = tok(
        [TEXT, "a [MASK]. b"] * 50, padding=True, truncation=True, max_length=16, return_tensors="pt"
    )
    assert encoding["input_ids"].shape == (100, 16)
    with pytest.raises(AssertionError, match="must not align"):
        tok(TEXT, return_offsets_mapping=True)


# -- WordPiece (Chinese ALBERT) --------------------------------------------------------------------

WORDPIECE_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "##s", "hello", "world",
    ",", ".", "!", "'", "s", "un", "##want", "##ed", "run", "##ning", "中", "国", "人", "x", "b", "cafe",
]  # fmt: skip
WORDPIECE_TEXTS = [
    "The cats sat on the mat!",
    "unwanted running, Café 中国人 [MASK] x[MASK]b",
    "hello   world's",
    "",
]


@pytest.fixture(scope="module")
def wordpiece_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wordpiece")
    (folder / "vocab.txt").write_text("\n".join(WORDPIECE_VOCAB) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": True, "model_max_length": 128})
    )
    return folder


def test_wordpiece_folder_gives_a_wordpiece_tokenizer(wordpiece_folder):
    transformers = pytest.importorskip("transformers")
    ours = AlbertTokenizer.from_pretrained(wordpiece_folder)
    assert isinstance(ours, AlbertWordPieceTokenizer) and ours.model_max_length == 128
    reference = transformers.BertTokenizer(str(wordpiece_folder / "vocab.txt"))
    for text in WORDPIECE_TEXTS:
        assert ours(text)["input_ids"] == reference(text)["input_ids"], text
        assert ours.tokenize(text) == reference.tokenize(text)
        ids = ours.encode(text)
        assert ours.decode(ids) == reference.decode(ids)
        assert ours.decode(ids, skip_special_tokens=True) == reference.decode(ids, skip_special_tokens=True)
    pair = ours("the cat", "sat on", return_special_tokens_mask=True)
    assert dict(pair) == dict(reference("the cat", "sat on", return_special_tokens_mask=True))
    assert (ours.pad_token_id, ours.cls_token_id, ours.sep_token_id, ours.mask_token_id) == (0, 2, 3, 4)


def test_wordpiece_offsets_word_ids_and_overflow(wordpiece_folder):
    ours = AlbertWordPieceTokenizer.from_pretrained(wordpiece_folder)
    text = "unwanted cats, 中国"
    encoding = ours(text, return_offsets_mapping=True)
    assert [text[start:end] for start, end in encoding["offset_mapping"]] == [
        "",
        "un",
        "want",
        "ed",
        "cat",
        "s",
        ",",
        "中",
        "国",
        "",
    ]
    assert encoding.word_ids() == [
        None,
        0,
        0,
        0,
        1,
        1,
        2,
        3,
        4,
        None,
    ]  # BERT's words: CJK characters on their own
    windows = ours(
        "the cat sat on the mat " * 3, truncation=True, max_length=8, stride=2, return_overflowing_tokens=True
    )
    assert len(windows["input_ids"]) > 2 and all(len(row) <= 8 for row in windows["input_ids"])
    words = ours(["the", "cats"], is_split_into_words=True, return_offsets_mapping=True)
    assert words.word_ids() == [None, 0, 1, 1, None] and words["offset_mapping"][2:4] == [(0, 3), (3, 4)]


def test_wordpiece_save_loads_in_transformers(wordpiece_folder, tmp_path):
    transformers = pytest.importorskip("transformers")
    ours = AlbertWordPieceTokenizer(wordpiece_folder / "vocab.txt", do_lower_case=False)
    ours.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["tokenizer_class"] == "BertTokenizer"
    reference = transformers.BertTokenizer.from_pretrained(tmp_path)
    assert not reference.do_lower_case
    assert reference("The cat sat")["input_ids"] == ours("The cat sat")["input_ids"]
    reloaded = AlbertTokenizer.from_pretrained(tmp_path)
    assert isinstance(reloaded, AlbertWordPieceTokenizer) and not reloaded.do_lower_case
    assert pickle.loads(pickle.dumps(reloaded)).encode("the cat") == ours.encode("the cat")


def test_a_save_over_another_kind_of_tokenizer_leaves_only_its_own(tok, wordpiece_folder, tmp_path):
    """A folder that held a SentencePiece tokenizer, saved over with a WordPiece one, loads the
    WordPiece one (spiece.model, read first, is gone), and the other way round."""
    wordpiece = AlbertWordPieceTokenizer(wordpiece_folder / "vocab.txt")
    tok.save_pretrained(tmp_path)
    wordpiece.save_pretrained(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "special_tokens_map.json",
        "tokenizer_config.json",
        "vocab.txt",
    ]
    assert isinstance(AlbertTokenizer.from_pretrained(tmp_path), AlbertWordPieceTokenizer)
    tok.save_pretrained(tmp_path)
    assert not (tmp_path / "vocab.txt").exists()
    assert AlbertTokenizer.from_pretrained(tmp_path).encode("hello world") == tok.encode("hello world")


def test_few_texts_encode_as_the_batch_api_does(tok):
    """Under BATCH_API_MIN_TEXTS texts are encoded one call each; the ids are the batch API's."""
    from albert.tokenizer import BATCH_API_MIN_TEXTS

    texts = [
        f"hello world number {index}, the cat's {index * 7} mats" for index in range(BATCH_API_MIN_TEXTS + 3)
    ]
    many = tok(texts)["input_ids"]
    assert [tok([text])["input_ids"][0] for text in texts] == many
    assert tok(texts[:3])["input_ids"] == many[:3]


def test_wordpiece_errors(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\nhello\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"sep_token='\[SEP\]' is not in the vocabulary"):
        AlbertWordPieceTokenizer(tmp_path / "vocab.txt")
    with pytest.raises(FileNotFoundError, match="no WordPiece vocabulary"):
        AlbertWordPieceTokenizer(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        AlbertWordPieceTokenizer(tmp_path / "empty.txt")


def test_lone_surrogates_are_named_as_not_utf8(tok, make_tiny_model):
    """Issue 16, item 6: SentencePiece used to answer "List elements must be str or bytes"."""
    from albert.pipelines import pipeline

    with pytest.raises(
        ValueError, match=r"^text is not valid UTF-8: it holds a lone surrogate U\+D800 at character 1\."
    ):
        tok("x\ud800y")
    with pytest.raises(
        ValueError, match=r"^text\[1\] is not valid UTF-8: .* U\+DCE9 at character 3 \(the byte 0xE9"
    ):
        tok(["fine", "caf\udce9"])
    with pytest.raises(ValueError, match=r"^text_pair\[0\] is not valid UTF-8"):
        tok(["fine"], ["\udfff"])
    with pytest.raises(ValueError, match=r"^text\[0\]\[1\] is not valid UTF-8"):
        tok([["fine", "w\udce9rd"]], is_split_into_words=True)
    with pytest.raises(ValueError, match="^text is not valid UTF-8"):
        tok.tokenize("\udce9")
    with pytest.raises(
        ValueError, match=r"^inputs\[1\] is not valid UTF-8: it holds a lone surrogate U\+DCE9"
    ):
        pipeline("embeddings", model=make_tiny_model(), device="cpu")(["fine", "caf\udce9"])
    assert tok("café 😀")["input_ids"] == tok(["café 😀"])["input_ids"][0]  # real non-ASCII text is fine
