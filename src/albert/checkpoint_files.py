"""What a checkpoint folder holds and how its names line up, for every framework (no torch here).

The torch models (:mod:`albert.checkpoint`) and the Flax ones (:mod:`albert.flax.checkpoint`)
read and write the same folders: these are the file names, the shard index (only files beside
it), the ``albert.`` prefix that base and head checkpoints differ by, the weights one head may
skip from another's checkpoint, the report of what loading did (and the refusal of an incomplete
encoder), and the sha256 albert records in the safetensors files it writes.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import mmap
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .atomic_files import write_bytes_atomic
from .config import CONFIG_NAME, AlbertConfig
from .errors import CheckpointError as CheckpointError  # re-exported: its home before albert.errors
from .hub import ModelNotFoundError, local_folder, resolve_file
from .json_files import MAX_INDEX_FILE_BYTES, read_json_file
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

#: The attribute that marks :meth:`LoadingInfo.report`'s log records of newly initialised weights
#: (a pipeline, which refuses or reports such a head itself, leaves them out).
NEW_WEIGHTS_RECORD = "albert_new_weights"

#: The safetensors metadata key of the sha256 albert records in every weights file it writes
#: (:func:`tensors_sha256`); verified on load when present.
CHECKSUM_KEY = "albert.sha256"
#: ``ALBERT_VERIFY_CHECKSUMS=0`` skips the verification (for very large files; the default is on).
VERIFY_CHECKSUMS_ENV = "ALBERT_VERIFY_CHECKSUMS"

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
        heads_only = all(is_head_weight(name) for name, *_ in self.mismatched_keys)
        raise CheckpointError(
            f"weights do not fit the model: {details}{f' (and {more} more)' if more > 0 else ''}. "
            + ("Check the config (e.g. num_labels), or pass ignore_mismatched_sizes=True to re-initialise "
               "these head weights." if heads_only else
               "Check the config (e.g. vocab_size, intermediate_size): it must be the one the weights were "
               "saved with.")
        )

    def refuse_incomplete(self, kind: str, where: str, loaded: Iterable[str]) -> None:
        """Raise unless every weight a checkpoint could not supply is part of a task head that is
        wholly absent: a missing (or, with ``ignore_mismatched_sizes``, re-initialised) encoder
        weight, or a head that is only partly there, is a damaged or mismatched checkpoint, and a
        model built from it would answer with random layers.

        Args:
            kind: the model class. where: the checkpoint (both for the message).
            loaded: the names of the weights that came from the checkpoint.

        Raises:
            CheckpointError: naming the missing weights, the checkpoint's unexpected tensors, and
                a pair of them whose names differ by a few characters (a damaged name).
        """
        loaded_heads = {head_of(name) for name in loaded if is_head_weight(name)}
        encoder = [name for name in self.missing_keys if not is_head_weight(name)]
        partial = [name for name in self.missing_keys if is_head_weight(name) and head_of(name) in loaded_heads]
        reshaped = [(name, found, wanted) for name, found, wanted in self.mismatched_keys if not is_head_weight(name)]
        if not encoder and not partial and not reshaped:
            return
        damaged_heads = {head_of(name) for name in partial}
        unexpected = [
            name for name in self.unexpected_keys if not is_head_weight(name) or head_of(name) in damaged_heads
        ]
        parts = []
        if encoder:
            parts.append(f"{where} lacks {_count(len(encoder), 'weight')} of {kind}'s encoder: {_names(encoder)}")
        if partial:
            heads = ", ".join(repr(head) for head in sorted(damaged_heads))
            parts.append(f"{where} holds only part of the {heads} head (a head loads whole or is initialised whole); "
                         f"it lacks {_names(partial)}")
        for name, found, wanted in reshaped[:5]:
            parts.append(f"{name!r} has shape {found} in {where} but {kind} expects {wanted} "
                         "(ignore_mismatched_sizes re-initialises task heads only)")
        if unexpected:
            parts.append(f"it holds {_count(len(unexpected), 'tensor')} {kind} does not have: {_names(unexpected)}")
        pairs = _look_alike([*encoder, *partial], unexpected)
        if pairs:
            looks = "; ".join(f"{found!r} looks like {wanted!r} with a damaged name" for wanted, found in pairs[:3])
            advice = f"{looks}: the file is damaged. Download or save the model again"
        else:
            advice = ("Download or save the model again, or check that its config.json (num_hidden_groups, "
                      "inner_group_num, embedding_size ...) is the one the weights were saved with")
        raise CheckpointError(
            "; ".join(parts) + ". Only a task head may be newly initialised: these weights would be random and "
            "every answer wrong. " + advice + "."
        )

    def report(self, kind: str) -> None:
        """Log what a model of class ``kind`` did not get from its checkpoint (as transformers does)."""
        if self.missing_keys:
            logger.warning(
                "Some weights of %s were not in the checkpoint and are newly initialised: %s. "
                "Train the model on a downstream task before using its predictions.",
                kind, ", ".join(self.missing_keys), extra={NEW_WEIGHTS_RECORD: True},
            )  # fmt: skip
        if self.mismatched_keys:
            logger.warning(
                "Some weights of %s had another shape in the checkpoint and are newly initialised: %s",
                kind, ", ".join(f"{name} {found} -> {wanted}" for name, found, wanted in self.mismatched_keys),
                extra={NEW_WEIGHTS_RECORD: True},
            )  # fmt: skip
        unknown = [name for name in self.unexpected_keys if not is_head_weight(name)]
        if unknown:
            logger.warning("Some checkpoint weights do not belong to %s and were ignored: %s", kind, ", ".join(unknown))
        elif self.unexpected_keys:
            logger.info("Weights of other heads not used by %s: %s", kind, ", ".join(self.unexpected_keys))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _names(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def _look_alike(missing: Sequence[str], unexpected: Sequence[str]) -> list[tuple[str, str]]:
    """``(missing name, unexpected name)`` pairs whose names differ by a few characters: one
    tensor under a damaged name (a flipped bit, ``ffn_output`` -> ``ffn_outptt``)."""
    pairs = []
    for name in missing:
        close = difflib.get_close_matches(name, unexpected, n=1, cutoff=0.85)
        if close:
            pairs.append((name, close[0]))
    return pairs


def one_line(error: BaseException) -> str:
    """An exception's message on one line (its type when it has none)."""
    return " ".join(str(error).split()) or type(error).__name__


def shard_names(index_path: Path) -> list[str]:
    """The shard files a ``*.index.json`` names: plain file names beside it, nothing else.

    The index is read with :func:`albert.json_files.read_json_file` (at most
    :data:`~albert.json_files.MAX_INDEX_FILE_BYTES`, shallow, finite). A shard beside the index
    that is a symlink must resolve inside the index's folder, or, for a model in the Hugging Face
    cache (``<repo>/snapshots/<revision>/``), inside that repository's ``blobs/``, where the cache
    keeps every file.

    Raises:
        CheckpointError: the index is not JSON (or too large or deep), has no ``weight_map`` of
            names, or names a file outside its folder (``../``, an absolute path, a symlink that
            leads elsewhere), which is refused, never read.
    """
    index = read_json_file(index_path, error=CheckpointError, max_bytes=MAX_INDEX_FILE_BYTES, what="a shard index")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if weight_map is None:
        raise CheckpointError(
            f"{index_path} is not a shard index (it has no 'weight_map'): it must be JSON with a 'weight_map' of "
            "tensor name -> shard file"
        )
    if not isinstance(weight_map, dict) or not all(isinstance(name, str) for name in weight_map.values()):
        raise CheckpointError(f"{index_path}: 'weight_map' must map tensor names to shard file names")
    names = sorted(set(weight_map.values()))
    for name in names:
        if not name or name != Path(name).name or name in (".", "..") or "\\" in name:
            raise CheckpointError(
                f"refusing {index_path}: it names the shard {name!r}, which is not a file beside the index "
                "(a shard index may only name files in its own folder)"
            )
        _refuse_escaping_symlink(index_path, name)
    return names


def _refuse_escaping_symlink(index_path: Path, name: str) -> None:
    """Raise when the shard ``name`` beside ``index_path`` is a symlink (or a chain of them) that
    leads outside the model folder (or, in the Hugging Face cache, outside the repository's blobs)."""
    folder = index_path.parent
    shard = folder / name
    if not shard.is_symlink():
        return
    allowed = [folder]
    if folder.parent.name == "snapshots":  # <repo>/snapshots/<revision>/name -> ../../blobs/<hash>
        allowed.append(folder.parent.parent / "blobs")
    try:
        target = shard.resolve(strict=True)
        inside = any(target.is_relative_to(place.resolve(strict=True)) for place in allowed if place.exists())
    except (OSError, RuntimeError):  # a dangling link or a loop
        inside = False
    if not inside:
        raise CheckpointError(
            f"refusing {index_path}: its shard {name!r} is a symlink to {os.readlink(shard)!r}, outside the model "
            "folder (a shard index may only name files in its own folder)"
        )


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


def head_of(name: str) -> str:
    """The head prefix (:data:`HEAD_PREFIXES`) ``name`` belongs to, or "" for an encoder weight."""
    return next((prefix for prefix in HEAD_PREFIXES if name.startswith(prefix)), "")


# -- checksums ---------------------------------------------------------------------------------

def tensors_sha256(tensors: Iterable[tuple[str, str, Sequence[int], Any]]) -> str:
    """The sha256 albert records in a safetensors file (metadata :data:`CHECKSUM_KEY`).

    Defined over the tensors, not the file's bytes, so that a writer can compute it before the
    file exists (its header, which holds the digest, comes first) and any safetensors version's
    layout gives the same digest: in sorted name order, each tensor's ``[name, dtype, shape,
    byte count]`` as a JSON line, then its raw bytes (C order, little-endian, as safetensors
    stores them). A changed name, dtype, shape or data byte changes the digest.

    Args:
        tensors: ``(name, safetensors dtype such as "F32", shape, raw bytes)`` for each tensor;
            the bytes as any buffer (bytes, a memoryview, a uint8 array).

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    for name, dtype, shape, data in sorted(tensors, key=lambda item: item[0]):
        view = memoryview(data).cast("B")
        digest.update(json.dumps([name, dtype, [int(size) for size in shape], view.nbytes]).encode() + b"\n")
        digest.update(view)
    return digest.hexdigest()


def checksums_wanted(verify: bool | None = None) -> bool:
    """Whether to verify checksums: ``verify`` when given, else not when the environment says
    ``ALBERT_VERIFY_CHECKSUMS=0`` (or false, no, off)."""
    if verify is not None:
        return verify
    return os.environ.get(VERIFY_CHECKSUMS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def verify_checksum(path: str | os.PathLike[str], verify: bool | None = None) -> bool:
    """Check a safetensors file against the sha256 albert recorded when it wrote it.

    Call it after the file was read by safetensors (which checked its header). A file without
    the key (written elsewhere) passes as it is. The data is hashed through a memory map, at the
    speed of sha256 (see docs/reliability.md for the figures).

    Args:
        verify: False skips the check; None follows ``ALBERT_VERIFY_CHECKSUMS``.

    Returns:
        Whether a recorded checksum was verified.

    Raises:
        CheckpointError: the data (or a tensor's name, dtype or shape) differs from what was recorded.
    """
    if not checksums_wanted(verify):
        return False
    path = Path(path)
    with open(path, "rb") as file:
        (header_size,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(header_size))
        recorded = (header.pop("__metadata__", None) or {}).get(CHECKSUM_KEY)
        if recorded is None:
            return False
        start = 8 + header_size
        with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            data = memoryview(mapped)
            try:
                actual = tensors_sha256(
                    (name, entry["dtype"], entry["shape"],
                     data[start + entry["data_offsets"][0]:start + entry["data_offsets"][1]])
                    for name, entry in header.items()
                )
            finally:
                data.release()
    if actual != recorded:
        raise CheckpointError(
            f"{path} is damaged: its tensor data does not match the sha256 albert recorded when it wrote the file; "
            "download or save it again"
        )
    return True


def sort_metadata(path: str | os.PathLike[str]) -> None:
    """Rewrite a just-written safetensors file's metadata with its keys in sorted order, in place.

    safetensors writes the metadata from a Rust ``HashMap``, whose order changes from call to
    call: with two keys (``format`` and :data:`CHECKSUM_KEY`) the same weights would give files
    that differ in their header, and a resumed run would not write the bytes of an uninterrupted
    one. The keys and values are the same, so the header keeps its length; nothing else moves.
    """
    with open(path, "r+b") as file:
        (header_size,) = struct.unpack("<Q", file.read(8))
        text = file.read(header_size).decode("utf-8")
        prefix = '{"__metadata__":'
        if not text.startswith(prefix):
            return
        metadata, end = json.JSONDecoder().raw_decode(text, len(prefix))
        ordered = json.dumps(dict(sorted(metadata.items())), separators=(",", ":"), ensure_ascii=False)
        if len(ordered) != end - len(prefix) or ordered == text[len(prefix):end]:
            return  # escaped differently than serde writes it, or already in order: leave the file as it is
        file.seek(8 + len(prefix.encode()))
        file.write(ordered.encode("utf-8"))


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
    name_or_path: str | os.PathLike[str], config: AlbertConfig | None, overrides: Mapping[str, Any], caller: str,
    **hub_kwargs: Any,
) -> AlbertConfig:
    """The config ``from_pretrained`` builds a model with: ``config`` (copied) or the checkpoint's
    config.json, with ``overrides`` applied (unknown fields refused, naming ``caller``).

    Raises:
        ModelNotFoundError: no config.json there. ValueError: an unknown override.
    """
    if config is None:
        config = AlbertConfig.from_json_file(resolve_file(name_or_path, CONFIG_NAME, **hub_kwargs))
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


def complete_model_folder(
    folder: Path, config: AlbertConfig, written: set[str], tokenizer: Any, source_name: str | None
) -> None:
    """What every ``save_pretrained`` does once the weights are written into ``folder`` (torch and
    Flax alike): remove the weight files of another layout, save ``tokenizer`` or copy the source
    model's tokenizer files, and write config.json last (where a folder is written file by file,
    config.json completes it)."""
    remove_stale_weights(folder, written)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    else:
        copy_tokenizer_files(source_name, folder)
    config.save_pretrained(folder)
