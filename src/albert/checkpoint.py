"""Checkpoints: ``from_pretrained`` and ``save_pretrained`` for every model class.

The format is Hugging Face's: a folder with config.json, model.safetensors (or shards with an
index) and the tokenizer files, with transformers' weight names, so a folder written here loads
in transformers and the reverse. Weights are read from safetensors first; a pytorch_model.bin is
read only through ``torch.load(weights_only=True)``, which refuses pickled code instead of
running it.

A checkpoint must hold the whole encoder: only a task head may be missing (and is then newly
initialised). The safetensors files albert writes carry a sha256 of their tensors
(``albert.sha256`` in the metadata), verified when they are read.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import pickle
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch

from .atomic_files import atomic_folder, needing_space, write_atomic, write_text_atomic, write_torch_atomic
from .checkpoint_files import (
    CHECKSUM_KEY,
    PT_WEIGHTS_INDEX_NAME,
    PT_WEIGHTS_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    CheckpointError,
    LoadingInfo,
    align_prefix,
    complete_model_folder,
    load_config,
    shard_names,
    sort_metadata,
    tensors_sha256,
    verify_checksum,
    without_ignored,
)
from .config import AlbertConfig
from .devices import resolve_device, resolve_dtype
from .errors import OptionError
from .hub import ModelNotFoundError, resolve_file
from .precision import apply_precision, check_dtype_for, check_precision, is_quantized

logger = logging.getLogger("albert")

ModelT = TypeVar("ModelT", bound="PreTrainedMixin")


# -- reading weight files ----------------------------------------------------------------------

def load_weights_file(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", verify_checksums: bool | None = None
) -> dict[str, torch.Tensor]:
    """Read one weights file (``.safetensors`` or a torch ``.bin``) into a name -> tensor dict.

    Args:
        verify_checksums: check a safetensors file against the sha256 albert recorded in it
            (files written elsewhere have none); None follows ``ALBERT_VERIFY_CHECKSUMS``.

    Raises:
        CheckpointError: the file is truncated, corrupt or damaged (its checksum differs), or a
            .bin holds pickled objects other than tensors (which are refused, never executed).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            tensors = load_file(path, device=str(device))
        except (SafetensorError, OSError, ValueError, RuntimeError) as error:
            raise CheckpointError(
                f"{path} is not a readable safetensors file ({error}); it may be truncated or corrupt: "
                "download or save it again"
            ) from None
        verify_checksum(path, verify_checksums)
        return tensors
    try:
        state = load_torch_file(path, map_location=device)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"refusing to load {path}: it holds something other than plain tensors ({describe_load_error(error)}), "
            "and pickled objects could run code, so nothing in it was run. Use a model.safetensors file, or "
            "convert this file in an environment you trust."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{path} is not a readable PyTorch weights file ({describe_load_error(error)})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a name -> tensor mapping")
    return state


def load_torch_file(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers, never pickled code.

    torch's warning about a pickle's protocol, printed before it refuses the pickle, is silenced:
    the caller's one error says what happened.

    Raises:
        pickle.UnpicklingError: the file holds other objects (refused, not run) or is not a pickle.
        RuntimeError, EOFError, OSError: a damaged or unreadable file.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        return torch.load(path, map_location=map_location, weights_only=True)


#: Sentences of torch's refusal that tell the reader how to turn the safety off (set
#: ``weights_only=False``, allowlist the class): never passed on.
_UNSAFE_ADVICE = re.compile(r"weights_only|safe_globals|allowlist|trusted source|trust the source", re.IGNORECASE)


def describe_load_error(error: BaseException) -> str:
    """One line on why :func:`load_torch_file` failed, without torch's advice to turn the safety
    off (torch 2.6+ puts it in the message): for a refused pickle, the reason alone (``Unsupported
    global: GLOBAL __main__.Foo was not an allowed global by default``)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # torch's bold
    _, found, reason = text.partition("WeightsUnpickler error:")
    if found:  # the reason follows the advice
        text = reason
    boilerplate = ("Weights only load failed", "Please ", "Check the documentation", "(1)", "(2)")
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    kept = [line for line in sentences if line and not _UNSAFE_ADVICE.search(line) and not line.startswith(boilerplate)]
    if isinstance(error, pickle.UnpicklingError):
        return kept[0].rstrip(".") if kept else "not a plain tensor file"
    return " ".join(kept).rstrip(".") or type(error).__name__


def _weights_files(name_or_path: str | os.PathLike[str], hub_kwargs: dict[str, Any]) -> list[Path]:
    """The files holding a model's weights: safetensors first, then a torch .bin, sharded or not."""
    for single, index in ((SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME), (PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME)):
        path = resolve_file(name_or_path, single, required=False, **hub_kwargs)
        if path is not None:
            return [path]
        index_path = resolve_file(name_or_path, index, required=False, **hub_kwargs)
        if index_path is not None:
            return [
                resolve_file(name_or_path, shard, **hub_kwargs)
                for shard in shard_names(index_path)
            ]
    raise ModelNotFoundError(
        f"found no weights for '{name_or_path}': expected {SAFE_WEIGHTS_NAME} (or {PT_WEIGHTS_NAME}, "
        "possibly sharded with an index). If you are offline, the file may simply not be cached: "
        "point at a local folder written by save_pretrained."
    )


# -- the mixin ---------------------------------------------------------------------------------

class PreTrainedMixin(torch.nn.Module):
    """``from_pretrained`` / ``save_pretrained`` for a torch module with a ``config``."""

    config_class = AlbertConfig
    base_model_prefix = "albert"
    config: AlbertConfig
    name_or_path: str  # set by from_pretrained
    loading_info: LoadingInfo

    if TYPE_CHECKING:  # defined by the model classes (albert.modeling)

        @property
        def dtype(self) -> torch.dtype: ...
        def tie_weights(self) -> None: ...
        def init_parameter(self, module: torch.nn.Module, name: str, parameter: torch.nn.Parameter) -> None: ...
        def set_attn_implementation(self, attn_implementation: str, packed_kernel: str = "auto") -> None: ...

    # Tied parameters: the alias name -> the name that is saved (the MLM decoder shares the word
    # embeddings and the MLM bias). Empty for models without an MLM head.
    def tied_weight_names(self) -> dict[str, str]:
        names = dict(self.named_parameters(remove_duplicate=False))
        ties = {}
        for alias, source in (
            ("predictions.decoder.weight", f"{self.base_model_prefix}.embeddings.word_embeddings.weight"),
            ("predictions.decoder.bias", "predictions.bias"),
        ):
            if alias in names and source in names and names[alias] is names[source]:
                ties[alias] = source
        return ties

    @classmethod
    def from_pretrained(
        cls: type[ModelT],
        name_or_path: str | os.PathLike[str],
        *,
        config: AlbertConfig | None = None,
        dtype: torch.dtype | str | None = None,
        torch_dtype: torch.dtype | str | None = None,
        device: str | torch.device | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        ignore_mismatched_sizes: bool = False,
        output_loading_info: bool = False,
        fast: bool = False,
        attn_implementation: str | None = None,
        verify_checksums: bool | None = None,
        precision: str = "exact",
        **config_overrides: Any,
    ) -> ModelT:
        """Load weights from a folder, a model shipped with the package, or a Hub id.

        The checkpoint must hold every weight of the encoder; only a task head may be missing
        (a classifier for fine-tuning), and it is then newly initialised and listed in
        ``model.loading_info.missing_keys`` (the pipelines refuse such a head for inference).

        Args:
            name_or_path: folder written by ``save_pretrained`` (ours or transformers'), the name
                of a shipped model, or a Hub id such as ``"albert/albert-base-v2"``.
            config: use this config instead of the checkpoint's config.json.
            dtype: ``torch.float32`` (default), ``torch.bfloat16``, ``torch.float16``, their names,
                or ``"auto"`` for the dtype the weights are stored in. ``torch_dtype`` is an alias.
            device: where to put the model (default CPU).
            ignore_mismatched_sizes: re-initialise weights whose shape differs (e.g. a classifier
                with another number of labels) instead of raising.
            output_loading_info: also return a :class:`LoadingInfo`.
            attn_implementation: ``"sdpa"`` (default), ``"eager"`` or ``"packed"`` (attention
                and feed-forward on the real tokens only, with one fused QKV projection; same
                weights, same outputs, zeros at padding positions); see
                ``AlbertPreTrainedModel.set_attn_implementation``.
            fast: ``attn_implementation="packed"``.
            verify_checksums: check each safetensors file against the sha256 albert recorded
                when it wrote it (files from elsewhere have none and load as they are). None
                (default): on, unless the environment says ``ALBERT_VERIFY_CHECKSUMS=0``; False
                skips it (it reads every byte once more, at the speed of sha256).
            precision: ``"exact"`` (default: ``dtype`` as given), ``"fast"`` (bfloat16 where the
                device multiplies it natively: a GPU, or a CPU with AVX512_BF16/AMX; else float32
                and a warning) or ``"int8"`` (the encoder's linear layers dynamically quantised;
                CPU only). Reduced precision is logged and never chosen without this argument;
                see :mod:`albert.precision`.
            **config_overrides: config fields to change, e.g. ``num_labels=3``.

        Returns:
            The model in eval mode (and the LoadingInfo when asked).

        Raises:
            ModelNotFoundError: no such folder or Hub model, or offline without a cached copy.
            CheckpointError: corrupt, damaged or unsafe weights, a tensor whose shape does not fit,
                or an encoder weight (or part of a head) the checkpoint lacks, naming it and the
                checkpoint's tensors the model does not have.
        """
        hub_kwargs = {
            "revision": revision, "cache_dir": cache_dir, "local_files_only": local_files_only, "token": token,
        }
        # Options first: a bad device or dtype is refused before any file is read.
        target_device = resolve_device(device) if device is not None else torch.device("cpu")
        target_dtype = resolve_dtype(dtype if dtype is not None else torch_dtype)
        precision = check_precision(precision)
        check_dtype_for(precision, dtype if dtype is not None else torch_dtype)
        config = load_config(name_or_path, config, config_overrides, f"{cls.__name__}.from_pretrained()", **hub_kwargs)

        state: dict[str, torch.Tensor] = {}
        for path in _weights_files(name_or_path, hub_kwargs):
            state.update(load_weights_file(path, verify_checksums=verify_checksums))

        if isinstance(target_dtype, str):  # "auto", resolve_dtype's one string
            floats = [t.dtype for t in state.values() if t.is_floating_point()]
            target_dtype = floats[0] if floats else torch.float32
        with torch.device("meta"), _skipped_init():
            model = cls(config)
        model.to_empty(device=target_device)
        model.tie_weights()
        info = model._load_state(state, ignore_mismatched_sizes, str(name_or_path))
        model.tie_weights()
        model.to(dtype=target_dtype or torch.float32)
        model.eval()
        model.name_or_path = str(name_or_path)
        model.loading_info = info
        if fast and attn_implementation not in (None, "packed"):
            raise OptionError(f"fast=True is attn_implementation='packed'; it contradicts {attn_implementation!r}")
        if fast or attn_implementation is not None:
            model.set_attn_implementation(attn_implementation or "packed")
        apply_precision(model, precision)
        return cast(ModelT, (model, info)) if output_loading_info else model  # typed for the common call

    def _load_state(
        self, state: dict[str, torch.Tensor], ignore_mismatched_sizes: bool, where: str = "the checkpoint"
    ) -> LoadingInfo:
        """Copy checkpoint tensors into the (empty) parameters; initialise the rest, which may only
        be whole task heads (:meth:`LoadingInfo.refuse_incomplete`)."""
        params = dict(self.named_parameters())
        modules = dict(self.named_modules())
        ties = self.tied_weight_names()
        state = align_prefix(without_ignored(state), set(params) | set(ties), self.base_model_prefix)
        info = LoadingInfo()
        loaded: set[str] = set()
        for name, tensor in state.items():
            if name in ties:
                continue  # the shared tensor is loaded under its own name
            if name not in params:
                info.unexpected_keys.append(name)
                continue
            target = params[name]
            if target.shape != tensor.shape:
                info.mismatched_keys.append((name, tuple(tensor.shape), tuple(target.shape)))
                continue
            with torch.no_grad():
                target.copy_(tensor)
            loaded.add(name)
        if not ignore_mismatched_sizes:
            info.refuse_mismatches(type(self).__name__)
        # A checkpoint may carry only the alias of a tied weight (rare, but transformers allows it).
        for alias, source in ties.items():
            if source not in loaded and alias in state and state[alias].shape == params[source].shape:
                with torch.no_grad():
                    params[source].copy_(state[alias])
                loaded.add(source)
        mismatched = {key for key, *_ in info.mismatched_keys}
        info.missing_keys.extend(name for name in params if name not in loaded and name not in mismatched)
        info.refuse_incomplete(type(self).__name__, where, loaded)
        for name, parameter in params.items():
            if name not in loaded:
                module_name, _, attribute = name.rpartition(".")
                self.init_parameter(modules[module_name], attribute, parameter)
        info.report(type(self).__name__)
        return info

    def save_pretrained(
        self,
        save_directory: str | os.PathLike[str],
        *,
        tokenizer: Any = None,
        safe_serialization: bool = True,
        max_shard_size: int | str | None = None,
    ) -> Path:
        """Write config.json, the weights and the tokenizer files into ``save_directory``.

        Args:
            tokenizer: a tokenizer to save beside the weights; by default the tokenizer files of
                the folder the model was loaded from are copied, when it had them.
            safe_serialization: write model.safetensors (default) rather than pytorch_model.bin.
            max_shard_size: split the weights into shards of at most this many bytes (or "10MB",
                "2GB") with a transformers-style index, e.g. to fit file-size limits.

        Returns:
            The folder. It is written all-or-nothing (:func:`albert.atomic_files.atomic_folder`):
            built aside and swapped in whole, so a failed or killed save leaves the previous
            model as it was; files of the folder that the save does not replace (a README, say)
            are kept.

        Raises:
            FolderInUseError: another process is writing the folder.
            DiskFullError: the disk cannot hold the model (checked before writing, and while
                writing); OutputError: another I/O error. The folder is as it was.
            OptionError: the model was quantised (``precision="int8"``), which is for inference only.
        """
        if is_quantized(self):
            raise OptionError(
                "this model's encoder is quantised to int8 (precision='int8'), for inference only; save the "
                "float32 model (loaded with precision='exact') and quantise it again when loading"
            )
        config = self.config.copy()
        config.extra["architectures"] = [type(self).__name__]
        config.extra["torch_dtype"] = str(self.dtype).replace("torch.", "")
        ties = self.tied_weight_names()
        state = {
            name: tensor.detach().contiguous().cpu()
            for name, tensor in self.state_dict().items()
            if name not in ties
        }
        with atomic_folder(save_directory) as folder:
            with needing_space(folder / SAFE_WEIGHTS_NAME, sum(t.numel() * t.element_size() for t in state.values())):
                written = _write_weights(state, folder, safe_serialization, _parse_size(max_shard_size))
            complete_model_folder(folder, config, written, tokenizer, getattr(self, "name_or_path", None))
        return Path(save_directory)

    def num_parameters(self, only_trainable: bool = False, exclude_embeddings: bool = False) -> int:
        """Distinct parameters (shared ones counted once, as the paper counts them)."""
        total = 0
        for name, parameter in self.named_parameters():
            if only_trainable and not parameter.requires_grad:
                continue
            if exclude_embeddings and "embeddings." in name:
                continue
            total += parameter.numel()
        return total


@contextlib.contextmanager
def _skipped_init() -> Iterator[None]:
    """Make torch's layer initialisers no-ops while a model is built on the meta device.

    Initialising meta tensors does no work, but torch routes it through its reference
    implementations, which import the compiler stack (seconds of start-up for every CLI call).
    """
    names = [name for name in dir(torch.nn.init) if name.endswith("_") and not name.startswith("_")]
    saved = {name: getattr(torch.nn.init, name) for name in names}
    try:
        for name in names:
            setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for name, function in saved.items():
            setattr(torch.nn.init, name, function)


def _parse_size(size: int | str | None) -> int | None:
    if size is None or isinstance(size, int):
        return size
    text = size.strip().upper()
    for suffix, factor in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3), ("GIB", 2**30), ("MIB", 2**20), ("KIB", 2**10)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def _write_weights(state: dict[str, torch.Tensor], folder: Path, safe: bool, max_shard_size: int | None) -> set[str]:
    """Write the weights (one file, or shards and their index); returns the names written."""
    if not safe:
        write_torch_atomic(folder / PT_WEIGHTS_NAME, state)
        return {PT_WEIGHTS_NAME}
    shards: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if max_shard_size is not None and shards[-1] and size + nbytes > max_shard_size:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    if len(shards) == 1:
        write_atomic(folder / SAFE_WEIGHTS_NAME, lambda tmp: save_safetensors(state, tmp))
        return {SAFE_WEIGHTS_NAME}
    weight_map = {}
    for number, shard in enumerate(shards, start=1):
        shard_name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        write_atomic(folder / shard_name, functools.partial(save_safetensors, shard))
        weight_map.update({name: shard_name for name in shard})
    index = {
        "metadata": {"total_size": sum(t.numel() * t.element_size() for t in state.values())},
        "weight_map": dict(sorted(weight_map.items())),
    }
    write_text_atomic(folder / SAFE_WEIGHTS_INDEX_NAME, json.dumps(index, indent=2) + "\n")
    return {SAFE_WEIGHTS_INDEX_NAME, *set(weight_map.values())}


#: safetensors' name of each torch dtype (its header's ``dtype``), for the checksum of a file
#: about to be written.
_SAFETENSORS_DTYPES = {
    getattr(torch, name): code
    for name, code in (
        ("float64", "F64"), ("float32", "F32"), ("float16", "F16"), ("bfloat16", "BF16"), ("int64", "I64"),
        ("int32", "I32"), ("int16", "I16"), ("int8", "I8"), ("uint8", "U8"), ("bool", "BOOL"),
        ("uint16", "U16"), ("uint32", "U32"), ("uint64", "U64"), ("float8_e4m3fn", "F8_E4M3"),
        ("float8_e5m2", "F8_E5M2"),
    )
    if hasattr(torch, name)
}


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """``safetensors.torch.save_file`` with albert's metadata (:func:`safetensors_metadata`), its
    keys in a fixed order, so the same tensors always give the same bytes."""
    from safetensors.torch import save_file

    save_file(tensors, str(path), metadata=safetensors_metadata(tensors))
    sort_metadata(path)


def safetensors_metadata(tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    """The metadata of a safetensors file albert writes: ``format: pt`` (what transformers checks)
    and the sha256 of the tensors (:func:`~albert.checkpoint_files.tensors_sha256`), which loading
    verifies. ``tensors`` must be contiguous and on the CPU, as ``save_file`` takes them."""
    metadata = {"format": "pt"}
    entries = []
    for name, tensor in tensors.items():
        code = _SAFETENSORS_DTYPES.get(tensor.dtype)
        if code is None:  # a dtype this table does not know: the file is written without a checksum
            return metadata
        entries.append((name, code, tuple(tensor.shape), tensor.reshape(-1).view(torch.uint8).numpy()))
    metadata[CHECKSUM_KEY] = tensors_sha256(entries)
    return metadata
