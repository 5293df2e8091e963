"""Property-based tests of the tokenizer against the reference: transformers' slow AlbertTokenizer
on the shipped model's spiece.model (ALBERT's 30k lowercased vocabulary).

Hypothesis writes the texts: arbitrary unicode, control, format and zero-width characters,
combining marks, digits with commas, very long words, special tokens, pairs with truncation. The
properties: ids equal the reference's, except by the documented rule that text glued to a
special token continues a word (``[MASK].`` gives ``[MASK]`` ``.``, where the reference inserts a
lone ``▁``); offsets lie in the text and never go back; decoding gives the reference's text and
that text encodes back to the same ids.

The default run tries a bounded number of examples per property, derandomized, so it is quick and
the same on every machine; ``pytest -m slow tests/tokenizer/test_fuzz_tokenizer.py`` tries many more, with a
fresh seed each time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.tokenizer_data import SPECIAL_TOKENS, mentions_special_token, reference_tokenizer

from albert.tokenizer import AlbertTokenizer

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is in the test extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "albert" / "models" / "albert-small-en"
#: Examples per property: the default run, and ``-m slow``.
QUICK, THOROUGH = 120, 3000

quick = settings(max_examples=QUICK, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
thorough = settings(max_examples=THOROUGH, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def ours() -> AlbertTokenizer:
    return AlbertTokenizer.from_pretrained(SHIPPED)


@pytest.fixture(scope="module")
def reference():
    return reference_tokenizer(SHIPPED / "spiece.model")


# -- the texts --------------------------------------------------------------------------------------

#: Characters that stress ALBERT's preprocessing: whitespace of every kind, control and format
#: characters (zero-width joiners, the BOM, soft hyphen), combining marks, compatibility forms
#: (ligatures, full width, circled digits), case that changes length, quotes, digits and commas.
TRICKY = (
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000"
    "\x00\x01\x07\x7f\u200b\u200c\u200d\u2060\ufeff\u00ad\u061c\u200e\u200f"
    "\u0300\u0301\u0302\u0308\u0323\u0327\u034f\u20dd"
    "ﬁﬂﬀﬃｆｕＡ１２①Ⅻ½²ℌ™ǅİıẞßΣσς"
    "`'\"“”‘’«»,.;:!?-–—()[]<>/\\_#@$%&*+=~^|"
    "0123456789"
)
words = st.one_of(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12),
    st.text(st.sampled_from(TRICKY), min_size=1, max_size=8),
    st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz"), min_size=1, max_size=12),
    st.from_regex(r"[0-9]{1,4}(,[0-9]{1,4}){0,3},?", fullmatch=True),  # the ,<digit> re-split
    st.text(st.sampled_from("abcdefghij"), min_size=60, max_size=300),  # longer than any piece
)
separators = st.sampled_from([" ", "  ", "\t", "\n", " \u00a0", "\u3000", ""])


@st.composite
def texts(draw, word_source=words, max_words: int = 8) -> str:
    chosen = draw(st.lists(word_source, min_size=0, max_size=max_words))
    return "".join(word + draw(separators) for word in chosen)


plain_texts = texts().filter(lambda text: not mentions_special_token(text))
special_tokens = st.sampled_from([token for token in SPECIAL_TOKENS if token != "<unk>"])


@st.composite
def texts_with_spaced_special_tokens(draw) -> str:
    """Special tokens written in the text with whitespace (or the text's end) after each."""
    parts = draw(st.lists(st.tuples(plain_texts, special_tokens), min_size=1, max_size=4))
    return "".join(f"{text} {token} " for text, token in parts) + draw(plain_texts)


# -- the properties ---------------------------------------------------------------------------------


def check_ids_equal_reference(ours, reference, text: str) -> None:
    assert ours.encode(text) == reference.encode(text), (text, ours.tokenize(text), reference.tokenize(text))


def check_glued_text_continues_the_word(ours, reference, before: str, token: str, after: str) -> None:
    """The documented rule: text right after a special token is encoded as the continuation of a
    word, so its first piece has no "▁" (the reference starts a new word there: a "▁" piece or a
    "▁word"); the text before the token is encoded as the reference encodes it."""
    text = f"{before} {token}{after}"
    pieces = ours.tokenize(text)
    position = pieces.index(token, len(ours.tokenize(before)))
    assert pieces[:position] == reference.tokenize(before) and position == len(reference.tokenize(before)), text
    glued = pieces[position + 1 :]
    assert glued and not glued[0].startswith("▁"), (text, pieces)
    spaced = reference.tokenize(f"{before} {token} {after}")[position + 1 :]
    assert "".join(glued).replace("▁", "") == "".join(spaced).replace("▁", ""), (text, glued, spaced)  # same text


def check_offsets(ours, reference, text: str) -> None:
    encoding = ours(text, add_special_tokens=False, return_offsets_mapping=True)
    previous_start = 0
    for start, end in encoding["offset_mapping"]:
        assert 0 <= start <= end <= len(text), (text, start, end)
        assert start >= previous_start, (text, encoding["offset_mapping"])
        previous_start = start


def check_decode_round_trip(ours, reference, text: str) -> None:
    ids = ours.encode(text, add_special_tokens=False)
    decoded = ours.decode(ids)
    assert decoded == reference.decode(ids), (text, decoded)
    if ours.unk_token_id not in ids:
        assert ours.encode(decoded, add_special_tokens=False) == ids, (text, decoded)


def check_pair_truncation(ours, reference, first: str, second: str, max_length: int, strategy) -> None:
    ours_encoding = ours(first, second, truncation=strategy, max_length=max_length)
    reference_encoding = reference(first, second, truncation=strategy, max_length=max_length)
    for key in ("input_ids", "token_type_ids"):
        assert ours_encoding[key] == reference_encoding[key], (first, second, max_length, strategy, key)


def properties(check, **arguments):
    """The test of one property: ``(bounded, thorough)``, the second marked slow."""
    def test(ours, reference, **drawn):
        check(ours, reference, **drawn)

    return quick(given(**arguments)(test)), pytest.mark.slow(thorough(given(**arguments)(test)))


glued_after = st.text(st.sampled_from("abcxyz.,!?0123"), min_size=1, max_size=8)
pair_arguments = {"first": plain_texts, "second": plain_texts, "max_length": st.integers(4, 40),
                  "strategy": st.sampled_from([True, "longest_first"])}

test_ids_equal_reference, test_ids_equal_reference_thoroughly = properties(
    check_ids_equal_reference, text=plain_texts)
test_ids_with_spaced_special_tokens_equal_reference, test_ids_with_spaced_special_tokens_equal_reference_thoroughly = (
    properties(check_ids_equal_reference, text=texts_with_spaced_special_tokens()))
test_text_glued_to_a_special_token_continues_the_word, test_text_glued_to_a_special_token_continues_the_word_thoroughly = (
    properties(check_glued_text_continues_the_word, before=plain_texts, token=special_tokens, after=glued_after))
test_offsets_are_in_range_and_never_go_back, test_offsets_are_in_range_and_never_go_back_thoroughly = properties(
    check_offsets, text=texts(max_words=12))
test_decode_equals_reference_and_round_trips, test_decode_equals_reference_and_round_trips_thoroughly = properties(
    check_decode_round_trip, text=plain_texts)
test_pairs_with_truncation_equal_reference, test_pairs_with_truncation_equal_reference_thoroughly = properties(
    check_pair_truncation, **pair_arguments)
