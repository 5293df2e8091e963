"""Our AlbertTokenizer against the reference: transformers 4.x's slow AlbertTokenizer on ALBERT's
real 30k vocabulary, over thousands of lines of real text and adversarial strings.

Also: offsets into the original text on a large sample, the one deliberate difference (text glued
to a special token), overflow windows against transformers' fast tokenizer, decode, and folders
written by one library and read by the other. Skips when ``../shared/data`` is absent.
"""

from __future__ import annotations

import pytest
from support.tokenizer_data import (
    ADVERSARIAL,
    conll_sentences,
    data_path,
    mentions_special_token,
    mrpc_pairs,
    reference_tokenizer,
    sample_lines,
    squad_records,
    sst2_sentences,
)

from albert import text_normalization
from albert.encoding_assembly import truncate_pair
from albert.tokenizer import AlbertTokenizer

CORPORA = [
    "corpus/gcide_dictionary.txt.xz",
    "corpus/kjv_bible.txt.xz",
    "corpus/linux61_docs.txt.xz",
    "corpus/python311_docs.txt.xz",
    "corpus/wordnet_glosses.txt.xz",
    "samples/wiki_00.txt",
    "samples/sample_text.txt",
]
LINES_PER_SOURCE = 1500


@pytest.fixture(scope="module")
def vocab():
    return data_path("albert-vocab/spiece.model")


@pytest.fixture(scope="module")
def ours(vocab):
    return AlbertTokenizer(vocab)


@pytest.fixture(scope="module")
def reference(vocab):
    return reference_tokenizer(vocab)


def source_lines(relative: str, count: int = LINES_PER_SOURCE) -> list[str]:
    path = data_path(relative)
    if relative.endswith("dev.tsv"):
        return sst2_sentences(path)[:count]
    if relative.endswith("valid.txt"):
        return [" ".join(words) for words in conll_sentences(path)[:count]]
    return sample_lines(path, count)


def without_special_tokens(lines: list[str]) -> list[str]:
    return [line for line in lines if not mentions_special_token(line)]


# -- ids -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("relative", [*CORPORA, "sst2/dev.tsv", "conll2003/valid.txt"])
def test_ids_equal_reference_on_real_text(ours, reference, relative):
    lines = without_special_tokens(source_lines(relative))
    assert len(lines) >= 25, f"too few lines read from {relative}"
    ids = ours(lines, add_special_tokens=False)["input_ids"]
    mismatches = [
        (line, ours.convert_ids_to_tokens(got), reference.tokenize(line))
        for line, got in zip(lines, ids, strict=True)
        if got != reference.encode(line, add_special_tokens=False)
    ]
    assert not mismatches, f"{len(mismatches)}/{len(lines)} lines differ, e.g. {mismatches[:3]}"
    # with [CLS]/[SEP] and through the offsets path the ids are the same
    with_specials = ours(lines[:300], return_offsets_mapping=True)["input_ids"]
    assert with_specials == [reference.encode(line) for line in lines[:300]]


@pytest.mark.parametrize("relative", CORPORA)
def test_pieces_equal_reference(ours, reference, relative):
    lines = without_special_tokens(source_lines(relative, 300))
    for line in lines:
        assert ours.tokenize(line) == reference.tokenize(line), line


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"keep_accents": True},
        {"do_lower_case": False},
        {"remove_space": False},
        {"do_lower_case": False, "keep_accents": True},
    ],
    ids=["default", "keep_accents", "cased", "keep_space", "cased_accents"],
)
def test_adversarial_strings_equal_reference(vocab, options):
    ours, reference = AlbertTokenizer(vocab, **options), reference_tokenizer(vocab, **options)
    for text in ADVERSARIAL:
        assert ours.encode(text) == reference.encode(text), (
            text,
            ours.tokenize(text),
            reference.tokenize(text),
        )
        assert ours.tokenize(text) == reference.tokenize(text), text
        assert ours(text, return_offsets_mapping=True)["input_ids"] == reference.encode(text), text
    # a batch mixes the fast path's plain and special-token chunks; same ids as one by one
    assert ours(ADVERSARIAL)["input_ids"] == [reference.encode(text) for text in ADVERSARIAL]


@pytest.mark.parametrize("options", [{"keep_accents": True}, {"do_lower_case": False, "remove_space": False}])
def test_option_variants_equal_reference_on_real_text(vocab, options):
    ours, reference = AlbertTokenizer(vocab, **options), reference_tokenizer(vocab, **options)
    lines = without_special_tokens(
        source_lines("samples/wiki_00.txt") + source_lines("samples/sample_text.txt")
    )
    lines += without_special_tokens(source_lines("corpus/gcide_dictionary.txt.xz", 500))
    assert ours(lines)["input_ids"] == [reference.encode(line) for line in lines]


def test_special_tokens_followed_by_space_equal_reference(ours, reference):
    texts = [
        "a [MASK] b", "[CLS] x [SEP] y [SEP]", "the [MASK] sat on the [MASK] .", "[MASK]", " [MASK] ",
        "<pad> <unk> [SEP]", "hello <unk> world", "x [CLS]", "tabs\t[MASK]\tand\nnewlines", "[MASK] [MASK] [MASK]",
        # the reference lowercases before matching, so these are special tokens there too
        "<PAD> and <Unk> here", "İ <PAD>",
    ]  # fmt: skip
    for text in texts:
        assert ours.encode(text) == reference.encode(text), (
            text,
            ours.tokenize(text),
            reference.tokenize(text),
        )


def test_text_glued_to_special_token_continues_the_word(ours, reference):
    """The one deliberate difference: text right after a special token continues a word."""
    assert ours.tokenize("a [MASK].") == ["▁a", "[MASK]", "."]
    assert reference.tokenize("a [MASK].") == ["▁a", "[MASK]", "▁", "."]  # what we do not reproduce
    assert ours.tokenize("a [MASK] model.") == ["▁a", "[MASK]", "▁model", "."]
    assert ours.tokenize("x[MASK]y") == ["▁x", "[MASK]", "y"]
    assert ours.tokenize("x[MASK]y z [MASK].") == ["▁x", "[MASK]", "y", "▁z", "[MASK]", "."]
    assert ours.encode("a [MASK].") == [2, 21, 4, 9, 3]
    # text before the token is unaffected; only the glued chunk loses its "▁"
    assert ours.tokenize("[CLS]hello") == ["[CLS]", "hello"]
    assert ours.tokenize("[SEP]Hello world") == ["[SEP]", "hello", "▁world"]
    # the ,<digit> rule still applies after a special token
    assert ours.tokenize("[MASK]9,9") == ["[MASK]", "9", ",", "9"]
    # the batch path agrees with tokenize and the offsets path
    texts = ["a [MASK].", "x[MASK]y", "[MASK]9,9", "[CLS]hello"]
    assert ours(texts)["input_ids"] == ours(texts, return_offsets_mapping=True)["input_ids"]
    assert [
        ours.convert_ids_to_tokens(ids) for ids in ours(texts, add_special_tokens=False)["input_ids"]
    ] == [ours.tokenize(text) for text in texts]
    # special tokens are case-sensitive: "[mask]" is text
    assert "[MASK]" not in ours.tokenize("a [mask].")
    assert ours.encode("a [mask].") == reference.encode("a [mask].")


def test_is_split_into_words_equals_reference(ours, reference):
    sentences = conll_sentences(data_path("conll2003/valid.txt"))[:300]
    sentences = [words for words in sentences if not any(mentions_special_token(word) for word in words)]
    ours_ids = ours(sentences, is_split_into_words=True)["input_ids"]
    assert ours_ids == [reference(words, is_split_into_words=True)["input_ids"] for words in sentences]


# -- pairs, truncation, padding --------------------------------------------------------------------


CALL_OPTIONS = [
    {},
    {"return_special_tokens_mask": True, "return_length": True},
    {"truncation": True, "max_length": 24, "padding": "max_length", "return_special_tokens_mask": True},
    {"truncation": "longest_first", "max_length": 19},
    {"truncation": "longest_first", "max_length": 40, "padding": True, "pad_to_multiple_of": 8},
    {"truncation": "only_first", "max_length": 64, "padding": "longest"},
    {"truncation": "only_second", "max_length": 64},
    {
        "padding": "max_length",
        "max_length": 96,
        "return_attention_mask": False,
        "return_token_type_ids": False,
    },
    {"add_special_tokens": False, "truncation": True, "max_length": 16},
]


@pytest.mark.parametrize(
    "options", CALL_OPTIONS, ids=lambda options: ",".join(f"{k}={v}" for k, v in options.items())
)
def test_pairs_with_truncation_and_padding_equal_reference(ours, reference, options):
    pairs = mrpc_pairs(data_path("mrpc/msr_paraphrase_train.txt"))[:200]
    if options.get("truncation") in ("only_first", "only_second"):
        # keep pairs that this strategy can fit (the reference only logs an error for the others)
        kept = 0 if options["truncation"] == "only_second" else 1
        pairs = [pair for pair in pairs if len(reference.tokenize(pair[kept])) < options["max_length"] - 8]
    firsts, seconds = [first for first, _ in pairs], [second for _, second in pairs]
    expected = reference(firsts, seconds, **options)
    got = ours(firsts, seconds, **options)
    keys = [key for key in expected if key != "length" or not options.get("padding")]
    for key in keys:
        assert got[key] == expected[key], key
    assert set(got) == set(expected)
    # one pair at a time too (no batch-level padding)
    single = {key: value for key, value in options.items() if key not in ("padding", "pad_to_multiple_of")}
    for first, second in pairs[:20]:
        assert dict(ours(first, second, **single)) == dict(reference(first, second, **single))


@pytest.mark.parametrize("strategy", ["longest_first", "only_first", "only_second"])
def test_truncate_pair_equals_reference_truncate_sequences(reference, strategy):
    """albert's one pair-truncation function against transformers' own, on every small case."""
    for first_length in range(0, 9):
        for second_length in range(0, 9):
            first, second = list(range(first_length)), list(range(100, 100 + second_length))
            for budget in range(1, first_length + second_length + 1):
                kept = second_length if strategy == "only_first" else first_length
                if strategy != "longest_first" and budget - kept <= 0:
                    continue  # transformers only logs an error there; albert refuses
                to_remove = first_length + second_length - budget
                expected = reference.truncate_sequences(
                    first, second, num_tokens_to_remove=to_remove, truncation_strategy=strategy
                )[:2]
                got = truncate_pair(first, second, budget, strategy)
                assert (got.first, got.second) == tuple(expected), (
                    strategy,
                    first_length,
                    second_length,
                    budget,
                )


def test_single_texts_with_truncation_equal_reference(ours, reference):
    lines = without_special_tokens(source_lines("sst2/dev.tsv", 300))
    options = {
        "truncation": True,
        "max_length": 12,
        "padding": "max_length",
        "return_special_tokens_mask": True,
    }
    got = ours(lines, **options)
    expected = reference(lines, **options)
    for key in expected:
        assert got[key] == expected[key], key


# -- decode ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative", ["samples/sample_text.txt", "corpus/linux61_docs.txt.xz", "sst2/dev.tsv"]
)
def test_decode_equals_reference(ours, reference, relative):
    lines = source_lines(relative, 300) + ["a [MASK] b <unk> c", "[CLS] x [SEP] [SEP] 9,9"]
    for ids in ours(lines)["input_ids"]:
        assert ours.decode(ids) == reference.decode(ids)
        assert ours.decode(ids, skip_special_tokens=True) == reference.decode(ids, skip_special_tokens=True)
    tokens = ours.tokenize(lines[0])
    assert ours.convert_tokens_to_string(tokens) == reference.convert_tokens_to_string(tokens)


# -- offsets ---------------------------------------------------------------------------------------


def normalized_slice(tokenizer: AlbertTokenizer, text: str) -> str:
    """ALBERT's preprocessing then SentencePiece's own normalization of a piece of the original text."""
    prepared = text_normalization.normalize(
        text,
        do_lower_case=tokenizer.do_lower_case,
        remove_space=tokenizer.remove_space,
        keep_accents=tokenizer.keep_accents,
    )
    return tokenizer._sp.normalize(prepared).replace("▁", "")


def assert_offsets_reproduce_pieces(tokenizer: AlbertTokenizer, texts: list[str]) -> int:
    """Every token's span, sliced from the original text and normalized, is the piece's text."""
    encoding = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    checked = 0
    for text, ids, offsets in zip(texts, encoding["input_ids"], encoding["offset_mapping"], strict=True):
        previous = (0, 0)
        for index, (start, end) in zip(ids, offsets, strict=True):
            assert 0 <= start <= end <= len(text), (text, start, end)
            # spans move forward; pieces cut from one expanding character (ﬃ) share its span
            assert start >= previous[1] or start == end or (start, end) == previous, (
                f"spans go back in {text!r}"
            )
            previous = (start, end) if start < end else previous
            piece = tokenizer.convert_ids_to_tokens(index).replace("▁", "")
            if index in tokenizer.all_special_ids and index != tokenizer.unk_token_id:
                assert text[start:end] == piece  # written in the text: its real span
                continue
            if start == end:
                assert piece == "", f"only a lone ▁ may have an empty span, got {piece!r} in {text!r}"
                continue
            if tokenizer.remove_space:  # otherwise SentencePiece may keep odd whitespace (U+0085) as <unk>
                assert not text[start].isspace(), f"span {text[start:end]!r} starts with whitespace"
            if index == tokenizer.unk_token_id:
                continue  # the piece text of an unknown character is not in the vocabulary
            normalized = normalized_slice(tokenizer, text[start:end])
            # A piece may cut a character that normalization expands (ﬃ -> f + fi); then it gets the
            # whole character's span, the finest span the original text has.
            expanded = len(normalized) > len(text[start:end]) and piece in normalized
            assert normalized == piece or expanded, (text, text[start:end], piece)
            checked += 1
    return checked


@pytest.mark.parametrize("relative", [*CORPORA, "sst2/dev.tsv"])
def test_offsets_reproduce_pieces_on_real_text(ours, relative):
    lines = source_lines(relative, 600)
    assert assert_offsets_reproduce_pieces(ours, lines) > len(lines)


@pytest.mark.parametrize(
    "options", [{}, {"keep_accents": True}, {"do_lower_case": False, "remove_space": False}]
)
def test_offsets_on_adversarial_strings(vocab, options):
    tokenizer = AlbertTokenizer(vocab, **options)
    texts = [text for text in ADVERSARIAL if "İ" not in text or not options.get("keep_accents")]
    assert_offsets_reproduce_pieces(tokenizer, texts)


def spans(tokenizer: AlbertTokenizer, text: str) -> list[tuple[str, str]]:
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    pieces = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    return [
        (piece, text[start:end])
        for piece, (start, end) in zip(pieces, encoding["offset_mapping"], strict=True)
    ]


def test_offsets_point_into_the_original_text(ours):
    assert spans(ours, "Héllo  wörld") == [("▁hello", "Héllo"), ("▁world", "wörld")]
    assert spans(ours, "ﬁne ｆｕｌｌ") == [("▁fine", "ﬁne"), ("▁full", "ｆｕｌｌ")]
    assert spans(ours, "  lots   of\t\tspace  ") == [("▁lots", "lots"), ("▁of", "of"), ("▁space", "space")]
    assert spans(ours, "``hi''") == [("▁", ""), ('"', "``"), ("hi", "hi"), ('"', "''")]
    assert spans(ours, "9,9 x1999,") == [
        ("▁9", "9"),
        (",", ","),
        ("9", "9"),
        ("▁x", "x"),
        ("1999", "1999"),
        (",", ","),
    ]
    assert spans(ours, "İstanbul") == [("▁istanbul", "İstanbul")]
    assert spans(ours, "a [MASK].") == [("▁a", "a"), ("[MASK]", "[MASK]"), (".", ".")]
    # a lone ▁ gets an empty span where its word starts
    encoding = ours("  (hi)", return_offsets_mapping=True)
    assert encoding["offset_mapping"][:3] == [(0, 0), (2, 2), (2, 3)]
    assert ours.convert_ids_to_tokens(encoding["input_ids"][1]) == "▁"


def test_word_ids_follow_whitespace_words(ours):
    text = "Héllo, wörld! a [MASK]. x[MASK]y"
    encoding = ours(text, return_offsets_mapping=True)
    words = text.split()
    for word_id, (start, end) in zip(encoding.word_ids(), encoding["offset_mapping"], strict=True):
        if word_id is None:
            assert (start, end) == (0, 0)
    pieces = ours.convert_ids_to_tokens(encoding["input_ids"])
    assert list(zip(pieces, encoding.word_ids(), strict=True)) == [
        ("[CLS]", None), ("▁hello", 0), (",", 0), ("▁world", 1), ("!", 1), ("▁a", 2), ("[MASK]", 3), (".", 4),
        ("▁x", 5), ("[MASK]", 6), ("y", 7), ("[SEP]", None),
    ]  # fmt: skip
    assert len(words) == 5  # special tokens written in the text are words of their own
    # word ids without asking for offsets are computed on demand and agree
    assert ours(text).word_ids() == encoding.word_ids()


# -- overflow windows (transformers' fast-tokenizer semantics) -------------------------------------


@pytest.fixture(scope="module")
def fast_reference(vocab):
    transformers = pytest.importorskip("transformers")
    return transformers.AlbertTokenizerFast(vocab_file=str(vocab))


def agreeing_texts(ours, fast_reference, texts: list[str]) -> list[str]:
    """The texts on which transformers' fast tokenizer happens to give ALBERT's ids."""
    texts = [text.strip() for text in texts]
    return [text for text in texts if fast_reference(text)["input_ids"] == ours(text)["input_ids"]]


def test_question_answering_windows_equal_fast_tokenizer(ours, fast_reference):
    """The QA layout: question whole, context in windows sharing `stride` tokens, like transformers."""
    sentences = agreeing_texts(ours, fast_reference, source_lines("sst2/dev.tsv", 400))
    questions = sentences[:40]
    contexts = [" ".join(sentences[index : index + 8]) for index in range(40, 360, 8)]
    questions = questions[: len(contexts)]
    options = {
        "truncation": "only_second", "max_length": 64, "stride": 16, "return_overflowing_tokens": True,
        "padding": "max_length", "return_special_tokens_mask": True,
    }  # fmt: skip
    got, expected = ours(questions, contexts, **options), fast_reference(questions, contexts, **options)
    assert len(got["input_ids"]) > len(contexts), "the contexts should need several windows"
    for key in (
        "input_ids",
        "token_type_ids",
        "attention_mask",
        "special_tokens_mask",
        "overflow_to_sample_mapping",
    ):
        assert got[key] == expected[key], key
    for row in range(len(got["input_ids"])):
        assert got.sequence_ids(row) == expected.sequence_ids(row)


def test_question_answering_windows_cover_the_answers(ours):
    """SQuAD: some window of each context holds the whole answer, found through the offsets."""
    records = squad_records(data_path("samples/squad_sample.json"))
    encoding = ours(
        [r["question"] for r in records], [r["context"] for r in records], truncation="only_second",
        max_length=48, stride=12, return_overflowing_tokens=True, return_offsets_mapping=True,
    )  # fmt: skip
    found = [False] * len(records)
    for row, sample in enumerate(encoding["overflow_to_sample_mapping"]):
        record = records[sample]
        start, end = record["answer_start"], record["answer_start"] + len(record["answer"])
        assert record["context"][start:end] == record["answer"]
        spans = [
            span
            for span, which in zip(encoding["offset_mapping"][row], encoding.sequence_ids(row), strict=True)
            if which == 1 and span[0] < span[1]
        ]
        first = [span for span in spans if span[0] <= start < span[1]]
        last = [span for span in spans if span[0] < end <= span[1]]
        found[sample] = found[sample] or bool(first and last)
    assert all(found), [records[i]["answer"] for i, ok in enumerate(found) if not ok]
    assert len(encoding["input_ids"]) > len(records)  # the contexts did need several windows


@pytest.mark.parametrize(
    "options",
    [
        {"truncation": True, "max_length": 16, "stride": 4},
        {"truncation": "longest_first", "max_length": 9, "stride": 0, "padding": True},
        {"truncation": True, "max_length": 32, "stride": 8, "padding": "max_length", "return_tensors": "np"},
    ],
)
def test_single_text_windows_equal_fast_tokenizer(ours, fast_reference, options):
    lines = agreeing_texts(ours, fast_reference, source_lines("sst2/dev.tsv", 100))
    assert len(lines) >= 50
    got = ours(lines[:50], return_overflowing_tokens=True, **options)
    expected = fast_reference(lines[:50], return_overflowing_tokens=True, **options)
    for key in expected:
        assert (
            (got[key] == expected[key]).all() if options.get("return_tensors") else got[key] == expected[key]
        ), key


def test_only_first_windows_equal_fast_tokenizer(ours, fast_reference):
    context = "the quick brown fox jumps over the lazy dog and keeps running far away from the farm"
    options = {"truncation": "only_first", "max_length": 14, "stride": 3, "return_overflowing_tokens": True}
    got, expected = (
        ours(context, "what did the fox do", **options),
        fast_reference(context, "what did the fox do", **options),
    )
    assert got["input_ids"] == expected["input_ids"]
    assert got["token_type_ids"] == expected["token_type_ids"]


# -- saving and loading across libraries -----------------------------------------------------------


def test_transformers_loads_our_saved_folder(vocab, tmp_path):
    transformers = pytest.importorskip("transformers")
    ours = AlbertTokenizer(vocab, model_max_length=384)
    ours.save_pretrained(tmp_path)
    lines = without_special_tokens(source_lines("samples/wiki_00.txt", 200))
    slow = transformers.AlbertTokenizer.from_pretrained(tmp_path)
    assert slow.model_max_length == 384 and slow.do_lower_case
    assert [slow.encode(line) for line in lines] == ours(lines)["input_ids"]
    auto_slow = transformers.AutoTokenizer.from_pretrained(tmp_path, use_fast=False)
    assert type(auto_slow).__name__ == "AlbertTokenizer"
    assert [auto_slow.encode(line) for line in lines[:50]] == ours(lines[:50])["input_ids"]
    auto = transformers.AutoTokenizer.from_pretrained(tmp_path)  # the fast one, converted from spiece.model
    simple = ["Hello world, this is ALBERT.", "The quick brown fox jumps over the lazy dog."]
    assert auto(simple)["input_ids"] == ours(simple)["input_ids"]
    assert auto.mask_token == "[MASK]" and auto.model_max_length == 384


def test_we_load_a_folder_saved_by_transformers(vocab, tmp_path):
    reference = reference_tokenizer(vocab, do_lower_case=False, keep_accents=True)
    reference.save_pretrained(tmp_path)
    ours = AlbertTokenizer.from_pretrained(tmp_path)
    assert not ours.do_lower_case and ours.keep_accents and ours.mask_token == "[MASK]"
    lines = without_special_tokens(source_lines("samples/sample_text.txt"))
    assert ours(lines)["input_ids"] == [reference.encode(line) for line in lines]
