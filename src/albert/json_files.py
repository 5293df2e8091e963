"""Reading the small JSON files of a model folder, with bounds a hostile file cannot get past.

config.json, tokenizer_config.json, special_tokens_map.json and the shard indexes
(``*.index.json``) all come through :func:`read_json_file`. Python's ``json`` reads whatever it is
given: a gigabyte of text, a list nested 100,000 deep (a ``RecursionError`` and a 77-line
traceback), ``NaN`` and ``Infinity`` (not JSON, but accepted), ``1e400`` (read as infinity) or a
5,000-digit integer. Here each of those is one error of the caller's kind (a ``ConfigError`` for
a config, a ``CheckpointError`` for a shard index) that names the file and the bound. Torch-free.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .errors import AlbertError

#: Bytes a config.json, tokenizer_config.json or special_tokens_map.json may hold. Released
#: configs are ~1 KB and a tokenizer_config.json with every added token a few hundred KB; 16 MiB
#: still holds the label maps of 100,000 labels (albert's bound on num_labels) and reads in
#: well under a second.
MAX_CONFIG_FILE_BYTES = 16 * 2**20
#: Bytes a shard index may hold: ~100 bytes per tensor name, so 64 MiB is over half a million
#: tensors (ALBERT xxlarge has 26); the largest indexes on the Hub are a few MB.
MAX_INDEX_FILE_BYTES = 64 * 2**20
#: How deep objects and lists may nest. Real files nest 2-4 deep (``added_tokens_decoder`` ->
#: id -> token); 64 keeps far below Python's recursion limit, so nothing that later copies or
#: compares the values (``copy.deepcopy``, ``json.dumps``, ``==``) can overflow it either.
MAX_JSON_DEPTH = 64
#: Digits a JSON integer may have (Python refuses to read more than 4,300; 31 is the longest in
#: real files: transformers' "no limit" ``model_max_length`` 1000000000000000019884624838656).
MAX_INTEGER_DIGITS = 100


class _Refused(ValueError):
    """A value inside the JSON that albert does not read (a non-finite number, a huge integer)."""


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):  # 1e400 overflows to infinity
        raise _Refused(f"{text[:40]}, a number too large for a float")
    return number


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise _Refused(f"an integer of {digits:,} digits (at most {MAX_INTEGER_DIGITS} are read)")
    return int(text)


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name}, which is not a JSON number (non-finite numbers are refused)")


def nesting_depth(value: Any) -> int:
    """How deep ``value``'s dicts and lists nest (a scalar is 0), measured without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def read_json_file(
    path: str | os.PathLike[str], *, error: type[AlbertError], max_bytes: int = MAX_CONFIG_FILE_BYTES,
    what: str = "a JSON file",
) -> Any:
    """The JSON value in ``path``, read only if it is small, shallow and finite.

    Args:
        error: the class raised (``ConfigError`` for configs, ``CheckpointError`` for indexes).
        max_bytes: the largest file read (:data:`MAX_CONFIG_FILE_BYTES`,
            :data:`MAX_INDEX_FILE_BYTES`); at most this much is ever read, even from a file whose
            size the system does not report (a pipe).
        what: what the file should be, for the message (``"a model config"``).

    Raises:
        error: the file cannot be read, is larger than ``max_bytes``, is not UTF-8 JSON, nests
            deeper than :data:`MAX_JSON_DEPTH`, or holds ``NaN``/``Infinity``, a number that
            overflows a float, or an integer of more than :data:`MAX_INTEGER_DIGITS` digits. The
            message names ``path``.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as failure:
        raise error(f"cannot read {path} ({failure.strerror or type(failure).__name__})") from None
    if len(data) > max_bytes:
        raise error(
            f"{path} is larger than {max_bytes:,} bytes, albert's bound for {what}: it cannot be one. "
            "Check that the file is the right one."
        )
    try:
        text = data.decode("utf-8-sig")
        value = json.loads(text, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant)
    except RecursionError:
        value, too_deep = None, True
    except _Refused as refused:
        raise error(f"{path} is not {what}: it holds {refused}") from None
    except ValueError as failure:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        detail = " ".join(str(failure).split())[:200]
        raise error(f"{path} is not valid JSON ({detail}), so it is not {what}") from None
    else:
        too_deep = nesting_depth(value) > MAX_JSON_DEPTH
    if too_deep:
        raise error(
            f"{path} nests objects or lists deeper than {MAX_JSON_DEPTH} levels, albert's bound for {what} "
            "(real files nest 2-4 levels): it is not one"
        )
    return value
