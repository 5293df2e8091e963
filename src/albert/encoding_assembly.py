"""Model inputs assembled from token ids: pure functions on id lists, with no vocabulary.

A tokenizer call has two halves. Piece encoding (SentencePiece in :mod:`albert.tokenizer`,
WordPiece in :mod:`albert.wordpiece`) turns each text into an :class:`EncodedText`: ids, and
offsets and word ids when asked. This module does everything after that, the same for every
vocabulary, following transformers' tokenizers exactly:

- truncation strategies (:func:`truncate_pair`; ``longest_first`` as transformers cuts it),
- overflow windows with a stride (:func:`window_ranges`, :class:`RowPlanner`),
- special tokens and pairs (``[CLS] A [SEP] B [SEP]``, token types, special-tokens masks, offsets),
- padding (:func:`padding_target`, :func:`pad_rows`, :func:`pad_batch`) and tensors.

Nothing here imports torch at module level (``return_tensors="pt"`` imports it when asked).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from albert.errors import InputError, InputTypeError, OptionError
from albert.text_normalization import Span

TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second", "do_not_truncate")
PADDING_STRATEGIES = ("longest", "max_length", "do_not_pad")
TENSOR_TYPES = ("pt", "np")
#: transformers' marker for "no length limit"; a model_max_length this large disables truncation.
VERY_LARGE_INTEGER = int(1e30)


@dataclass
class EncodedText:
    """One text turned into token ids, without [CLS]/[SEP]; offsets and word ids when asked for."""

    ids: list[int]
    offsets: list[Span] | None = None
    word_ids: list[int | None] | None = None


@dataclass(slots=True)
class Row:
    """Where one output row comes from: which input, which window of each sequence, how padded."""

    sample: int
    first: tuple[int, int]
    second: tuple[int, int] | None
    special: bool
    pad: int = 0


def join_row(row: Row, first: list, second: list | None, special: Any, pad: Any) -> list:
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


# -- special tokens and pairs ------------------------------------------------------------------


def num_special_tokens(pair: bool) -> int:
    """How many tokens [CLS]/[SEP] add: 2 for one text, 3 for a pair."""
    return 3 if pair else 2


def with_special_tokens(
    first: Sequence[int], second: Sequence[int] | None, cls_id: int, sep_id: int
) -> list[int]:
    """``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]``."""
    if second is None:
        return [cls_id, *first, sep_id]
    return [cls_id, *first, sep_id, *second, sep_id]


def token_type_ids(first_length: int, second_length: int | None) -> list[int]:
    """0 for ``[CLS] A [SEP]``, 1 for ``B [SEP]`` (lengths without the special tokens)."""
    first = [0] * (first_length + 2)
    return first if second_length is None else first + [1] * (second_length + 1)


def special_tokens_mask(first_length: int, second_length: int | None) -> list[int]:
    """1 where [CLS]/[SEP] go around sequences of these lengths, 0 on their tokens."""
    mask = [1] + [0] * first_length + [1]
    return mask if second_length is None else mask + [0] * second_length + [1]


# -- truncation --------------------------------------------------------------------------------


def truncation_limit(strategy: str | None, max_length: int | None, model_max_length: int) -> int | None:
    """The total length rows are truncated to (``max_length``, else the model's), or None for none."""
    if strategy is None:
        return None
    limit = max_length if max_length is not None else model_max_length
    return None if limit >= VERY_LARGE_INTEGER else limit


def longest_first_lengths(first_length: int, second_length: int, budget: int) -> tuple[int, int]:
    """Lengths after removing tokens one at a time from the longer sequence (ties: the second).

    This is transformers' rule, so truncated pairs give the same ids as its tokenizers do.
    """
    to_remove = first_length + second_length - budget
    difference = min(abs(first_length - second_length), to_remove)
    shared = to_remove - difference  # removed alternately once both have the same length
    if first_length > second_length:
        return first_length - difference - shared // 2, second_length - (shared - shared // 2)
    return first_length - shared // 2, second_length - difference - (shared - shared // 2)


def kept_lengths(
    first_length: int, second_length: int | None, strategy: str, budget: int, limit: int
) -> tuple[int, int | None]:
    """How many tokens of each sequence fit in ``budget`` text tokens, per truncation strategy.

    ``limit`` (the budget plus the special tokens) only words the errors.

    Raises:
        OptionError: ``only_second`` without a pair, or a strategy that cannot fit the pair.
    """
    if second_length is None:
        if strategy == "only_second":
            raise OptionError(
                "truncation='only_second' needs a text pair (the second sequence is the one it shortens); "
                "pass text_pair, or use truncation=True for a single text."
            )
        return min(first_length, budget), None
    if first_length + second_length <= budget:
        return first_length, second_length
    if strategy == "longest_first":
        return longest_first_lengths(first_length, second_length, budget)
    if strategy == "only_first":
        _check_room(budget - second_length, limit, budget, ("first", first_length), ("second", second_length))
        return budget - second_length, second_length
    _check_room(budget - first_length, limit, budget, ("second", second_length), ("first", first_length))
    return first_length, budget - first_length


def _check_room(room: int, limit: int, budget: int, cut: tuple[str, int], whole: tuple[str, int]) -> None:
    """Refuse an ``only_first`` / ``only_second`` cut that would leave nothing of the cut sequence."""
    if room > 0:
        return
    other = "'only_second'" if cut[0] == "first" else "'only_first'"
    raise OptionError(
        f"cannot fit the pair into max_length={limit} by truncating only the {cut[0]} sequence: the "
        f"{whole[0]} has {whole[1]} tokens and the {cut[0]} {cut[1]}, with {limit - budget} special tokens. "
        f"Use truncation='longest_first' or {other}, or a larger max_length."
    )


class TruncatedPair(NamedTuple):
    """A pair of id lists cut to fit, and whether anything was cut."""

    first: list[int]
    second: list[int] | None
    truncated: bool


def truncate_pair(
    first: Sequence[int],
    second: Sequence[int] | None,
    budget: int,
    strategy: str = "longest_first",
    *,
    num_special_tokens: int = 0,
) -> TruncatedPair:
    """Cut one sequence or a pair of id lists to ``budget`` tokens in all, as the tokenizer does.

    The one pair-truncation rule of albert: the tokenizer's ``truncation=...`` and every task's
    pre-processing call it (directly or through :class:`RowPlanner`). ``longest_first`` removes
    tokens from the end of the longer list one at a time, from the second on a tie (transformers'
    rule); ``only_first`` / ``only_second`` cut one list only.

    Args:
        first, second: the ids of each text, without special tokens (``second`` None: one text).
        budget: how many ids may remain in all (the model's length less its special tokens).
        strategy: ``"longest_first"``, ``"only_first"`` or ``"only_second"``.
        num_special_tokens: the special tokens the caller adds; only words the errors.

    Returns:
        ``(first, second, truncated)`` as new lists.

    Raises:
        OptionError: an unknown strategy, a negative budget, or a strategy that cannot fit.
    """
    if strategy not in TRUNCATION_STRATEGIES[:3]:
        raise OptionError(
            f"strategy={strategy!r} is not a truncation strategy: use one of {TRUNCATION_STRATEGIES[:3]}."
        )
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise OptionError(f"budget={budget!r} must be an integer >= 0 (the ids that may remain).")
    limit = budget + num_special_tokens
    if second is None:
        keep, _ = kept_lengths(len(first), None, strategy, budget, limit)
        return TruncatedPair(list(first[:keep]), None, keep < len(first))
    keep_first, keep_second = kept_lengths(len(first), len(second), strategy, budget, limit)
    keep_second = len(second) if keep_second is None else keep_second
    truncated = keep_first < len(first) or keep_second < len(second)
    return TruncatedPair(list(first[:keep_first]), list(second[:keep_second]), truncated)


# -- overflow windows --------------------------------------------------------------------------


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


def sequence_windows(
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


def combine_windows(
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


@dataclass(slots=True)
class RowPlanner:
    """How a call cuts its inputs into rows: the truncation strategy and the total length it cuts
    to (None: no truncation), overflow windows sharing ``stride`` tokens, and whether [CLS]/[SEP]
    are added."""

    strategy: str | None = None
    limit: int | None = None
    stride: int = 0
    overflow: bool = False
    add_special_tokens: bool = True

    def rows(self, sample: int, first_length: int, second_length: int | None) -> list[Row]:
        """The windows of the first and second sequence that make one input's rows.

        Without overflow there is one row; with it, consecutive windows of a truncated sequence
        overlap by ``stride`` tokens and rows combine windows in the order transformers' fast
        tokenizers use (the first row is always the plainly truncated one).
        """
        strategy, limit, special = self.strategy, self.limit, self.add_special_tokens
        specials = num_special_tokens(second_length is not None) if special else 0
        if limit is None or strategy is None or first_length + (second_length or 0) + specials <= limit:
            whole_second = None if second_length is None else (0, second_length)
            return [Row(sample, (0, first_length), whole_second, special)]
        budget = limit - specials
        if budget <= 0:
            raise OptionError(
                f"max_length={limit} is too small: the {specials} special tokens leave no room for text. "
                f"Use max_length > {specials}."
            )
        keep_first, keep_second = kept_lengths(first_length, second_length, strategy, budget, limit)
        first_windows = sequence_windows(first_length, keep_first, self.stride, self.overflow, "first", limit)
        if second_length is None or keep_second is None:
            return [Row(sample, window, None, special) for window in first_windows]
        second_windows = sequence_windows(
            second_length, keep_second, self.stride, self.overflow, "second", limit
        )
        return [Row(sample, a, b, special) for a, b in combine_windows(first_windows, second_windows)]

    def all_rows(self, firsts: list[EncodedText], seconds: list[EncodedText] | None) -> list[Row]:
        """The rows of every input (see :meth:`rows`)."""
        if self.limit is None and seconds is None:  # the common case, without per-row work
            special = self.add_special_tokens
            return [Row(sample, (0, len(first.ids)), None, special) for sample, first in enumerate(firsts)]
        rows: list[Row] = []
        for sample, first in enumerate(firsts):
            rows.extend(
                self.rows(sample, len(first.ids), None if seconds is None else len(seconds[sample].ids))
            )
        return rows


# -- assembling rows ---------------------------------------------------------------------------


@dataclass(slots=True)
class Columns:
    """Which output columns a call asked for (``input_ids`` always)."""

    token_type_ids: bool = True
    attention_mask: bool = True
    special_tokens_mask: bool = False
    offset_mapping: bool = False

    def empty(self) -> dict[str, list]:
        """The asked-for columns, each an empty list, ``input_ids`` first (in transformers' order)."""
        data: dict[str, list] = {"input_ids": []}
        if self.token_type_ids:
            data["token_type_ids"] = []
        if self.attention_mask:
            data["attention_mask"] = []
        if self.special_tokens_mask:
            data["special_tokens_mask"] = []
        if self.offset_mapping:
            data["offset_mapping"] = []
        return data


def assemble_columns(
    rows: list[Row],
    firsts: list[EncodedText],
    seconds: list[EncodedText] | None,
    cls_id: int,
    sep_id: int,
    columns: Columns,
) -> dict[str, list]:
    """Build the (unpadded) output columns from the row plan."""
    data = columns.empty()
    for row in rows:
        first = firsts[row.sample].ids[row.first[0] : row.first[1]]
        second = None
        if row.second is not None and seconds is not None:
            second = seconds[row.sample].ids[row.second[0] : row.second[1]]
        if not row.special:
            ids = first if second is None else first + second
            first_part = len(ids)  # without [CLS]/[SEP] the reference gives every token type 0
        else:
            ids = with_special_tokens(first, second, cls_id, sep_id)
            first_part = len(first) + 2 if second is not None else len(ids)  # type 1 for B [SEP]
        data["input_ids"].append(ids)
        if columns.token_type_ids:
            data["token_type_ids"].append([0] * first_part + [1] * (len(ids) - first_part))
        if columns.attention_mask:
            data["attention_mask"].append([1] * len(ids))
        if columns.special_tokens_mask:
            data["special_tokens_mask"].append(
                join_row(row, [0] * len(first), None if second is None else [0] * len(second), 1, 1)
            )
        if columns.offset_mapping:
            data["offset_mapping"].append(_row_offsets(row, firsts, seconds))
    return data


def _row_offsets(row: Row, firsts: list[EncodedText], seconds: list[EncodedText] | None) -> list[Span]:
    """One row's offsets, (0, 0) at special tokens; the encoders computed them (offsets were asked for)."""
    first_offsets = firsts[row.sample].offsets
    assert first_offsets is not None, "offsets were asked for, so the encoder computed them"
    first = first_offsets[row.first[0] : row.first[1]]
    second = None
    if row.second is not None and seconds is not None:
        second_offsets = seconds[row.sample].offsets
        assert second_offsets is not None, "offsets were asked for, so the encoder computed them"
        second = second_offsets[row.second[0] : row.second[1]]
    return join_row(row, first, second, (0, 0), (0, 0))


# -- padding -----------------------------------------------------------------------------------


def padding_target(
    mode: str | None, lengths: list[int], max_length: int | None, pad_to_multiple_of: int | None,
    model_max_length: int,
) -> int | None:  # fmt: skip
    """The length rows are padded to (per padding mode), or None for no padding."""
    if mode is None:
        return None
    if mode == "longest":
        target = max(lengths, default=0)
    else:
        target = max_length if max_length is not None else model_max_length
        if target >= VERY_LARGE_INTEGER:
            raise OptionError(
                "padding='max_length' needs a length: pass max_length=..., or load the tokenizer with a "
                "model_max_length."
            )
    if pad_to_multiple_of and target % pad_to_multiple_of:
        target += pad_to_multiple_of - target % pad_to_multiple_of
    return target


def padding_fills(pad_token_id: int, pad_token_type_id: int = 0) -> dict[str, Any]:
    """The value a padding position gets in each paddable column."""
    return {
        "input_ids": pad_token_id,
        "token_type_ids": pad_token_type_id,
        "attention_mask": 0,
        "special_tokens_mask": 1,
        "offset_mapping": (0, 0),
    }


def pad_columns(data: dict[str, list], target: int, fills: Mapping[str, Any], rows: list[Row] | None) -> None:
    """Right-pad every paddable column of ``data`` in place to ``target`` (longer rows stay as they are)."""
    paddable = [(column, [fill]) for key, fill in fills.items() if (column := data.get(key)) is not None]
    for index, ids in enumerate(data["input_ids"]):
        missing = target - len(ids)
        if missing <= 0:
            continue
        for column, fill in paddable:
            column[index] = list(column[index]) + fill * missing
        if rows is not None:
            rows[index].pad = missing


def columns_to_arrays(
    data: dict[str, list], target: int | None, fills: Mapping[str, Any], rows: list[Row] | None
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
    arrays = {
        key: pad_rows(column, fills[key], width) if key in fills else np.asarray(column, dtype=np.int64)
        for key, column in data.items()
    }
    if rows is not None:
        for row, length in zip(rows, lengths.tolist(), strict=True):
            row.pad = width - length
    return arrays


def pad_rows(
    rows: Sequence[Sequence[Any]] | Sequence[np.ndarray], fill: int | tuple[int, int], width: int | None = None
) -> np.ndarray:
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
    input_ids: Sequence[Sequence[int]] | Sequence[np.ndarray],
    pad_token_id: int,
    token_type_ids: Sequence[Sequence[int]] | Sequence[np.ndarray] | None = None,
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
            pad_rows(token_type_ids, 0, width)
            if token_type_ids is not None
            else np.zeros((len(input_ids), width), dtype=np.int64)
        ),
    }


# -- tensors and already-encoded features ------------------------------------------------------


def to_tensors(data: dict[str, Any], return_tensors: str) -> dict[str, Any]:
    """Turn every value into an int64 numpy array (``"np"``) or torch tensor (``"pt"``).

    Raises:
        OptionError: rows of different lengths (or values that are not numbers).
    """
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


def features_to_columns(encoded_inputs: Any) -> tuple[dict[str, list], bool]:
    """Turn a dict of rows or a list of per-example dicts into columns of Python lists.

    Returns the columns and whether the input was a batch (a dict of one example's lists is not).

    Raises:
        InputError: examples with different keys. InputTypeError: neither shape.
    """

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
        batch: dict[str, list] = {key: [] for key in keys}
        for index, example in enumerate(encoded_inputs):
            if set(example) != set(keys):
                raise InputError(
                    f"encoded_inputs[{index}] has the keys {sorted(example)} but encoded_inputs[0] has {sorted(keys)}; "
                    "every example must have the same keys."
                )
            for key in keys:
                batch[key].append(plain(example[key]))
        return batch, True
    raise InputTypeError(
        "pad() takes a dict of lists (one example or a batch) or a non-empty list of dicts, "
        f"got {type(encoded_inputs).__name__}."
    )
