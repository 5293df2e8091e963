"""Checkpoints for the Flax models: the same folders as the torch models, read and written
without torch.

A folder holds config.json and model.safetensors (or shards with an index) under transformers'
weight names (``albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight``), so one folder
loads in albert's torch models, in transformers and here. Tensors are read and written with
``safetensors.numpy``; the name of a Flax parameter is its path in the module tree with the leaf
renamed (``kernel``, stored transposed because torch's ``Linear.weight`` is (out, in); ``scale``
and ``embedding`` -> ``weight``).

What both frameworks share (file names, the shard index, the ``albert.`` prefix,
:class:`LoadingInfo` and its refusal of an incomplete encoder, the sha256 recorded in each file
albert writes) is :mod:`albert.checkpoint_files`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..atomic_files import atomic_folder, needing_space, write_atomic
from ..checkpoint_files import (
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
from ..config import AlbertConfig
from ..errors import OptionError
from ..hub import ModelNotFoundError, resolve_file

logger = logging.getLogger("albert")

#: The MLM decoder's names in torch checkpoints, and the weights they are tied to (never stored twice).
_TIED_ALIASES = {
    "predictions.decoder.weight": "{prefix}.embeddings.word_embeddings.weight",
    "predictions.decoder.bias": "predictions.bias",
}

ModelT = TypeVar("ModelT", bound="PreTrainedMixin")


# -- names -------------------------------------------------------------------------------------

def checkpoint_name(path: tuple[Any, ...]) -> tuple[str, bool]:
    """The checkpoint name of the parameter at ``path`` in a Flax model, and whether it is stored
    transposed (a ``Linear`` kernel is (in, out) here and (out, in) in torch)."""
    *modules, leaf = (str(part) for part in path)
    if leaf == "kernel":
        return ".".join([*modules, "weight"]), True
    if leaf in ("scale", "embedding"):
        return ".".join([*modules, "weight"]), False
    return ".".join([*modules, leaf]), False


class Parameter(NamedTuple):
    """One parameter of a Flax model as a checkpoint sees it."""

    path: tuple[Any, ...]  # where it sits in the module tree
    variable: nnx.Variable[Any]  # the nnx.Param holding it
    transposed: bool  # stored transposed in the checkpoint (a Linear kernel)


def named_parameters(model: nnx.Module) -> dict[str, Parameter]:
    """Checkpoint name -> :class:`Parameter`, for every parameter of ``model``."""
    return {
        name: Parameter(path, variable, transposed)
        for path, variable in nnx.to_flat_state(nnx.state(model, nnx.Param))
        for name, transposed in [checkpoint_name(path)]
    }


def state_dict(model: nnx.Module) -> dict[str, np.ndarray]:
    """The model's parameters as host arrays under their checkpoint names, laid out as torch's."""
    return {
        name: np.asarray(parameter.variable.get_value().T if parameter.transposed else parameter.variable.get_value())
        for name, parameter in named_parameters(model).items()
    }


# -- reading -----------------------------------------------------------------------------------

def read_safetensors(path: str | os.PathLike[str], verify_checksums: bool | None = None) -> dict[str, np.ndarray]:
    """One safetensors file as name -> host array (bf16 through ``ml_dtypes``).

    Args:
        verify_checksums: check the file against the sha256 albert recorded in it (files
            written elsewhere have none); None follows ``ALBERT_VERIFY_CHECKSUMS``.

    Raises:
        CheckpointError: the file is truncated, corrupt or damaged (its checksum differs).
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a readable safetensors file ({error}); it may be truncated or corrupt: "
            "download or save it again"
        ) from None
    verify_checksum(path, verify_checksums)
    return tensors


def read_checkpoint(
    name_or_path: str | os.PathLike[str], verify_checksums: bool | None = None, **hub_kwargs: Any
) -> dict[str, np.ndarray]:
    """Every tensor of a model's safetensors weights (one file or shards), by name.

    Raises:
        ModelNotFoundError: no weights there.
        CheckpointError: a damaged file, or only a torch ``pytorch_model.bin``, which cannot be
            read without torch (and is never unpickled here).
    """
    path = resolve_file(name_or_path, SAFE_WEIGHTS_NAME, required=False, **hub_kwargs)
    if path is not None:
        return read_safetensors(path, verify_checksums)
    index = resolve_file(name_or_path, SAFE_WEIGHTS_INDEX_NAME, required=False, **hub_kwargs)
    if index is not None:
        state: dict[str, np.ndarray] = {}
        for shard in shard_names(index):
            shard_path = resolve_file(name_or_path, shard, **hub_kwargs)
            state.update(read_safetensors(shard_path, verify_checksums))
        return state
    for torch_name in (PT_WEIGHTS_NAME, PT_WEIGHTS_INDEX_NAME):
        if resolve_file(name_or_path, torch_name, required=False, **hub_kwargs) is not None:
            raise CheckpointError(
                f"'{name_or_path}' holds only {torch_name}, a torch pickle the Flax models do not read. Convert it "
                "once where torch is installed: albert.AlbertModel.from_pretrained(path).save_pretrained(path) "
                "writes model.safetensors beside it (use the head class the folder was trained with)."
            )
    raise ModelNotFoundError(f"found no weights for '{name_or_path}': expected {SAFE_WEIGHTS_NAME} (or shards)")


def load_state(
    model: nnx.Module,
    state: Mapping[str, np.ndarray],
    initialize: Callable[[Parameter], None],
    prefix: str = "albert",
    ignore_mismatched_sizes: bool = False,
    where: str = "the checkpoint",
) -> LoadingInfo:
    """Copy checkpoint tensors into ``model``'s parameters (cast to each parameter's dtype) and
    give every parameter the checkpoint lacks (or, with ``ignore_mismatched_sizes``, has in
    another shape) its initial value through ``initialize``; ``model`` may be abstract
    (``nnx.eval_shape``), as ``from_pretrained`` builds it.

    Raises:
        CheckpointError: a tensor whose shape does not fit, unless ``ignore_mismatched_sizes``; an
            encoder weight (or part of a head) that ``state`` lacks (``where`` names it).
    """
    params = named_parameters(model)
    ties = {alias: source.format(prefix=prefix) for alias, source in _TIED_ALIASES.items()}
    ties = {alias: source for alias, source in ties.items() if source in params}
    state = align_prefix(without_ignored(dict(state)), set(params) | set(ties), prefix)
    # A checkpoint may carry a tied weight only under its alias (transformers allows it).
    for alias, source in ties.items():
        if alias in state and source not in state:
            state[source] = state[alias]
    info, loaded = LoadingInfo(), set()
    for name, tensor in state.items():
        if name in ties:
            continue
        if name not in params:
            info.unexpected_keys.append(name)
            continue
        parameter = params[name]
        wanted = tuple(parameter.variable.get_value().shape)
        value = tensor.T if parameter.transposed else tensor
        if tuple(value.shape) != wanted:
            info.mismatched_keys.append((name, tuple(tensor.shape), wanted[::-1] if parameter.transposed else wanted))
            continue
        parameter.variable.set_value(jnp.asarray(value, dtype=parameter.variable.get_value().dtype))
        loaded.add(name)
    if not ignore_mismatched_sizes:
        info.refuse_mismatches(type(model).__name__)
    mismatched = {name for name, *_ in info.mismatched_keys}
    info.missing_keys.extend(name for name in params if name not in loaded and name not in mismatched)
    info.refuse_incomplete(type(model).__name__, where, loaded)
    for name, parameter in params.items():
        if name not in loaded:
            initialize(parameter)
    info.report(type(model).__name__)
    return info


def resolve_dtype(dtype: Any) -> jnp.dtype:
    """A JAX dtype from a dtype or its name (``"bf16"``, ``"bfloat16"``, ``"float32"`` ...)."""
    if isinstance(dtype, str):
        dtype = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32"}.get(dtype, dtype)
    try:
        resolved = jnp.dtype(dtype)
    except TypeError:
        raise OptionError(f"unknown dtype {dtype!r}; use jnp.float32, jnp.bfloat16 or jnp.float16") from None
    if not jnp.issubdtype(resolved, jnp.floating):
        raise OptionError(f"the model's dtype must be a floating point type, got {resolved}")
    return resolved


# -- the mixin ---------------------------------------------------------------------------------

if TYPE_CHECKING:  # the mixin is only ever mixed into nnx.Module classes: let the checker see one
    _ModuleBase = nnx.Module
else:
    _ModuleBase = object


class PreTrainedMixin(_ModuleBase):
    """``from_pretrained`` / ``save_pretrained`` for a Flax model class built as
    ``cls(config, rngs=..., dtype=..., param_dtype=...)`` with a ``config``."""

    base_model_prefix = "albert"
    config: AlbertConfig
    name_or_path: str  # set by from_pretrained (a model built directly has none)

    if TYPE_CHECKING:  # given by the model classes (albert.flax.modeling)
        def init_parameter(self, path: tuple[Any, ...], variable: nnx.Variable[Any], key: Any) -> None: ...

    @classmethod
    def from_pretrained(
        cls: type[ModelT],
        name_or_path: str | os.PathLike[str],
        *,
        config: AlbertConfig | None = None,
        dtype: Any = jnp.float32,
        param_dtype: Any = None,
        rngs: nnx.Rngs | None = None,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        ignore_mismatched_sizes: bool = False,
        output_loading_info: bool = False,
        verify_checksums: bool | None = None,
        **config_overrides: Any,
    ) -> ModelT:
        """Load a folder written by ``save_pretrained`` (albert's torch or Flax models, or
        transformers), a shipped model (``"albert-small-en"``) or a Hub id. The checkpoint must
        hold every weight of the encoder; only a task head may be missing (newly initialised).

        Args:
            config: use this config instead of the checkpoint's config.json.
            dtype: the dtype of the computation (``jnp.bfloat16`` for bf16 activations).
            param_dtype: the dtype the weights are kept in; by default ``dtype``, so
                ``dtype=jnp.bfloat16`` alone gives a bf16 model as in torch. Pass
                ``param_dtype=jnp.float32`` with a bf16 ``dtype`` for mixed precision training.
            rngs: random streams for weights the checkpoint lacks (a new classifier) and for
                dropout in training (default ``nnx.Rngs(0)``).
            ignore_mismatched_sizes: re-initialise weights whose shape differs instead of raising.
            output_loading_info: also return a :class:`LoadingInfo`.
            verify_checksums: check each file against the sha256 albert recorded when it wrote
                it (files from elsewhere have none); None (default): on, unless
                ``ALBERT_VERIFY_CHECKSUMS=0``.
            **config_overrides: config fields to change, e.g. ``num_labels=3``.

        Returns:
            The model in eval mode (dropout off; ``model.train()`` turns it on), and the
            LoadingInfo when asked.

        Raises:
            ModelNotFoundError: no such folder or Hub model, or offline without a cached copy.
            CheckpointError: corrupt or damaged weights, only a torch .bin, a tensor whose shape
                does not fit, or an encoder weight (or part of a head) the checkpoint lacks.
        """
        hub_kwargs = {"revision": revision, "cache_dir": cache_dir, "local_files_only": local_files_only, "token": token}
        config = load_config(name_or_path, config, config_overrides, f"{cls.__name__}.from_pretrained()", **hub_kwargs)
        state = read_checkpoint(name_or_path, verify_checksums, **hub_kwargs)
        compute = resolve_dtype(dtype)
        storage = resolve_dtype(param_dtype or compute)
        rngs = rngs if rngs is not None else nnx.Rngs(0)
        # Built abstract (shapes only, as torch builds on the meta device): the random
        # initialisation of weights about to be overwritten would cost more than the loading.
        model = nnx.eval_shape(lambda: cls(config, rngs=nnx.Rngs(0), dtype=compute, param_dtype=storage))  # type: ignore[call-arg]
        for _, variable in nnx.to_flat_state(nnx.state(model, nnx.RngState)):  # the dropout streams
            variable.set_value(rngs.dropout() if isinstance(variable, nnx.RngKey) else jnp.zeros((), jnp.uint32))
        info = load_state(
            model, state, lambda parameter: model.init_parameter(parameter.path, parameter.variable, rngs.params()),
            cls.base_model_prefix, ignore_mismatched_sizes, str(name_or_path),
        )
        model.eval()
        model.name_or_path = str(name_or_path)
        return (model, info) if output_loading_info else model  # type: ignore[return-value]

    def save_pretrained(self, save_directory: str | os.PathLike[str], *, tokenizer: Any = None) -> Path:
        """Write config.json, model.safetensors (torch's layout and names, so albert's torch
        models and transformers load it) and the tokenizer files into ``save_directory``.

        Args:
            tokenizer: a tokenizer to save beside the weights; by default the tokenizer files of
                the folder the model was loaded from are copied, when it had them.

        Returns:
            The folder, written all-or-nothing as the torch models write it
            (:func:`albert.atomic_files.atomic_folder`): a failed or killed save leaves the
            previous model as it was.

        Raises:
            FolderInUseError: another process is writing the folder.
            DiskFullError, OutputError: a write failed; the folder is as it was.
        """
        tensors = state_dict(self)
        config = self.config.copy()
        config.extra["architectures"] = [type(self).__name__.removeprefix("Flax")]
        config.extra["torch_dtype"] = str(next(iter(tensors.values())).dtype)
        with atomic_folder(save_directory) as folder:
            with needing_space(folder / SAFE_WEIGHTS_NAME, sum(int(tensor.nbytes) for tensor in tensors.values())):
                write_atomic(folder / SAFE_WEIGHTS_NAME, lambda tmp: save_safetensors(tensors, tmp))
            complete_model_folder(folder, config, {SAFE_WEIGHTS_NAME}, tokenizer, getattr(self, "name_or_path", None))
        return Path(save_directory)

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Distinct parameters (shared layers and the tied decoder counted once, as the paper counts them)."""
        return sum(
            int(np.prod(parameter.variable.get_value().shape))
            for name, parameter in named_parameters(self).items()
            if not (exclude_embeddings and "embeddings." in name)
        )


#: safetensors' name of each numpy dtype (its header's ``dtype``; bfloat16 is ``ml_dtypes``').
_SAFETENSORS_DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64", "int32": "I32",
    "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL", "uint16": "U16", "uint32": "U32", "uint64": "U64",
    "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2",
}  # fmt: skip


def save_safetensors(tensors: Mapping[str, np.ndarray], path: str | os.PathLike[str]) -> None:
    """``safetensors.numpy.save_file`` with albert's metadata (:func:`safetensors_metadata`), its
    keys in a fixed order, so the same tensors always give the same bytes."""
    from safetensors.numpy import save_file

    save_file(dict(tensors), str(path), metadata=safetensors_metadata(tensors))
    sort_metadata(path)


def safetensors_metadata(tensors: Mapping[str, np.ndarray]) -> dict[str, str]:
    """The metadata of a safetensors file albert writes: ``format: pt`` (the layout is torch's,
    which is what transformers checks the format for) and the sha256 of the tensors
    (:func:`~albert.checkpoint_files.tensors_sha256`, the torch writer's digest too)."""
    metadata = {"format": "pt"}
    entries = []
    for name, array in tensors.items():
        code = _SAFETENSORS_DTYPES.get(array.dtype.name)
        if code is None:  # a dtype this table does not know: the file is written without a checksum
            return metadata
        flat = np.ascontiguousarray(array).reshape(-1)
        entries.append((name, code, array.shape, flat.view(np.uint8)))
    metadata[CHECKSUM_KEY] = tensors_sha256(entries)
    return metadata
