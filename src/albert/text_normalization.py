"""ALBERT's text preprocessing, as a plain string function and as one that tracks character origins.

ALBERT was pretrained on text that went through a fixed recipe before SentencePiece saw it:
lowercase, collapse whitespace, turn LaTeX-style quotes into ``"``, and drop accents (NFKD, then
remove combining marks). Reproducing the released ids exactly means reproducing that recipe
exactly, including its quirks:

* the reference tokenizer lowercases *character by character* before anything else (so a
  capital sigma always becomes ``σ``, never the word-final ``ς``) and then lowercases the
  whole string once more at the end (where Python's final-sigma rule *does* apply);
* whitespace is what ``str.split()`` calls whitespace.

:func:`normalize` is the fast path used for ids. :func:`normalize_with_alignment` produces the very
same string together with, for every output character, the span of input characters it came
from; offsets into the original text are built from that.
"""

from __future__ import annotations

import difflib
import re
import sys
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from .errors import InputError

#: ``(start, end)`` of the input characters one normalized character came from.
Span = tuple[int, int]

_NON_SPACE = re.compile(r"\S+")  # \s is exactly what str.split() splits on
_CAPITAL_SIGMA = "\u03a3"
_SMALL_SIGMA = "\u03c3"


@lru_cache(maxsize=1)
def _combining_marks_table() -> dict[int, None]:
    """A ``str.translate`` table deleting every combining mark (built once, ~0.1 s)."""
    return {cp: None for cp in range(sys.maxunicode + 1) if unicodedata.combining(chr(cp))}


def build_tables() -> None:
    """Build the normalizer's lookup tables now (a service calls this at start, so that its first
    accented text does not wait ~0.1 s for them)."""
    _combining_marks_table()


def lowercase_per_char(text: str) -> str:
    """Lowercase each character on its own, as the reference does before splitting special tokens.

    ``str.lower`` is context-free except for the capital sigma, which it turns into the
    word-final ``ς`` at the end of a word; lowering characters one at a time never does that.
    """
    if _CAPITAL_SIGMA in text:
        text = text.replace(_CAPITAL_SIGMA, _SMALL_SIGMA)
    return text.lower()


def strip_accents(text: str) -> str:
    """NFKD-decompose and drop combining marks (``é`` -> ``e``, ``ﬁ`` -> ``fi``, ``１`` -> ``1``)."""
    if text.isascii():  # NFKD is the identity on ASCII and there are no marks to drop
        return text
    return unicodedata.normalize("NFKD", text).translate(_combining_marks_table())


def normalize(
    text: str, *, do_lower_case: bool = True, remove_space: bool = True, keep_accents: bool = False
) -> str:
    """ALBERT's preprocessing of one chunk of text (a text, or the part between two special tokens)."""
    ascii_input = text.isascii()
    if do_lower_case:
        text = lowercase_per_char(text)
    if remove_space:
        text = " ".join(text.split())
    if "``" in text or "''" in text:
        text = text.replace("``", '"').replace("''", '"')
    if not keep_accents:
        text = strip_accents(text)
    # ASCII input was fully lowered above; other text may decompose into capitals (ℌ -> H).
    if do_lower_case and not ascii_input:
        text = text.lower()
    return text


def normalize_with_alignment(
    text: str, *, do_lower_case: bool = True, remove_space: bool = True, keep_accents: bool = False
) -> tuple[str, list[Span]]:
    """Return ``normalize(text)`` and, for each of its characters, the input span it came from.

    The steps are replayed on the text with a span per character; when that replay does not
    reproduce the whole-string result (a rule that looks at context), the spans are aligned to
    the real result by sequence matching instead, so this never fails.
    """
    expected = normalize(
        text, do_lower_case=do_lower_case, remove_space=remove_space, keep_accents=keep_accents
    )
    current = text
    spans = [(index, index + 1) for index in range(len(text))]
    if do_lower_case:
        current, spans = _map_chars(current, spans, lowercase_per_char)
    if remove_space:
        current, spans = _collapse_whitespace(current, spans)
    current, spans = _merge_pair(current, spans, "``", '"')
    current, spans = _merge_pair(current, spans, "''", '"')
    if not keep_accents:
        current, spans = _map_chars(current, spans, strip_accents)
    if do_lower_case:
        current, spans = _map_chars(current, spans, lowercase_per_char)
    # Same length means the characters line up one to one (a context rule such as the final
    # sigma changes a character, never the length); anything else needs a real alignment.
    if len(current) == len(expected):
        return expected, spans
    return expected, align_spans(current, spans, expected)


def _map_chars(text: str, spans: list[Span], function: Callable[[str], str]) -> tuple[str, list[Span]]:
    """Apply a per-character function; every output character inherits its input's span."""
    mapped = function(text)
    if mapped == text:
        return text, spans
    if len(mapped) == len(text) and function is lowercase_per_char:
        return mapped, spans  # lowercasing maps each character to at least one, so here to exactly one
    out_chars: list[str] = []
    out_spans: list[Span] = []
    for char, span in zip(text, spans, strict=True):
        if char.isascii():  # neither lowercasing nor accent stripping changes the length of ASCII
            out_chars.append(function(char))
            out_spans.append(span)
            continue
        replacement = function(char)
        out_chars.append(replacement)
        out_spans.extend([span] * len(replacement))
    return "".join(out_chars), out_spans


def _collapse_whitespace(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """Replay ``" ".join(text.split())``: a run of whitespace inside the text becomes one space."""
    out_words: list[str] = []
    out_spans: list[Span] = []
    previous_end = None
    for match in _NON_SPACE.finditer(text):
        start, end = match.span()
        if previous_end is not None:  # the run of whitespace between two words becomes one space
            out_spans.append((spans[previous_end][0], spans[start - 1][1]))
        out_words.append(match.group())
        out_spans.extend(spans[start:end])
        previous_end = end
    return " ".join(out_words), out_spans


def _merge_pair(text: str, spans: list[Span], pair: str, replacement: str) -> tuple[str, list[Span]]:
    """Replay ``str.replace(pair, replacement)`` (left to right, non-overlapping) for a 2-char pair."""
    position = text.find(pair)
    if position < 0:
        return text, spans
    out_spans: list[Span] = []
    previous = 0
    while position >= 0:
        out_spans.extend(spans[previous:position])
        out_spans.append((spans[position][0], spans[position + 1][1]))
        previous = position + 2
        position = text.find(pair, previous)
    out_spans.extend(spans[previous:])
    return text.replace(pair, replacement), out_spans


def align_spans(source: str, source_spans: list[Span], target: str) -> list[Span]:
    """Give each character of ``target`` a span, by aligning it to ``source`` whose spans are known.

    Matching characters take their counterpart's span; a replaced block takes the span covering
    the block it replaces; inserted characters take their neighbour's span.
    """
    if not source_spans:
        return [(0, 0)] * len(target)
    target_spans: list[Span] = []
    matcher = difflib.SequenceMatcher(None, source, target, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            target_spans.extend(source_spans[i1:i2])
        elif tag == "replace":
            covering = (source_spans[i1][0], source_spans[i2 - 1][1])
            target_spans.extend([covering] * (j2 - j1))
        elif tag == "insert":
            neighbour = source_spans[i1 - 1] if i1 > 0 else source_spans[0]
            target_spans.extend([neighbour] * (j2 - j1))
    return target_spans


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Narrow ``text[start:end]`` to its visible characters (no leading or trailing whitespace)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


# -- text that is not UTF-8 ------------------------------------------------------------------------


def utf8_problem(text: str) -> str | None:
    """Why ``text`` cannot be written as UTF-8, and where, or None when it can.

    A Python string may hold lone surrogates (U+D800..U+DFFF), which no UTF-8 text holds: Python
    reads bytes that are not UTF-8 (in command-line arguments, or a stream opened with
    ``errors="surrogateescape"``) as U+DC80..U+DCFF, one per byte, and SentencePiece cannot take
    them. The answer names the first one: ``"a lone surrogate U+DCE9 at character 3 (the byte
    0xE9, which is not UTF-8)"``.
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        origin = f" (the byte 0x{code - 0xDC00:02X}, which is not UTF-8)" if 0xDC80 <= code <= 0xDCFF else ""
        return f"a lone surrogate U+{code:04X} at character {error.start}{origin}"
    return None


def decode_utf8(data: bytes, source: str) -> str:
    """``data`` as text (a UTF-8 byte-order mark dropped).

    Raises:
        InputError: the bytes are not UTF-8; the message names ``source``, the line and the byte.
    """
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        line_start = data.rfind(b"\n", 0, offset) + 1
        line = data.count(b"\n", 0, offset) + 1
        raise InputError(
            f"{source}, line {line} is not valid UTF-8 (the byte 0x{data[offset]:02X} at byte {offset - line_start} "
            "of the line); convert it to UTF-8"
        ) from None
