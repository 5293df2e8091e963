"""Input texts, without torch: checking them and cutting them into pieces with their character
spans. Every codec starts here (a process that only encodes, as ``albert serve``'s HTTP side
does, never loads torch)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, InputTypeError
from ..text_normalization import trim_span, utf8_problem


@dataclass
class Pieces:
    """One text cut into SentencePiece pieces (no special tokens).

    ``spans[i]`` is the character span of piece ``i`` in the text, trimmed of whitespace (a bare
    "▁" piece has an empty span at the start of its word); ``word_ids[i]`` is the index of the
    whitespace/punctuation word the piece belongs to, as the tokenizer numbers words.
    """

    ids: list[int]
    spans: list[tuple[int, int]]
    word_ids: list[int]

    def __len__(self) -> int:
        return len(self.ids)


def encode_pieces(tokenizer: Any, texts: Sequence[str], with_spans: bool = True) -> list[Pieces]:
    """Tokenize ``texts`` without special tokens, keeping each piece's span and word.

    ``with_spans=False`` leaves ``spans`` and ``word_ids`` empty: aligning pieces to characters
    costs several times the tokenization itself, and sentence or document vectors do not need it.
    """
    if not texts:
        return []
    if not with_spans:
        ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return [Pieces(ids=list(row), spans=[], word_ids=[]) for row in ids]
    encoding = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    result = []
    for index, text in enumerate(texts):
        ids = list(encoding["input_ids"][index])
        offsets = encoding["offset_mapping"][index]
        word_ids = encoding.word_ids(index)
        spans = [trim_span(text, int(start), int(end)) for start, end in offsets]
        words = [word if word is not None else -1 for word in word_ids]
        result.append(Pieces(ids=ids, spans=spans, word_ids=words))
    return result


def check_texts(texts: Sequence[Any], name: str = "inputs", indices: Sequence[int] | None = None) -> None:
    """Reject inputs that are not strings, hold nothing to read or are not valid UTF-8 (lone
    surrogates), naming the first such input as ``name[index]``: counted from 0, as Python
    indexes the list the caller passed (``indices`` gives each text's index there when
    ``texts`` is a selection of it)."""
    for position, text in enumerate(texts):
        where = f"{name}[{indices[position] if indices is not None else position}]"
        if not isinstance(text, str):
            raise InputTypeError(f"{where} is a {type(text).__name__}, not a string: {text!r}")
        if not text.strip():
            raise InputError(f"{where} is empty: give text to read (or leave that input out)")
        problem = utf8_problem(text)
        if problem is not None:
            raise InputError(f"{where} is not valid UTF-8: it holds {problem}")
