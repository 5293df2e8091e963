"""What every tokenizer here shares: transformers' calling convention and outputs.

:class:`BaseTokenizer` turns texts (or pairs, or pre-split words) into :class:`BatchEncoding`
rows with transformers' keys, and loads/saves its settings as tokenizer_config.json. A call is
three steps, each owned by one module:

1. what the call accepts, checked and reduced to one shape (:mod:`albert.tokenizer_inputs`);
2. piece encoding, each text to an :class:`EncodedText` (ids, offsets, word ids): the one part
   a subclass supplies, SentencePiece for ALBERT (:mod:`albert.tokenizer`), WordPiece for the
   Chinese checkpoints (:mod:`albert.wordpiece`);
3. assembly, pure functions on id lists (:mod:`albert.encoding_assembly`): truncation
   strategies, overflow windows with a stride, special tokens and pairs, padding, offsets,
   tensors.
"""

from __future__ import annotations

import bisect
import gc
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, SupportsInt, TypeVar, cast, overload

import numpy as np

from albert.atomic_files import atomic_folder, write_text_atomic
from albert.encoding_assembly import PADDING_STRATEGIES as PADDING_STRATEGIES
from albert.encoding_assembly import TENSOR_TYPES as TENSOR_TYPES
from albert.encoding_assembly import TRUNCATION_STRATEGIES as TRUNCATION_STRATEGIES
from albert.encoding_assembly import VERY_LARGE_INTEGER as VERY_LARGE_INTEGER
from albert.encoding_assembly import (
    Columns,
    Row,
    RowPlanner,
    assemble_columns,
    columns_to_arrays,
    features_to_columns,
    join_row,
    num_special_tokens,
    pad_columns,
    padding_fills,
    padding_target,
    special_tokens_mask,
    to_tensors,
    token_type_ids,
    truncation_limit,
    with_special_tokens,
)
from albert.encoding_assembly import EncodedText as EncodedText
from albert.encoding_assembly import TruncatedPair as TruncatedPair
from albert.encoding_assembly import pad_batch as pad_batch
from albert.encoding_assembly import pad_rows as pad_rows
from albert.encoding_assembly import truncate_pair as truncate_pair
from albert.encoding_assembly import window_ranges as window_ranges
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
from albert.text_normalization import Span
from albert.tokenizer_inputs import (
    check_call_options,
    check_positive_int,
    check_tensor_type,
    collect_inputs,
    padding_strategy,
)
from albert.tokenizer_inputs import check_utf8 as check_utf8

CONFIG_FILE = "tokenizer_config.json"
SPECIAL_TOKENS_FILE = "special_tokens_map.json"
#: The vocabulary of each kind of tokenizer: SentencePiece (read first when a folder holds both)
#: and WordPiece (the Chinese ALBERT models).
VOCABULARY_FILES = ("spiece.model", "vocab.txt")
#: Every file a tokenizer is saved as, whatever its kind.
TOKENIZER_FILES = (*VOCABULARY_FILES, CONFIG_FILE, SPECIAL_TOKENS_FILE)
DEFAULT_MODEL_MAX_LENGTH = 512

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

_CLEANUP_REPLACEMENTS = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
    (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)  # fmt: skip


def clean_up_tokenization(text: str) -> str:
    """Remove the spaces a word-by-word decode leaves before punctuation and English contractions."""
    for spaced, joined in _CLEANUP_REPLACEMENTS:
        text = text.replace(spaced, joined)
    return text


class BatchEncoding(dict):
    """The tokenizer's output: a dict of model inputs that also allows ``enc.input_ids``.

    Besides the keys it knows which input and which tokens every row came from, so it can answer
    :meth:`word_ids`, :meth:`sequence_ids` and :meth:`tokens` for any row.
    """

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        rows: list[Row] | None = None,
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

    def _row(self, batch_index: int) -> Row:
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
        return join_row(row, first, second, None, None)

    def word_ids(self, batch_index: int = 0) -> list[int | None]:
        """Per token: the index of the word it belongs to in its own text, None for added tokens.

        Words are the whitespace-separated words of the original text (a special token written
        in the text is a word of its own), or the given words with ``is_split_into_words=True``.
        """
        row = self._row(batch_index)
        if self._aligner is None:
            raise InputError(
                "this BatchEncoding does not know the words of its inputs (it was built by hand); "
                "word_ids() needs the output of the tokenizer's __call__."
            )
        first, second = self._aligner(row.sample)
        # the aligner gives every encoding with its word ids, and the second one where the row has one
        assert first.word_ids is not None
        first_words = first.word_ids[row.first[0] : row.first[1]]
        second_words = None
        if row.second is not None:
            assert second is not None and second.word_ids is not None
            second_words = second.word_ids[row.second[0] : row.second[1]]
        return join_row(row, first_words, second_words, None, None)

    def tokens(self, batch_index: int = 0) -> list[str]:
        """The token strings of one row (pieces, special tokens and padding)."""
        self._row(batch_index)  # validates the index the same way as word_ids
        if self._id_to_token is None:
            raise InputError(
                "this BatchEncoding has no vocabulary to name its tokens with (it was built by hand); "
                "tokens() needs the output of the tokenizer's __call__."
            )
        ids = self["input_ids"][batch_index] if self._batched else self["input_ids"]
        return self._id_to_token(ids.tolist() if hasattr(ids, "tolist") else ids)

    def to(self, device: Any) -> BatchEncoding:
        """Move every tensor to ``device`` (a torch device or its name); other values stay as they are."""
        for key, value in self.items():
            if hasattr(value, "to") and callable(value.to):
                self[key] = value.to(device)
        return self


@overload
def check_flag(name: str, value: Any, *, allow_none: Literal[False] = False) -> bool: ...


@overload
def check_flag(name: str, value: Any, *, allow_none: bool) -> bool | None: ...


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
        check_positive_int("model_max_length", model_max_length, allow_none=False)
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
        # each special token's id, found (and checked to be in the vocabulary) when it was set
        ids = {token: self._special_token_ids[role] for role, token in self._special_tokens.items()}
        return [ids[token] for token in self.all_special_tokens]

    @property
    def max_len_single_sentence(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=False)

    @property
    def max_len_sentences_pair(self) -> int:
        return self.model_max_length - self.num_special_tokens_to_add(pair=True)

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        """How many tokens [CLS]/[SEP] add: 2 for one text, 3 for a pair."""
        return num_special_tokens(pair)

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``."""
        return with_special_tokens(token_ids_0, token_ids_1, self.cls_token_id, self.sep_token_id)

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]``."""
        return token_type_ids(len(token_ids_0), None if token_ids_1 is None else len(token_ids_1))

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
        return special_tokens_mask(len(token_ids_0), None if token_ids_1 is None else len(token_ids_1))

    # -- tokens <-> ids --------------------------------------------------------------------------

    @overload
    def convert_tokens_to_ids(self, tokens: str) -> int: ...

    @overload
    def convert_tokens_to_ids(self, tokens: list[str] | tuple[str, ...]) -> list[int]: ...

    @overload
    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> int | list[int]: ...  # a str is a Sequence too

    def convert_tokens_to_ids(self, tokens: str | Sequence[str]) -> int | list[int]:
        """Id of a token, or ids of a list of tokens; unknown tokens get the [UNK] id."""
        if isinstance(tokens, str):
            index = self._token_to_id(tokens)
            return self.unk_token_id if index is None else index
        return [self.convert_tokens_to_ids(token) for token in tokens]

    @overload
    def convert_ids_to_tokens(self, ids: int, skip_special_tokens: bool = False) -> str: ...

    @overload
    def convert_ids_to_tokens(self, ids: Sequence[int], skip_special_tokens: bool = False) -> list[str]: ...

    def convert_ids_to_tokens(
        self, ids: int | Sequence[int], skip_special_tokens: bool = False
    ) -> str | list[str]:
        """Token string of an id, or of each id of a list (optionally without special tokens)."""
        if isinstance(ids, int) or (hasattr(ids, "ndim") and ids.ndim == 0):
            # an int, or a 0-d array or tensor (both convert with int())
            return self._id_to_token(self._checked_id(int(cast(SupportsInt, ids))))
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
        firsts, seconds, batched = collect_inputs(text, text_pair, is_split_into_words)
        strategy, padding_mode = check_call_options(
            truncation, padding, max_length, stride, pad_to_multiple_of, return_tensors
        )
        columns = Columns(
            return_token_type_ids is not False, return_attention_mask is not False,
            return_special_tokens_mask, return_offsets_mapping,
        )  # fmt: skip
        encode = self._encode_word_lists if is_split_into_words else self._encode_texts
        with _gc_paused():
            first_encoded = encode(firsts, return_offsets_mapping)
            second_encoded = encode(seconds, return_offsets_mapping) if seconds is not None else None
            limit = truncation_limit(strategy, max_length, self.model_max_length)
            planner = RowPlanner(strategy, limit, stride, return_overflowing_tokens, add_special_tokens)
            rows = planner.all_rows(first_encoded, second_encoded)
            data = assemble_columns(rows, first_encoded, second_encoded, self.cls_token_id, self.sep_token_id, columns)  # fmt: skip
            data = self._pad_output(data, rows, padding_mode, max_length, pad_to_multiple_of, return_tensors)
        if return_length:
            data["length"] = [len(ids) for ids in data["input_ids"]]
        if return_overflowing_tokens:
            data["overflow_to_sample_mapping"] = [row.sample for row in rows]
        # one text gives flat lists, unless overflow made several rows or tensors keep a batch axis
        keep_batch = batched or return_overflowing_tokens or return_tensors is not None
        if not keep_batch:
            data = {key: value[0] for key, value in data.items()}
        aligner = _Aligner(self, firsts, seconds, first_encoded, second_encoded, is_split_into_words)
        return BatchEncoding(
            data if return_tensors is None else to_tensors(data, return_tensors),
            rows=rows, aligner=aligner, id_to_token=self.convert_ids_to_tokens, batched=keep_batch,
        )  # fmt: skip

    def _pad_output(
        self,
        data: dict[str, list],
        rows: list[Row],
        padding_mode: str | None,
        max_length: int | None,
        pad_to_multiple_of: int | None,
        return_tensors: str | None,
    ) -> dict[str, Any]:
        """Pad the rows as asked: as lists, or straight into arrays when tensors are wanted."""
        lengths = [len(ids) for ids in data["input_ids"]]
        target = padding_target(padding_mode, lengths, max_length, pad_to_multiple_of, self.model_max_length)
        if return_tensors is not None:
            return columns_to_arrays(data, target, self._pad_fills(), rows)
        if target is not None:
            pad_columns(data, target, self._pad_fills(), rows)
        return data

    def _pad_fills(self) -> dict[str, Any]:
        """The value a padding position gets in each paddable column."""
        return padding_fills(self.pad_token_id, self.pad_token_type_id)

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
        columns, batched = features_to_columns(encoded_inputs)
        if "input_ids" not in columns:
            raise InputError(
                f"pad() needs 'input_ids' in the encoded inputs; got the keys {sorted(columns)}."
            )
        mode = padding_strategy(padding)
        check_positive_int("max_length", max_length)
        check_positive_int("pad_to_multiple_of", pad_to_multiple_of)
        check_tensor_type(return_tensors)
        lengths = [len(ids) for ids in columns["input_ids"]]
        if return_attention_mask is not False and "attention_mask" not in columns:
            columns["attention_mask"] = [[1] * length for length in lengths]
        target = padding_target(mode, lengths, max_length, pad_to_multiple_of, self.model_max_length)
        if return_tensors is not None:
            arrays = columns_to_arrays(columns, target, self._pad_fills(), None)
            if not batched:  # one example gives 1-d tensors, as in transformers
                arrays = {key: value[0] for key, value in arrays.items()}
            return BatchEncoding(
                to_tensors(arrays, return_tensors), id_to_token=self.convert_ids_to_tokens, batched=batched
            )
        if target is not None:
            pad_columns(columns, target, self._pad_fills(), None)
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
                assert inputs is not None  # the second texts and their encodings are None together
                encoded[sample] = encode([inputs[sample]], True)[0]
        first, second = self.encoded
        return first[sample], None if second is None else second[sample]


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


TokenizerT = TypeVar("TokenizerT", bound=BaseTokenizer)


def build_from_config(
    cls: type[TokenizerT],
    vocab: Path,
    name_or_path: str | os.PathLike[str],
    hub: Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> TokenizerT:
    """Construct ``cls`` from a vocabulary file, the model's saved settings and the caller's overrides."""
    allowed = cls.config_options
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise OptionTypeError(
            f"unknown tokenizer option(s) {unknown} for {cls.__name__}; the options are {list(allowed)}."
        )
    config = read_tokenizer_config(name_or_path, hub)
    saved = {key: value for key, value in config.items() if key in allowed and value is not None}
    # a subclass's constructor takes its vocabulary file first, then its settings by name
    construct: Callable[..., TokenizerT] = cls
    try:
        return construct(vocab, **{**saved, **overrides})
    except OptionError as error:  # a setting from the folder's files is the file's error, not the caller's
        if not any(str(error).startswith(f"{key}=") for key in set(saved) - set(overrides)):
            raise
        raise ConfigError(
            f"the tokenizer settings saved in {name_or_path} ({CONFIG_FILE} or {SPECIAL_TOKENS_FILE}) do not "
            f"work: {error} Fix that setting in the file, or delete it to take the default."
        ) from None


def read_tokenizer_config(name_or_path: str | os.PathLike[str], hub: Mapping[str, Any]) -> dict[str, Any]:
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
            raise ConfigError(
                f"{path} must hold a JSON object, got {type(values).__name__}; fix or delete the file."
            )
        config.update(values)
    for role in SPECIAL_TOKEN_ATTRIBUTES:
        value = config.get(role)
        if isinstance(value, dict):
            config[role] = value.get("content")
        if config.get(role) is None:
            config.pop(role, None)
    return config


def prepare_folder(save_directory: str | os.PathLike[str]) -> Path:
    """The folder a tokenizer is saved into, refused when it is a file."""
    folder = Path(save_directory)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"cannot save the tokenizer into {folder}: it is a file, not a folder.")
    return folder


def save_tokenizer_folder(
    save_directory: str | os.PathLike[str], write: Callable[[Path], Iterable[str | Path]]
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
    config_path = write_text_atomic(
        folder / CONFIG_FILE, json.dumps(config, indent=2, ensure_ascii=False) + "\n"
    )
    special_path = write_text_atomic(
        folder / SPECIAL_TOKENS_FILE, json.dumps(special_tokens, indent=2, ensure_ascii=False) + "\n"
    )
    return str(config_path), str(special_path)
