"""What a checkpoint folder holds and how its names line up, for every framework (no torch here).

The torch models (:mod:`albert.checkpoint`) and the Flax ones (:mod:`albert.flax.checkpoint`)
read and write the same folders: these are the file names, the shard index (only files beside
it), the ``albert.`` prefix that base and head checkpoints differ by, the weights one head may
skip from another's checkpoint, and the report of what loading did.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .atomic_files import write_bytes_atomic
from .config import CONFIG_NAME, AlbertConfig
from .errors import CheckpointError as CheckpointError  # re-exported: its home before albert.errors
from .hub import ModelNotFoundError, local_folder, resolve_file
from .tokenization_base import TOKENIZER_FILES, VOCABULARY_FILES, remove_stale_tokenizer_files

logger = logging.getLogger("albert")

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
PT_WEIGHTS_NAME = "pytorch_model.bin"
PT_WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"

#: Weights that exist in the checkpoints of some heads but are not needed by others; skipping
#: them is expected, not a sign of a wrong checkpoint.
HEAD_PREFIXES = ("predictions.", "sop_classifier.", "classifier.", "qa_outputs.", "albert.pooler.", "pooler.")
#: Buffers older transformers versions saved; they are recomputed, never loaded.
IGNORED_SUFFIXES = ("embeddings.position_ids", "embeddings.token_type_ids")

Value = TypeVar("Value")


@dataclass
class LoadingInfo:
    """What ``from_pretrained`` did with the checkpoint's tensors."""

    missing_keys: list[str] = field(default_factory=list)  # newly initialised weights
    unexpected_keys: list[str] = field(default_factory=list)  # checkpoint tensors not used
    mismatched_keys: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    def refuse_mismatches(self, kind: str) -> None:
        """Raise when a checkpoint tensor had another shape than the model's (the caller's
        ``ignore_mismatched_sizes=False``).

        Raises:
            CheckpointError: naming up to five of them, and what to do.
        """
        if not self.mismatched_keys:
            return
        details = "; ".join(
            f"{name!r} has shape {found} in the checkpoint but {kind} expects {wanted}"
            for name, found, wanted in self.mismatched_keys[:5]
        )
        more = len(self.mismatched_keys) - 5
        raise CheckpointError(
            f"weights do not fit the model: {details}{f' (and {more} more)' if more > 0 else ''}. "
            "Check the config (e.g. vocab_size, num_labels), or pass ignore_mismatched_sizes=True "
            "to re-initialise them."
        )

    def report(self, kind: str) -> None:
        """Log what a model of class ``kind`` did not get from its checkpoint (as transformers does)."""
        if self.missing_keys:
            logger.warning(
                "Some weights of %s were not in the checkpoint and are newly initialised: %s. "
                "Train the model on a downstream task before using its predictions.",
                kind, ", ".join(self.missing_keys),
            )  # fmt: skip
        if self.mismatched_keys:
            logger.warning(
                "Some weights of %s had another shape in the checkpoint and are newly initialised: %s",
                kind, ", ".join(f"{name} {found} -> {wanted}" for name, found, wanted in self.mismatched_keys),
            )  # fmt: skip
        unknown = [name for name in self.unexpected_keys if not is_head_weight(name)]
        if unknown:
            logger.warning("Some checkpoint weights do not belong to %s and were ignored: %s", kind, ", ".join(unknown))
        elif self.unexpected_keys:
            logger.info("Weights of other heads not used by %s: %s", kind, ", ".join(self.unexpected_keys))


def one_line(error: BaseException) -> str:
    """An exception's message on one line (its type when it has none)."""
    return " ".join(str(error).split()) or type(error).__name__


def shard_names(index_path: Path) -> list[str]:
    """The shard files a ``*.index.json`` names: plain file names beside it, nothing else.

    Raises:
        CheckpointError: the index is not JSON, has no ``weight_map`` of names, or names a file
            outside its folder (``../``, an absolute path), which is refused, never read.
    """
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
    except (ValueError, KeyError, TypeError) as error:
        raise CheckpointError(
            f"{index_path} is not a shard index ({one_line(error)}): it must be JSON with a 'weight_map' of "
            "tensor name -> shard file"
        ) from None
    if not isinstance(weight_map, dict) or not all(isinstance(name, str) for name in weight_map.values()):
        raise CheckpointError(f"{index_path}: 'weight_map' must map tensor names to shard file names")
    names = sorted(set(weight_map.values()))
    for name in names:
        if not name or name != Path(name).name or name in (".", "..") or "\\" in name:
            raise CheckpointError(
                f"refusing {index_path}: it names the shard {name!r}, which is not a file beside the index "
                "(a shard index may only name files in its own folder)"
            )
    return names


def align_prefix(state: dict[str, Value], expected: Iterable[str], prefix: str) -> dict[str, Value]:
    """Add or strip the base-model prefix (``albert.``) so a base checkpoint loads into a head
    and a head's checkpoint loads into the base model, as transformers allows."""
    expected = set(expected)
    model_has_prefix = any(name.startswith(prefix + ".") for name in expected)
    checkpoint_has_prefix = any(name.startswith(prefix + ".") for name in state)
    if model_has_prefix and not checkpoint_has_prefix:
        return {(f"{prefix}.{name}" if f"{prefix}.{name}" in expected else name): value for name, value in state.items()}
    if checkpoint_has_prefix and not model_has_prefix:
        return {
            (name[len(prefix) + 1:] if name.startswith(prefix + ".") else name): value for name, value in state.items()
        }
    return state


def without_ignored(state: dict[str, Value]) -> dict[str, Value]:
    """``state`` without the buffers old transformers versions saved (:data:`IGNORED_SUFFIXES`)."""
    return {name: value for name, value in state.items() if not name.endswith(IGNORED_SUFFIXES)}


def is_head_weight(name: str) -> bool:
    """Whether ``name`` belongs to a head some models lack (skipping it is expected)."""
    return name.startswith(HEAD_PREFIXES)


def copy_tokenizer_files(source_name: str | None, folder: Path) -> None:
    """Copy the tokenizer files of the folder (or cached Hub model) a model came from into ``folder``,
    so that a saved model is a complete folder even when no tokenizer was given to save; tokenizer
    files of another model already in ``folder`` are removed, as a tokenizer's own save does."""
    if source_name is None:
        return
    source = local_folder(source_name)
    present = []
    for filename in TOKENIZER_FILES:
        try:
            path = (source / filename) if source is not None else resolve_file(
                source_name, filename, required=False, local_files_only=True
            )
        except ModelNotFoundError:
            path = None
        if path is None or not path.is_file():
            continue
        present.append(filename)
        if path.resolve() != (folder / filename).resolve():
            write_bytes_atomic(folder / filename, path.read_bytes())
    if any(name in present for name in VOCABULARY_FILES):  # a tokenizer came: the folder's others are stale
        remove_stale_tokenizer_files(folder, present)


def load_config(
    name_or_path: str | os.PathLike, config: AlbertConfig | None, overrides: Mapping[str, Any], caller: str,
    **hub_kwargs: Any,
) -> AlbertConfig:
    """The config ``from_pretrained`` builds a model with: ``config`` (copied) or the checkpoint's
    config.json, with ``overrides`` applied (unknown fields refused, naming ``caller``).

    Raises:
        ModelNotFoundError: no config.json there. ValueError: an unknown override.
    """
    if config is None:
        config = AlbertConfig.from_json_file(resolve_file(name_or_path, CONFIG_NAME, **hub_kwargs))  # type: ignore[arg-type]
    else:
        config = config.copy()
    config.apply_overrides(dict(overrides), keep_unknown=False, caller=caller)
    return config


def remove_stale_weights(folder: Path, written: set[str]) -> None:
    """Remove the weight files of another layout (a .bin, an index, old shards) that a save did not
    write: called after the new files are in place, so a save killed midway never leaves a folder
    without weights."""
    stale = [folder / name for name in (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME)]
    for path in [*stale, *folder.glob("model-*-of-*.safetensors")]:
        if path.name not in written:
            path.unlink(missing_ok=True)
