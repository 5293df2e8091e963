"""What every tokenizer here shares: transformers' calling convention and outputs.

:class:`BaseTokenizer` turns texts (or pairs, or pre-split words) into :class:`BatchEncoding`
rows with transformers' keys, truncation strategies, overflow windows with a stride, padding,
offsets and word ids, and loads/saves its settings as tokenizer_config.json. Subclasses supply
only how one text becomes pieces: SentencePiece for ALBERT (:mod:`albert.tokenizer`), WordPiece
for the Chinese checkpoints (:mod:`albert.wordpiece`).
"""

from __future__ import annotations

import bisect
import gc
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from albert.atomic_files import atomic_folder, write_text_atomic
from albert.errors import (
    CheckpointError,
    ConfigError,
    InputError,
    InputTypeError,
    OptionError,
    OptionTypeError,
)
from albert.hub import resolve_file
from albert.json_files import read_json_file
from albert.text_normalization import Span, utf8_problem

CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
#: The vocabulary of each kind of tokenizer: SentencePiece (read first when a folder holds both)
#: and WordPiece (the Chinese ALBERT models).
VOCABULARY_FILES = ("spiece.model", "vocab.txt")
#: Every file a tokenizer is saved as, whatever its kind.
TOKENIZER_FILES = (*VOCABULARY_FILES, CONFIG_FILE, SPECIAL_TOKENS_FILE)
DEFAULT_MODEL_MAX_LENGTH = 512
#: transformers' marker for "no length limit"; a model_max_length this large disables truncation.
VERY_LARGE_INTEGER = int(1e30)

#: The special-token roles, in the order transformers lists them (all_special_tokens follows it).
SPECIAL_TOKEN_ATTRIBUTES = (
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
)

TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")
PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
TENSOR_TYPES = ("pt", "np")

_CLEANUP_REPLACEMENTS = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
    (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)  # fmt: skip


def clean_up_tokenization(text: str) -> str:
    """Remove the spaces a word-by-word decode leaves before punctuation and English contractions."""
    for spaced, joined in _CLEANUP_REPLACEMENTS:
        text = text.replace(spaced, joined)
    return text


# --------------------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------------------


@dataclass
class EncodedText:
    """One text turned into token ids, without [CLS]/[SEP]; offsets and word ids when asked for."""

    ids: list[int]
    offsets: list[Span] | None = None
    word_ids: list[int | None] | None = None


@dataclass(slots=True)
class _Row:
    """Where one output row comes from: which input, which window of each sequence, how padded."""

    sample: int
    first: tuple[int, int]
    second: tuple[int, int] | None
    special: bool
    pad: int = 0


class BatchEncoding(dict):
    """The tokenizer's output: a dict of model inputs that also allows ``enc.input_ids``.

    Besides the keys it knows which input and which tokens every row came from, so it can answer
    :meth:`word_ids`, :meth:`sequence_ids` and :meth:`tokens` for any row.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        rows: list[_Row] | None = None,
        aligner: Callable[[int], tuple[EncodedText, EncodedText | None]] | None = None,
        id_to_token: Callable[[list[int]], list[str]] | None = None,
        batched: bool = True,
    ) -> None:
        super().__init__(data or {})
        self._rows = rows
        self._aligner = aligner
        self._id_to_token = id_to_token
        self._batched = batched

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # never hide a missing private attribute (pickle, copy) behind a key
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"this BatchEncoding has no {name!r}; it holds {sorted(self)}") from None

    @property
    def data(self) -> dict[str, Any]:
        """The plain dict of outputs (transformers' BatchEncoding has it too)."""
        return dict(self)

    def _row(self, batch_index: int) -> _Row:
        if self._rows is None:
            raise InputError(
                "this BatchEncoding does not know where its tokens came from (it was built by pad() "
                "or by hand); word_ids()/sequence_ids() need the output of the tokenizer's __call__."
            )
        if not self._batched and batch_index != 0:
            raise IndexError(f"batch_index={batch_index}, but this encoding holds a single input (use 0).")
        if not -len(self._rows) <= batch_index < len(self._rows):
            raise IndexError(
                f"batch_index={batch_index} is out of range: the batch has {len(self._rows)} rows."
            )
        return self._rows[batch_index]

    def sequence_ids(self, batch_index: int = 0) -> list[int | None]:
        """Per token: 0 for the first text, 1 for the second, None for [CLS]/[SEP]/padding."""
        row = self._row(batch_index)
        first = [0] * (row.first[1] - row.first[0])
        second = [1] * (row.second[1] - row.second[0]) if row.second is not None else None
        return _join_row(row, first, second, None, None)

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """Per token: the index of the word it belongs to in its own text, None for added tokens.

        Words are the whitespace-separated words of the original text (a special token written
        in the text is a word of its own), or the given words with ``is_split_into_words=True``.
        """
        row = self._row(batch_index)
        first, second = self._aligner(row.sample)
        first_words = first.word_ids[row.first[0] : row.first[1]]
        second_words = second.word_ids[row.second[0] : row.second[1]] if row.second is not None else None
        return _join_row(row, first_words, second_words, None, None)

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The token strings of one row (pieces, special tokens and padding)."""
        self._row(batch_index)  # validates the index the same way as word_ids
        ids = self["input_ids"][batch_index] if self._batched else self["input_ids"]
        return self._id_to_token(ids.tolist() if hasattr(ids, "tolist") else ids)

    def to(self, device: Any) -> BatchEncoding:
        """Move every tensor to ``device`` (a torch device or its name); other values stay as they are."""
        for key, value in self.items():
            if hasattr(value, "to") and callable(value.to):
                self[key] = value.to(device)
        return self


def _join_row(row: _Row, first: list, second: list | None, special: Any, pad: Any) -> list:
    """Lay one row out as the model sees it: [CLS] first [SEP] (second [SEP]) padding."""
    if row.special:
        out = [special, *first, special]
        if second is not None:
            out.extend(second)
            out.append(special)
    else:
        out = list(first) if second is None else [*first, *second]
    if row.pad:
        out.extend([pad] * row.pad)
    return out


# --------------------------------------------------------------------------------------------------
# Argument handling shared by __call__ and pad
# --------------------------------------------------------------------------------------------------


def _truncation_strategy(truncation: bool | str | None, max_length: int | None, padding: Any) -> str | None:
    """Map the many spellings of ``truncation`` onto one strategy name, or None for no truncation."""
    if truncation is None:
        # transformers truncates when only max_length is given; keep that so code ported from it works
        return "longest_first" if max_length is not None and padding in (False, None, "do_not_pad") else None
    if truncation is True:
        return "longest_first"
    if truncation is False or truncation == "do_not_truncate":
        return None
    if isinstance(truncation, str) and truncation in TRUNCATION_STRATEGIES:
        return truncation
    raise OptionError(
        f"truncation={truncation!r} is not a truncation strategy: use True, False, or one of {TRUNCATION_STRATEGIES}."
    )


def _padding_strategy(padding: bool | str | None) -> str | None:
    """Map the spellings of ``padding`` onto "longest", "max_length", or None for no padding."""
    if padding is True:
        return "longest"
    if padding is False or padding is None or padding == "do_not_pad":
        return None
    if isinstance(padding, str) and padding in PADDING_STRATEGIES:
        return padding
    raise OptionError(
        f"padding={padding!r} is not a padding strategy: use True, False, or one of {PADDING_STRATEGIES}."
    )


def _check_positive_int(name: str, value: Any, *, allow_zero: bool = False, allow_none: bool = True) -> None:
    lowest = 0 if allow_zero else 1
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise OptionError(f"{name}={value!r} must be an integer >= {lowest}{' (or None)' if allow_none else ''}.")


def check_flag(name: str, value: Any, *, allow_none: bool = False) -> bool | None:
    """A tokenizer's on/off setting (``do_lower_case``, ...) as a bool; the message starts with
    ``name=value`` so that :func:`build_from_config` can say which saved setting it was.

    Raises:
        OptionError: anything but True or False (0 or 1), or None where ``allow_none``: a string
            such as ``"no"`` would read as True.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, int, np.bool_)) and value in (0, 1):
        return bool(value)
    raise OptionError(f"{name}={value!r} must be True or False{' (or None)' if allow_none else ''}.")


def _check_tensor_type(return_tensors: Any) -> None:
    if return_tensors is not None and return_tensors not in TENSOR_TYPES:
        raise OptionError(
            f"return_tensors={return_tensors!r} is not supported: use 'pt' (torch), 'np' (numpy) or None (lists)."
        )


def _to_tensors(data: dict[str, Any], return_tensors: str) -> dict[str, Any]:
    """Turn every value into an int64 numpy array or torch tensor; ragged rows are an error."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        array = value if isinstance(value, np.ndarray) else _as_array(key, value)
        if return_tensors == "pt":
            import torch

            out[key] = torch.from_numpy(array)
        else:
            out[key] = array
    return out


def _as_array(key: str, value: Any) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.int64)
    except (ValueError, TypeError):
        raise OptionError(
            f"cannot make a tensor of {key!r}: its rows have different lengths (or are not numbers). "
            "Pad them first, e.g. with padding=True."
        ) from None


# -- padding rows into arrays: the one routine behind the tokenizer's tensors, the pipelines'
# batches and the training collators ------------------------------------------------------------


def pad_rows(rows: Sequence[Sequence[Any]], fill: int | tuple[int, int], width: int | None = None) -> np.ndarray:
    """Right-pad rows of ids into one int64 array ``(len(rows), width)``.

    Args:
        rows: lists or 1-d arrays of ints; or of ``(start, end)`` pairs (offsets) when ``fill``
            is a pair, giving ``(len(rows), width, 2)``.
        fill: the value at padding positions (the pad id, 0, -100 for ignored labels, ...).
        width: the padded length; by default the longest row's.

    Raises:
        OptionError: a row is longer than ``width``.
    """
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = int(lengths.max(initial=0)) if width is None else width
    if lengths.size and lengths.max() > width:
        raise OptionError(f"cannot pad a row of {int(lengths.max())} tokens to {width}: it is longer")
    pair = isinstance(fill, tuple)
    if rows and isinstance(rows[0], np.ndarray):
        values = np.concatenate(rows)  # arrays (pretraining's rows) are joined without a Python loop
    else:
        flat = itertools.chain.from_iterable(rows)
        values = np.fromiter(
            itertools.chain.from_iterable(flat) if pair else flat, dtype=np.int64,
            count=int(lengths.sum()) * (2 if pair else 1),
        )  # fmt: skip
    array = np.empty((len(rows), width, 2) if pair else (len(rows), width), dtype=np.int64)
    array[...] = fill
    array[np.arange(width) < lengths[:, None]] = values.reshape(-1, 2) if pair else values
    return array


def pad_batch(
    input_ids: Sequence[Sequence[int]],
    pad_token_id: int,
    token_type_ids: Sequence[Sequence[int]] | None = None,
    *,
    pad_to_multiple_of: int | None = None,
) -> dict[str, np.ndarray]:
    """Right-pad rows of token ids (and their segment ids) into a batch of model inputs.

    Args:
        input_ids: one list (or 1-d array) of ids per row.
        pad_token_id: the id at padding positions.
        token_type_ids: the rows' segment ids, each as long as its row (or empty: all 0); None
            for all 0.
        pad_to_multiple_of: round the width (the longest row) up to a multiple of this.

    Returns:
        ``(B, S)`` int64 arrays: ``input_ids``, ``attention_mask`` (1 on real tokens, 0 on
        padding) and ``token_type_ids`` (0 on padding).
    """
    lengths = np.fromiter(map(len, input_ids), dtype=np.int64, count=len(input_ids))
    width = int(lengths.max(initial=0))
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    return {
        "input_ids": pad_rows(input_ids, pad_token_id, width),
        "attention_mask": (np.arange(width) < lengths[:, None]).astype(np.int64),
        "token_type_ids": (
            pad_rows(token_type_ids, 0, width) if token_type_ids is not None
            else np.zeros((len(input_ids), width), dtype=np.int64)
        ),
    }


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small lists.

    A batch creates hundreds of thousands of lists that can never form cycles; the collector
    would otherwise rescan them over and over (it took as much time as SentencePiece itself).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def as_id_list(token_ids: Any) -> list[int]:
    """Accept ids as a list, a tuple, a numpy array or a tensor (a 0-d one too)."""
    if hasattr(token_ids, "tolist"):
        token_ids = token_ids.tolist()
    if isinstance(token_ids, int):
        return [token_ids]
    return list(token_ids)


def word_spans(text: str, special_spans: Iterable[Span]) -> list[Span]:
    """Whitespace-separated words of ``text``; a special token written in the text is a word of its own."""
    words: list[Span] = []
    position = 0
    for start, end in sorted(special_spans):
        words.extend(
            (m.start() + position, m.end() + position) for m in re.finditer(r"\S+", text[position:start])
        )
        words.append((start, end))
        position = end
    words.extend((m.start() + position, m.end() + position) for m in re.finditer(r"\S+", text[position:]))
    return words


def word_ids_from_offsets(offsets: list[Span], words: list[Span]) -> list[int | None]:
    """Index of the word each token span falls in (an empty span: the word at or after it)."""
    starts = [start for start, _ in words]
    out: list[int | None] = []
    for start, _ in offsets:
        if not words:
            out.append(None)
            continue
        index = bisect.bisect_right(starts, start) - 1
        if index < 0 or start >= words[index][1]:  # in whitespace: the token belongs to the next word
            index = min(index + 1, len(words) - 1)
        out.append(index)
    return out


# --------------------------------------------------------------------------------------------------
# The shared tokenizer machinery
# --------------------------------------------------------------------------------------------------


class BaseTokenizer:
    """Calling convention, truncation, overflow windows, padding and tensors for ALBERT's tokenizers.

    Subclasses provide the vocabulary and :meth:`_encode_texts` / :meth:`_encode_word_lists`,
    which turn texts into :class:`EncodedText`.
    """

    model_input_names = ["input_ids", "token_type_ids", "attention_mask"]
    #: Settings from_pretrained takes from tokenizer_config.json or from keyword arguments.
    config_options: tuple[str, ...] = ("model_max_length",)
    padding_side = "right"
    truncation_side = "right"
    clean_up_tokenization_spaces = False

    def __init__(self, special_tokens: Mapping[str, str], model_max_length: int) -> None:
        _check_positive_int("model_max_length", model_max_length, allow_none=False)
        self.model_max_length = int(model_max_length)
        self._special_tokens = dict(special_tokens)
        self._special_token_ids = {
            role: self._special_token_id(role, token) for role, token in special_tokens.items()
        }
        self._special_id_set = frozenset(self._special_token_ids.values())

    # -- vocabulary, provided by subclasses ------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def get_vocab(self) -> dict[str, int]:
        raise NotImplementedError

    def _token_to_id(self, token: str) -> int | None:
        """The id of a token string, or None when the vocabulary lacks it."""
        raise NotImplementedError

    def _id_to_token(self, index: int) -> str:
        raise NotImplementedError

    def _encode_texts(self, texts: list[str], with_alignment: bool) -> list[EncodedText]:
        raise NotImplementedError

    def _encode_word_lists(self, word_lists: list[list[str]], with_alignment: bool) -> list[EncodedText]:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.vocab_size

    # -- special tokens --------------------------------------------------------------------------

    def _special_token_id(self, role: str, token: str) -> int:
        if not isinstance(token, str) or not token:
            raise OptionError(f"{role}={token!r}: a special token must be a non-empty string.")
        index = self._token_to_id(token)
        if index is None:
            raise OptionError(
                f"{role}={token!r} is not in the vocabulary. Special tokens must be tokens of the vocabulary "
                "file; leave them at their defaults unless the vocabulary defines others."
            )
        return index

    def _special(self, role: str) -> str | None:
        return self._special_tokens.get(role)

    def _special_id(self, role: str) -> int | None:
        return self._special_token_ids.get(role)

    cls_token = property(lambda self: self._special("cls_token"), doc="The classification token, [CLS].")
    sep_token = property(lambda self: self._special("sep_token"), doc="The separator token, [SEP].")
    pad_token = property(lambda self: self._special("pad_token"), doc="The padding token.")
    unk_token = property(lambda self: self._special("unk_token"), doc="The unknown token.")
    mask_token = property(lambda self: self._special("mask_token"), doc="The mask token, [MASK].")
    bos_token = property(
        lambda self: self._special("bos_token"), doc="Beginning of sequence (ALBERT: [CLS])."
    )
    eos_token = property(lambda self: self._special("eos_token"), doc="End of sequence (ALBERT: [SEP]).")
    cls_token_id = property(lambda self: self._special_id("cls_token"), doc="Id of [CLS].")
    sep_token_id = property(lambda self: self._special_id("sep_token"), doc="Id of [SEP].")
    pad_token_id = property(lambda self: self._special_id("pad_token"), doc="Id of the padding token.")
    unk_token_id = property(lambda self: self._special_id("unk_token"), doc="Id of the unknown token.")
    mask_token_id = property(lambda self: self._special_id("mask_token"), doc="Id of [MASK].")
    bos_token_id = property(lambda self: self._special_id("bos_token"), doc="Id of the bos token.")
    eos_token_id = property(lambda self: self._special_id("eos_token"), doc="Id of the eos token.")
    pad_token_type_id = 0

    @property
    def special_tokens_map(self) -> dict[str, str]:
        """Role -> token string, e.g. ``{"cls_token": "[CLS]", ...}``."""
        return dict(self._special_tokens)

    @property
    def all_special_tokens(self) -> list[str]:
        """Every distinct special token, in transformers' order."""
        return list(
            dict.fromkeys(
                self._special_tokens[role]
                for role in SPECIAL_TOKEN_ATTRIBUTES
                if role in self._special_tokens
            )
        )

    @property
    def all_special_ids(self) -> list[int]:
        """Ids of :attr:`all_special_tokens`, in the same order."""
        return [self._token_to_id(token) for token in self.all_special_tokens]

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many tokens [CLS]/[SEP] add: 2 for one text, 3 for a pair."""
        return 3 if pair else 2

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``."""
        cls, sep = [self.cls_token_id], [self.sep_token_id]
        if token_ids_1 is None:
            return cls + list(token_ids_0) + sep
        return cls + list(token_ids_0) + sep + list(token_ids_1) + sep

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``."""
        first = [0] * (len(token_ids_0) + 2)
        return first if token_ids_1 is None else first + [1] * (len(token_ids_1) + 1)

    def get_special_tokens_mask(
        self,
        token_ids_0: list[int],
        token_ids_1: list[int] | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        """1 where a special token is (or will be, once [CLS]/[SEP] are added), else 0.

        With ``already_has_special_tokens`` every special id counts, [UNK] included, as in
        transformers (masked-LM collators rely on it to leave those positions alone).
        """
        if already_has_special_tokens:
            if token_ids_1 is not None:
                raise OptionError(
                    "token_ids_1 must be None when already_has_special_tokens=True: pass the whole "
                    "sequence (with its [CLS]/[SEP]) as token_ids_0."
                )
            return [1 if index in self._special_id_set else 0 for index in as_id_list(token_ids_0)]
        mask = [1] + [0] * len(token_ids_0) + [1]
        return mask if token_ids_1 is None else mask + [0] * len(token_ids_1) + [1]

    # -- tokens <-> ids --------------------------------------------------------------------------

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        """Id of a token, or ids of a list of tokens; unknown tokens get the [UNK] id."""
        if isinstance(tokens, str):
            index = self._token_to_id(tokens)
            return self.unk_token_id if index is None else index
        return [self.convert_tokens_to_ids(token) for token in tokens]

    def convert_ids_to_tokens(
        self, ids: int | Sequence[int], skip_special_tokens: bool = False
    ) -> str | list[str]:
        """Token string of an id, or of each id of a list (optionally without special tokens)."""
        if isinstance(ids, int) or (hasattr(ids, "ndim") and ids.ndim == 0):
            return self._id_to_token(self._checked_id(int(ids)))
        ids = as_id_list(ids)
        if skip_special_tokens:
            ids = [index for index in ids if index not in self._special_id_set]
        return [self._id_to_token(self._checked_id(index)) for index in ids]

    def _checked_id(self, index: int) -> int:
        if not 0 <= index < self.vocab_size:
            raise InputError(
                f"token id {index} is outside the vocabulary (ids go from 0 to {self.vocab_size - 1})."
            )
        return index

    def batch_decode(
        self, sequences: Iterable[Any], skip_special_tokens: bool = False, **kwargs: Any
    ) -> list[str]:
        """:meth:`decode` for each sequence of a batch (a list of lists, or a 2-d tensor/array)."""
        if hasattr(sequences, "tolist"):
            sequences = sequences.tolist()
        return [self.decode(ids, skip_special_tokens=skip_special_tokens, **kwargs) for ids in sequences]

    def decode(
        self,
        token_ids: Any,
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
    ) -> str:
        raise NotImplementedError

    # -- calling ---------------------------------------------------------------------------------

    def __call__(
        self,
        text: str | list[str] | list[list[str]] | list[tuple[str, str]],
        text_pair: str | list[str] | list[list[str]] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        return_tensors: str | None = None,
        return_token_type_ids: bool | None = None,
        return_attention_mask: bool | None = None,
        return_overflowing_tokens: bool = False,
        return_special_tokens_mask: bool = False,
        return_offsets_mapping: bool = False,
        return_length: bool = False,
    ) -> BatchEncoding:
        """Tokenize one text, a pair, or a batch of either, into model inputs.

        Returns a :class:`BatchEncoding` with ``input_ids``, ``token_type_ids`` and
        ``attention_mask`` (plus ``offset_mapping``, ``special_tokens_mask``, ``length`` and
        ``overflow_to_sample_mapping`` when asked for). One text gives flat lists, a batch gives
        one list per row; with ``return_overflowing_tokens`` every input may give several rows
        (windows that overlap by ``stride`` tokens), so the output is always batched.
        """
        firsts, seconds, batched = self._collect_inputs(text, text_pair, is_split_into_words)
        check_utf8(firsts, "text", batched)
        if seconds is not None:
            check_utf8(seconds, "text_pair", batched)
        strategy = _truncation_strategy(truncation, max_length, padding)
        padding_mode = _padding_strategy(padding)
        _check_positive_int("max_length", max_length)
        _check_positive_int("stride", stride, allow_zero=True)
        _check_positive_int("pad_to_multiple_of", pad_to_multiple_of)
        _check_tensor_type(return_tensors)

        encode = self._encode_word_lists if is_split_into_words else self._encode_texts
        with _gc_paused():
            first_encoded = encode(firsts, return_offsets_mapping)
            second_encoded = encode(seconds, return_offsets_mapping) if seconds is not None else None
            rows = self._plan_all_rows(
                first_encoded, second_encoded, strategy, self._truncation_limit(strategy, max_length),
                stride, return_overflowing_tokens, add_special_tokens,
            )  # fmt: skip
            data = self._assemble(
                rows, first_encoded, second_encoded,
                token_type_ids=return_token_type_ids is not False,
                attention_mask=return_attention_mask is not False,
                special_tokens_mask=return_special_tokens_mask,
                offsets=return_offsets_mapping,
            )  # fmt: skip
            data = self._pad_output(data, rows, padding_mode, max_length, pad_to_multiple_of, return_tensors)
        if return_length:
            data["length"] = [len(ids) for ids in data["input_ids"]]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = [row.sample for row in rows]

        # one text gives flat lists, unless overflow made several rows or tensors keep a batch axis
        keep_batch = batched or return_overflowing_tokens or return_tensors is not None
        if not keep_batch:
            data = {key: value[0] for key, value in data.items()}
        if return_tensors is not None:
            data = _to_tensors(data, return_tensors)
        aligner = _Aligner(self, firsts, seconds, first_encoded, second_encoded, is_split_into_words)
        return BatchEncoding(
            data, rows=rows, aligner=aligner, id_to_token=self.convert_ids_to_tokens, batched=keep_batch
        )

    def _pad_output(
        self,
        data: dict[str, list],
        rows: list[_Row],
        padding_mode: str | None,
        max_length: int | None,
        pad_to_multiple_of: int | None,
        return_tensors: str | None,
    ) -> dict[str, Any]:
        """Pad the rows as asked: as lists, or straight into arrays when tensors are wanted."""
        lengths = [len(ids) for ids in data["input_ids"]]
        target = self._padding_target(padding_mode, lengths, max_length, pad_to_multiple_of)
        if return_tensors is not None:
            return self._columns_to_arrays(data, target, rows)
        if target is not None:
            self._pad_columns(data, target, rows)
        return data

    def encode(
        self,
        text: str | list[str],
        text_pair: str | list[str] | None = None,
        add_special_tokens: bool = True,
        padding: bool | str = False,
        truncation: bool | str | None = None,
        max_length: int | None = None,
        stride: int = 0,
        is_split_into_words: bool = False,
        pad_to_multiple_of: int | None = None,
        return_tensors: str | None = None,
    ) -> list[int] | Any:
        """The ids of one text (or pair), with [CLS]/[SEP] unless ``add_special_tokens=False``."""
        if isinstance(text, (list, tuple)) and not is_split_into_words:
            raise InputTypeError(
                "encode() takes one text (a str); to encode a batch call the tokenizer itself: tokenizer(list_of_texts)."
            )
        encoding = self(
            text, text_pair, add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
            max_length=max_length, stride=stride, is_split_into_words=is_split_into_words,
            pad_to_multiple_of=pad_to_multiple_of, return_tensors=return_tensors,
            return_token_type_ids=False, return_attention_mask=False,
        )  # fmt: skip
        return encoding["input_ids"]

    # -- input validation ------------------------------------------------------------------------

    def _collect_inputs(
        self, text: Any, text_pair: Any, is_split_into_words: bool
    ) -> tuple[list, list | None, bool]:
        """Split the call's inputs into (first texts, second texts or None, was it a batch)."""
        if text is None:
            raise InputError(
                "text is None: pass a string, a list of strings, or (with is_split_into_words) a list of words."
            )
        if is_split_into_words:
            return self._collect_word_inputs(text, text_pair)
        if isinstance(text, str):
            if text_pair is not None and not isinstance(text_pair, str):
                raise InputTypeError(
                    f"text is one string, so text_pair must be one string too, got {type(text_pair).__name__}."
                )
            return [text], None if text_pair is None else [text_pair], False
        if not isinstance(text, (list, tuple)):
            raise InputTypeError(
                f"text must be a str or a list of str, got {type(text).__name__}"
                + (" (decode bytes first, e.g. text.decode('utf-8'))." if isinstance(text, bytes) else ".")
            )
        if len(text) == 0:
            raise InputError("text is an empty list: pass at least one text.")
        if text_pair is None and all(isinstance(item, (list, tuple)) for item in text):
            return self._split_pairs(text)
        for index, item in enumerate(text):
            if not isinstance(item, str):
                raise InputTypeError(
                    f"text[{index}] is a {type(item).__name__}, not a str: a batch is a list of strings "
                    "(or of (text, text_pair) tuples); pass is_split_into_words=True for lists of words."
                )
        if text_pair is None:
            return list(text), None, True
        return list(text), self._check_pair_list(text_pair, len(text), str), True

    @staticmethod
    def _split_pairs(pairs: Sequence[Sequence[str]]) -> tuple[list[str], list[str], bool]:
        for index, pair in enumerate(pairs):
            if len(pair) != 2 or not all(isinstance(part, str) for part in pair):
                raise InputTypeError(
                    f"text[{index}] must be a (text, text_pair) pair of two strings, got {pair!r} "
                    "(for lists of words, pass is_split_into_words=True)."
                )
        return [pair[0] for pair in pairs], [pair[1] for pair in pairs], True

    @staticmethod
    def _check_pair_list(text_pair: Any, expected: int, item_type: type) -> list:
        if not isinstance(text_pair, (list, tuple)):
            raise InputTypeError(
                f"text is a batch, so text_pair must be a list too, got {type(text_pair).__name__}."
            )
        if len(text_pair) != expected:
            raise InputError(
                f"text has {expected} items but text_pair has {len(text_pair)}: they must pair up one to one."
            )
        for index, item in enumerate(text_pair):
            if not isinstance(item, item_type):
                raise InputTypeError(
                    f"text_pair[{index}] is a {type(item).__name__}, expected {item_type.__name__}."
                )
        return list(text_pair)

    def _collect_word_inputs(self, text: Any, text_pair: Any) -> tuple[list, list | None, bool]:
        """Inputs with is_split_into_words: a list of words, or a batch (list) of such lists."""
        if not isinstance(text, (list, tuple)):
            raise InputTypeError(
                f"with is_split_into_words=True, text must be a list of words (or a list of such lists), "
                f"got {type(text).__name__}."
            )
        if len(text) == 0:
            raise InputError("text is an empty list: pass at least one word.")
        batched = isinstance(text[0], (list, tuple))
        examples = list(text) if batched else [text]
        for index, words in enumerate(examples):
            _check_words(words, f"text[{index}]" if batched else "text")
        if text_pair is None:
            return [list(words) for words in examples], None, batched
        pairs = self._check_pair_list(text_pair, len(examples), (list, tuple)) if batched else [text_pair]
        for index, words in enumerate(pairs):
            _check_words(words, f"text_pair[{index}]" if batched else "text_pair")
        return [list(words) for words in examples], [list(words) for words in pairs], batched

    # -- truncation and overflow windows ---------------------------------------------------------

    def _truncation_limit(self, strategy: str | None, max_length: int | None) -> int | None:
        """The total length rows are truncated to, or None for no truncation."""
        if strategy is None:
            return None
        limit = max_length if max_length is not None else self.model_max_length
        return None if limit >= VERY_LARGE_INTEGER else limit

    def _plan_all_rows(
        self,
        firsts: list[EncodedText],
        seconds: list[EncodedText] | None,
        strategy: str | None,
        limit: int | None,
        stride: int,
        overflow: bool,
        add_special_tokens: bool,
    ) -> list[_Row]:
        """The rows of every input (see :meth:`_plan_rows`)."""
        if limit is None and seconds is None:  # the common case, without per-row work
            return [
                _Row(sample, (0, len(first.ids)), None, add_special_tokens)
                for sample, first in enumerate(firsts)
            ]
        rows: list[_Row] = []
        for sample, first in enumerate(firsts):
            second_length = None if seconds is None else len(seconds[sample].ids)
            rows.extend(
                self._plan_rows(
                    sample,
                    len(first.ids),
                    second_length,
                    strategy,
                    limit,
                    stride,
                    overflow,
                    add_special_tokens,
                )
            )
        return rows

    def _plan_rows(
        self,
        sample: int,
        first_length: int,
        second_length: int | None,
        strategy: str | None,
        limit: int | None,
        stride: int,
        overflow: bool,
        add_special_tokens: bool,
    ) -> list[_Row]:
        """The windows of the first and second sequence that make this input's rows.

        Without overflow there is one row; with it, consecutive windows of a truncated sequence
        overlap by ``stride`` tokens and rows combine windows in the order transformers' fast
        tokenizers use (the first row is always the plainly truncated one).
        """
        pair = second_length is not None
        specials = self.num_special_tokens_to_add(pair) if add_special_tokens else 0
        total = first_length + (second_length or 0)
        if limit is None or total + specials <= limit:
            return [_Row(sample, (0, first_length), (0, second_length) if pair else None, add_special_tokens)]
        budget = limit - specials
        if budget <= 0:
            raise OptionError(
                f"max_length={limit} is too small: the {specials} special tokens leave no room for text. "
                f"Use max_length > {specials}."
            )
        keep_first, keep_second = self._kept_lengths(first_length, second_length, strategy, budget, limit)
        first_windows = _windows(first_length, keep_first, stride, overflow, "first", limit)
        if not pair:
            return [_Row(sample, window, None, add_special_tokens) for window in first_windows]
        second_windows = _windows(second_length, keep_second, stride, overflow, "second", limit)
        return [
            _Row(sample, a, b, add_special_tokens) for a, b in _combine_windows(first_windows, second_windows)
        ]

    @staticmethod
    def _kept_lengths(
        first_length: int, second_length: int | None, strategy: str, budget: int, limit: int
    ) -> tuple[int, int | None]:
        """How many tokens of each sequence the first row keeps, per truncation strategy."""
        if second_length is None:
            if strategy == "only_second":
                raise OptionError(
                    "truncation='only_second' needs a text pair (the second sequence is the one it shortens); "
                    "pass text_pair, or use truncation=True for a single text."
                )
            return budget, None
        if strategy == "longest_first":
            return _longest_first(first_length, second_length, budget)
        if strategy == "only_first":
            keep = budget - second_length
            if keep <= 0:
                raise OptionError(
                    f"cannot fit the pair into max_length={limit} by truncating only the first sequence: the "
                    f"second has {second_length} tokens and the first {first_length}, with {limit - budget} "
                    "special tokens. Use truncation='longest_first' or 'only_second', or a larger max_length."
                )
            return keep, second_length
        keep = budget - first_length
        if keep <= 0:
            raise OptionError(
                f"cannot fit the pair into max_length={limit} by truncating only the second sequence: the "
                f"first has {first_length} tokens and the second {second_length}, with {limit - budget} "
                "special tokens. Use truncation='longest_first' or 'only_first', or a larger max_length."
            )
        return first_length, keep

    # -- assembling rows and padding -------------------------------------------------------------

    def _assemble(
        self,
        rows: list[_Row],
        firsts: list[EncodedText],
        seconds: list[EncodedText] | None,
        *,
        token_type_ids: bool,
        attention_mask: bool,
        special_tokens_mask: bool,
        offsets: bool,
    ) -> dict[str, list]:
        """Build the (unpadded) output columns from the row plan."""
        data: dict[str, list] = {"input_ids": []}
        if token_type_ids:
            data["token_type_ids"] = []
        if attention_mask:
            data["attention_mask"] = []
        if special_tokens_mask:
            data["special_tokens_mask"] = []
        if offsets:
            data["offset_mapping"] = []
        cls_id, sep_id = self.cls_token_id, self.sep_token_id
        for row in rows:
            first = firsts[row.sample].ids[row.first[0] : row.first[1]]
            second = None if row.second is None else seconds[row.sample].ids[row.second[0] : row.second[1]]
            if not row.special:
                ids = first if second is None else first + second
                first_part = len(ids)  # without [CLS]/[SEP] the reference gives every token type 0
            elif second is None:
                ids = [cls_id, *first, sep_id]
                first_part = len(ids)
            else:
                ids = [cls_id, *first, sep_id, *second, sep_id]
                first_part = len(first) + 2  # type 0 for [CLS] A [SEP], type 1 for B [SEP]
            data["input_ids"].append(ids)
            if token_type_ids:
                data["token_type_ids"].append([0] * first_part + [1] * (len(ids) - first_part))
            if attention_mask:
                data["attention_mask"].append([1] * len(ids))
            if special_tokens_mask:
                data["special_tokens_mask"].append(
                    _join_row(row, [0] * len(first), None if second is None else [0] * len(second), 1, 1)
                )
            if offsets:
                first_offsets = firsts[row.sample].offsets[row.first[0] : row.first[1]]
                second_offsets = (
                    seconds[row.sample].offsets[row.second[0] : row.second[1]] if second is not None else None
                )
                data["offset_mapping"].append(_join_row(row, first_offsets, second_offsets, (0, 0), (0, 0)))
        return data

    def _padding_target(
        self, mode: str | None, lengths: list[int], max_length: int | None, pad_to_multiple_of: int | None
    ) -> int | None:
        """The length rows are padded to, or None for no padding."""
        if mode is None:
            return None
        if mode == "longest":
            target = max(lengths, default=0)
        else:
            target = max_length if max_length is not None else self.model_max_length
            if target >= VERY_LARGE_INTEGER:
                raise OptionError(
                    "padding='max_length' needs a length: pass max_length=..., or load the tokenizer with a "
                    "model_max_length."
                )
        if pad_to_multiple_of and target % pad_to_multiple_of:
            target += pad_to_multiple_of - target % pad_to_multiple_of
        return target

    def _pad_fills(self) -> dict[str, Any]:
        """The value a padding position gets in each paddable column."""
        return {
            "input_ids": self.pad_token_id,
            "token_type_ids": self.pad_token_type_id,
            "attention_mask": 0,
            "special_tokens_mask": 1,
            "offset_mapping": (0, 0),
        }

    def _pad_columns(self, data: dict[str, list], target: int, rows: list[_Row] | None) -> None:
        """Right-pad every paddable column of ``data`` to ``target`` (longer rows stay as they are)."""
        fills = [
            (column, [fill])
            for key, fill in self._pad_fills().items()
            if (column := data.get(key)) is not None
        ]
        for index, ids in enumerate(data["input_ids"]):
            missing = target - len(ids)
            if missing <= 0:
                continue
            for column, fill in fills:
                column[index] = list(column[index]) + fill * missing
            if rows is not None:
                rows[index].pad = missing

    def _columns_to_arrays(
        self, data: dict[str, list], target: int | None, rows: list[_Row] | None
    ) -> dict[str, np.ndarray]:
        """Pad the columns straight into int64 arrays (much faster than padding lists, then converting)."""
        lengths = np.fromiter(
            (len(ids) for ids in data["input_ids"]), dtype=np.int64, count=len(data["input_ids"])
        )
        width = target if target is not None else int(lengths.max(initial=0))
        if lengths.size and (lengths.max() > width or (target is None and lengths.min() != width)):
            raise OptionError(
                f"cannot make tensors: the rows have different lengths ({int(lengths.min())} to "
                f"{int(lengths.max())} tokens). Pass padding=True, or padding='max_length' with truncation=True, "
                "so that every row has the same length."
            )
        fills = self._pad_fills()
        arrays = {
            key: pad_rows(column, fills[key], width) if key in fills else np.asarray(column, dtype=np.int64)
            for key, column in data.items()
        }
        if rows is not None:
            for row, length in zip(rows, lengths.tolist(), strict=True):
                row.pad = width - length
        return arrays

    def pad(
        self,
        encoded_inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        padding: bool | str = True,
        max_length: int | None = None,
        pad_to_multiple_of: int | None = None,
        return_attention_mask: bool | None = None,
        return_tensors: str | None = None,
    ) -> BatchEncoding:
        """Pad already-encoded examples (a list of dicts, or a dict of lists) to a common length.

        Pads ``input_ids`` with the padding id, ``attention_mask`` with 0 (creating it when
        missing), ``token_type_ids`` with 0 and ``special_tokens_mask`` with 1; other keys, such as
        labels, are passed through (and turned into tensors too with ``return_tensors``).
        """
        columns, batched = _features_to_columns(encoded_inputs)
        if "input_ids" not in columns:
            raise InputError(
                f"pad() needs 'input_ids' in the encoded inputs; got the keys {sorted(columns)}."
            )
        mode = _padding_strategy(padding)
        _check_positive_int("max_length", max_length)
        _check_positive_int("pad_to_multiple_of", pad_to_multiple_of)
        _check_tensor_type(return_tensors)
        lengths = [len(ids) for ids in columns["input_ids"]]
        if return_attention_mask is not False and "attention_mask" not in columns:
            columns["attention_mask"] = [[1] * length for length in lengths]
        target = self._padding_target(mode, lengths, max_length, pad_to_multiple_of)
        if return_tensors is not None:
            arrays = self._columns_to_arrays(columns, target, None)
            if not batched:  # one example gives 1-d tensors, as in transformers
                arrays = {key: value[0] for key, value in arrays.items()}
            return BatchEncoding(
                _to_tensors(arrays, return_tensors), id_to_token=self.convert_ids_to_tokens, batched=batched
            )
        if target is not None:
            self._pad_columns(columns, target, None)
        data: dict[str, Any] = columns if batched else {key: value[0] for key, value in columns.items()}
        return BatchEncoding(
            data, id_to_token=self.convert_ids_to_tokens, batched=batched or return_tensors is not None
        )


class _Aligner:
    """Gives an input's encodings with word ids, computing them on first use.

    Word ids need the offsets path; a plain call skips it for speed and only pays for the inputs
    whose word ids are actually asked for. (A class, not a closure, so encodings can be pickled.)
    """

    def __init__(
        self,
        tokenizer: BaseTokenizer,
        firsts: list,
        seconds: list | None,
        first_encoded: list[EncodedText],
        second_encoded: list[EncodedText] | None,
        is_split_into_words: bool,
    ) -> None:
        self.tokenizer = tokenizer
        self.inputs = (firsts, seconds)
        self.encoded = (first_encoded, second_encoded)
        self.is_split_into_words = is_split_into_words

    def __call__(self, sample: int) -> tuple[EncodedText, EncodedText | None]:
        tokenizer = self.tokenizer
        encode = tokenizer._encode_word_lists if self.is_split_into_words else tokenizer._encode_texts
        for inputs, encoded in zip(self.inputs, self.encoded, strict=True):
            if encoded is not None and encoded[sample].word_ids is None:
                encoded[sample] = encode([inputs[sample]], True)[0]
        first, second = self.encoded
        return first[sample], None if second is None else second[sample]


def _check_words(words: Any, name: str) -> None:
    if not isinstance(words, (list, tuple)):
        raise InputTypeError(f"{name} must be a list of words (str), got {type(words).__name__}.")
    for index, word in enumerate(words):
        if not isinstance(word, str):
            raise InputTypeError(f"{name}[{index}] is a {type(word).__name__}, not a str (a word).")


def check_utf8(inputs: list, name: str, batched: bool) -> None:
    """Refuse texts that cannot be written as UTF-8 (lone surrogates), naming the input and the place.

    Args:
        inputs: texts, or lists of words (``is_split_into_words``).
        name: what the caller called them (``"text"``, ``"text_pair"``).
        batched: whether ``inputs`` was a batch (the message then gives the index).

    Raises:
        InputError: ``text[3] is not valid UTF-8: it holds a lone surrogate U+DCE9 at character 4 ...``.
    """
    for index, item in enumerate(inputs):
        words = item if isinstance(item, list) else None
        for position, text in enumerate(words if words is not None else (item,)):
            problem = utf8_problem(text)
            if problem is not None:
                where = name + (f"[{index}]" if batched else "") + (f"[{position}]" if words is not None else "")
                raise InputError(
                    f"{where} is not valid UTF-8: it holds {problem}. "
                    "Decode the input strictly (or with errors='replace') before tokenizing it."
                )


class TokenizerMismatchError(CheckpointError):
    """A tokenizer whose ids the model has no embedding for."""


def check_tokenizer_fits(tokenizer: Any, vocab_size: int, model: str) -> None:
    """Refuse to pair a model with a tokenizer whose vocabulary is larger than the model's
    ``vocab_size``: its higher ids have no embedding, so the model would fail on them (an
    ``IndexError`` deep in torch) or, where no text happens to reach them, return nonsense.

    A smaller vocabulary is fine (some checkpoints pad their embedding matrix).

    Raises:
        TokenizerMismatchError: the two disagree; the message gives both sizes and what to do.
    """
    size = len(tokenizer)
    if size > vocab_size:
        raise TokenizerMismatchError(
            f"the tokenizer has {size:,} pieces but the model {model} has vocab_size {vocab_size:,} (its config.json): "
            f"ids {vocab_size:,} to {size - 1:,} have no embedding, so this tokenizer does not belong to this model. "
            f"Use the tokenizer the model was trained with (the spiece.model saved with it), or a model whose "
            f"vocab_size is at least {size:,}."
        )


def _longest_first(first_length: int, second_length: int, budget: int) -> tuple[int, int]:
    """Lengths after removing tokens one at a time from the longer sequence (ties: the second).

    This is the reference tokenizer's rule, so truncated pairs give the same ids as it does.
    """
    to_remove = first_length + second_length - budget
    difference = min(abs(first_length - second_length), to_remove)
    shared = to_remove - difference  # removed alternately once both have the same length
    if first_length > second_length:
        return first_length - difference - shared // 2, second_length - (shared - shared // 2)
    return first_length - shared // 2, second_length - difference - (shared - shared // 2)


def window_ranges(length: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Cut ``length`` tokens into windows of at most ``size`` that overlap by ``stride`` tokens.

    Returns ``(start, end)`` token ranges covering every token; one window when it all fits.

    Raises:
        OptionError: ``stride`` leaves no room to advance (it must be smaller than ``size``).
    """
    if size < 1:
        raise OptionError(f"a window must hold at least one token, got {size}")
    if not 0 <= stride < size:
        raise OptionError(
            f"stride ({stride}) must be at least 0 and smaller than the window ({size} tokens), "
            "or the windows would not advance; pass a smaller stride"
        )
    if length <= size:
        return [(0, length)]
    step = size - stride
    ranges = []
    start = 0
    while True:
        end = min(start + size, length)
        ranges.append((start, end))
        if end == length:
            return ranges
        start += step


def _windows(
    length: int, keep: int, stride: int, overflow: bool, which: str, limit: int
) -> list[tuple[int, int]]:
    """Windows ``(start, stop)`` of ``keep`` tokens over a sequence, consecutive ones sharing ``stride``."""
    if length <= keep:
        return [(0, length)]
    if not overflow:
        return [(0, keep)]
    if keep - stride <= 0:
        raise OptionError(
            f"stride={stride} is too large: with max_length={limit} each window holds {keep} tokens of the "
            f"{which} sequence, and consecutive windows must advance. Use a stride smaller than {keep} "
            "or a larger max_length."
        )
    return window_ranges(length, keep, stride)


def _combine_windows(
    first: list[tuple[int, int]], second: list[tuple[int, int]]
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Pair the windows of both sequences in the order of transformers' fast tokenizers.

    The main row pairs the first windows; then each further first window goes with every second
    window; last, the first window of the first sequence goes with the remaining second windows.
    """
    combined = [(first[0], second[0])]
    for first_window in first[1:]:
        combined.extend((first_window, second_window) for second_window in second)
    combined.extend((first[0], second_window) for second_window in second[1:])
    return combined


def _features_to_columns(encoded_inputs: Any) -> tuple[dict[str, list], bool]:
    """Turn a dict of rows or a list of per-example dicts into columns of Python lists."""

    def plain(value: Any) -> Any:
        return value.tolist() if hasattr(value, "tolist") else value

    if isinstance(encoded_inputs, Mapping):
        columns = {key: plain(value) for key, value in encoded_inputs.items()}
        ids = columns.get("input_ids")
        single = isinstance(ids, list) and (not ids or not isinstance(ids[0], (list, tuple)))
        if single:
            return {key: [value] for key, value in columns.items()}, False
        return {key: list(value) for key, value in columns.items()}, True
    if (
        isinstance(encoded_inputs, (list, tuple))
        and encoded_inputs
        and isinstance(encoded_inputs[0], Mapping)
    ):
        keys = list(encoded_inputs[0])
        columns: dict[str, list] = {key: [] for key in keys}
        for index, example in enumerate(encoded_inputs):
            if set(example) != set(keys):
                raise InputError(
                    f"encoded_inputs[{index}] has the keys {sorted(example)} but encoded_inputs[0] has {sorted(keys)}; "
                    "every example must have the same keys."
                )
            for key in keys:
                columns[key].append(plain(example[key]))
        return columns, True
    raise InputTypeError(
        "pad() takes a dict of lists (one example or a batch) or a non-empty list of dicts, "
        f"got {type(encoded_inputs).__name__}."
    )


def build_from_config(
    cls: type[BaseTokenizer],
    vocab: Path,
    name_or_path: str | os.PathLike,
    hub: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> BaseTokenizer:
    """Construct ``cls`` from a vocabulary file, the model's saved settings and the caller's overrides."""
    allowed = cls.config_options
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise OptionTypeError(
            f"unknown tokenizer option(s) {unknown} for {cls.__name__}; the options are {list(allowed)}."
        )
    config = read_tokenizer_config(name_or_path, hub)
    saved = {key: value for key, value in config.items() if key in allowed and value is not None}
    try:
        return cls(vocab, **{**saved, **overrides})
    except OptionError as error:  # a setting from the folder's files is the file's error, not the caller's
        if not any(str(error).startswith(f"{key}=") for key in set(saved) - set(overrides)):
            raise
        raise ConfigError(
            f"the tokenizer settings saved in {name_or_path} ({CONFIG_FILE} or {SPECIAL_TOKENS_FILE}) do not "
            f"work: {error} Fix that setting in the file, or delete it to take the default."
        ) from None


def read_tokenizer_config(name_or_path: str | os.PathLike, hub: Mapping[str, Any]) -> dict[str, Any]:
    """tokenizer_config.json merged over special_tokens_map.json (either may be missing).

    Special tokens saved by transformers may be dicts (``{"content": "[MASK]", ...}``); they are
    reduced to their text.
    """
    config: dict[str, Any] = {}
    for filename in (SPECIAL_TOKENS_FILE, CONFIG_FILE):
        path = resolve_file(name_or_path, filename, required=False, **hub)
        if path is None:
            continue
        values = read_json_file(path, error=ConfigError, what=f"a tokenizer's {filename}")
        if not isinstance(values, dict):
            raise ConfigError(f"{path} must hold a JSON object, got {type(values).__name__}; fix or delete the file.")
        config.update(values)
    for role in SPECIAL_TOKEN_ATTRIBUTES:
        value = config.get(role)
        if isinstance(value, dict):
            config[role] = value.get("content")
        if config.get(role) is None:
            config.pop(role, None)
    return config


def prepare_folder(save_directory: str | os.PathLike) -> Path:
    """The folder a tokenizer is saved into, refused when it is a file."""
    folder = Path(save_directory)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"cannot save the tokenizer into {folder}: it is a file, not a folder.")
    return folder


def save_tokenizer_folder(save_directory: str | os.PathLike, write: Callable[[Path], Iterable[str | Path]]
                          ) -> tuple[str, ...]:
    """Save a tokenizer's files all-or-nothing (:func:`albert.atomic_files.atomic_folder`):
    ``write(folder)`` writes them and returns their paths; the other kind's files are then
    dropped (:func:`remove_stale_tokenizer_files`), the model files beside them kept.

    Returns:
        The paths of the files written, in ``save_directory``.
    """
    final = prepare_folder(save_directory)
    with atomic_folder(final) as folder:
        names = [Path(path).name for path in write(folder)]
        remove_stale_tokenizer_files(folder, names)
    return tuple(str(final / name) for name in names)


def remove_stale_tokenizer_files(folder: Path, kept: Iterable[str]) -> None:
    """Remove the tokenizer files in ``folder`` that are not ``kept`` (what a save just wrote, or
    what a copy brought): a ``spiece.model`` left from an earlier save beside a new WordPiece
    ``vocab.txt`` would be read instead of it. Called after the new files are in place."""
    for name in set(TOKENIZER_FILES) - set(kept):
        (folder / name).unlink(missing_ok=True)


def write_configs(folder: Path, config: dict[str, Any], special_tokens: dict[str, str]) -> tuple[str, str]:
    """Write tokenizer_config.json and special_tokens_map.json into ``folder``, each whole or not at all."""
    config_path = write_text_atomic(folder / CONFIG_FILE, json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    special_path = write_text_atomic(
        folder / SPECIAL_TOKENS_FILE, json.dumps(special_tokens, indent=2, ensure_ascii=False) + "\n"
    )
    return str(config_path), str(special_path)
