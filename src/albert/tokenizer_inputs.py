"""What a tokenizer call accepts: its inputs (a text, a pair, a batch, lists of words) and the
many spellings of its options, checked once and reduced to one shape, with errors that say
what was wrong and what to pass instead. No vocabulary and no ids here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from albert.encoding_assembly import PADDING_STRATEGIES, TENSOR_TYPES, TRUNCATION_STRATEGIES
from albert.errors import InputError, InputTypeError, OptionError
from albert.text_normalization import utf8_problem

# -- options -----------------------------------------------------------------------------------


def truncation_strategy(truncation: bool | str | None, max_length: int | None, padding: Any) -> str | None:
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


def padding_strategy(padding: bool | str | None) -> str | None:
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


def check_positive_int(name: str, value: Any, *, allow_zero: bool = False, allow_none: bool = True) -> None:
    """Refuse anything but an int >= 1 (>= 0 with ``allow_zero``; None with ``allow_none``)."""
    lowest = 0 if allow_zero else 1
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise OptionError(
            f"{name}={value!r} must be an integer >= {lowest}{' (or None)' if allow_none else ''}."
        )


def check_tensor_type(return_tensors: Any) -> None:
    """Refuse a ``return_tensors`` other than "pt", "np" or None."""
    if return_tensors is not None and return_tensors not in TENSOR_TYPES:
        raise OptionError(
            f"return_tensors={return_tensors!r} is not supported: use 'pt' (torch), 'np' (numpy) or None (lists)."
        )


def check_call_options(
    truncation: bool | str | None,
    padding: bool | str | None,
    max_length: int | None,
    stride: int,
    pad_to_multiple_of: int | None,
    return_tensors: Any,
) -> tuple[str | None, str | None]:
    """Check a call's length and output options; returns its (truncation, padding) strategies."""
    strategy = truncation_strategy(truncation, max_length, padding)
    padding_mode = padding_strategy(padding)
    check_positive_int("max_length", max_length)
    check_positive_int("stride", stride, allow_zero=True)
    check_positive_int("pad_to_multiple_of", pad_to_multiple_of)
    check_tensor_type(return_tensors)
    return strategy, padding_mode


# -- inputs ------------------------------------------------------------------------------------


def collect_inputs(text: Any, text_pair: Any, is_split_into_words: bool) -> tuple[list, list | None, bool]:
    """Split a call's inputs into (first texts, second texts or None, was it a batch), checked.

    Raises:
        InputError / InputTypeError: inputs of the wrong shape or kind, or texts that are not
            valid UTF-8; the message names the input and its index.
    """
    if text is None:
        raise InputError(
            "text is None: pass a string, a list of strings, or (with is_split_into_words) a list of words."
        )
    if is_split_into_words:
        firsts, seconds, batched = _collect_word_inputs(text, text_pair)
    else:
        firsts, seconds, batched = _collect_text_inputs(text, text_pair)
    check_utf8(firsts, "text", batched)
    if seconds is not None:
        check_utf8(seconds, "text_pair", batched)
    return firsts, seconds, batched


def _collect_text_inputs(text: Any, text_pair: Any) -> tuple[list, list | None, bool]:
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
        return _split_pairs(text)
    for index, item in enumerate(text):
        if not isinstance(item, str):
            raise InputTypeError(
                f"text[{index}] is a {type(item).__name__}, not a str: a batch is a list of strings "
                "(or of (text, text_pair) tuples); pass is_split_into_words=True for lists of words."
            )
    if text_pair is None:
        return list(text), None, True
    return list(text), _check_pair_list(text_pair, len(text), str), True


def _split_pairs(pairs: Sequence[Sequence[str]]) -> tuple[list[str], list[str], bool]:
    for index, pair in enumerate(pairs):
        if len(pair) != 2 or not all(isinstance(part, str) for part in pair):
            raise InputTypeError(
                f"text[{index}] must be a (text, text_pair) pair of two strings, got {pair!r} "
                "(for lists of words, pass is_split_into_words=True)."
            )
    return [pair[0] for pair in pairs], [pair[1] for pair in pairs], True


def _check_pair_list(text_pair: Any, expected: int, item_type: type | tuple[type, ...]) -> list:
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
            expected_name = item_type.__name__ if isinstance(item_type, type) else item_type[0].__name__
            raise InputTypeError(f"text_pair[{index}] is a {type(item).__name__}, expected {expected_name}.")
    return list(text_pair)


def _collect_word_inputs(text: Any, text_pair: Any) -> tuple[list, list | None, bool]:
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
    pairs = _check_pair_list(text_pair, len(examples), (list, tuple)) if batched else [text_pair]
    for index, words in enumerate(pairs):
        _check_words(words, f"text_pair[{index}]" if batched else "text_pair")
    return [list(words) for words in examples], [list(words) for words in pairs], batched


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
                where = (
                    name + (f"[{index}]" if batched else "") + (f"[{position}]" if words is not None else "")
                )
                raise InputError(
                    f"{where} is not valid UTF-8: it holds {problem}. "
                    "Decode the input strictly (or with errors='replace') before tokenizing it."
                )
