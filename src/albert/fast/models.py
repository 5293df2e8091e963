"""The switches users already know, kept as thin aliases of the model's own setting.

Unpadding is an attention implementation of the model itself
(``model.set_attn_implementation("packed")``, or ``from_pretrained(..., attn_implementation=
"packed")``): ``AlbertModel.forward`` packs the real tokens, runs every layer on them and unpacks
the result. These functions switch it on and off, and say whether it is on.

Differences from ``"sdpa"``, by design:
- ``last_hidden_state`` / ``hidden_states`` / MLM ``logits`` hold zeros at padding positions
  (the padded path fills them with values no one should read).
- ``AlbertForPreTraining`` given ``labels`` returns ``prediction_logits`` of shape (M, V) for the
  M positions whose label is not -100, row by row, not (B, S, V): the vocabulary projection is
  most of pretraining's time and memory, and only those positions enter the loss.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import torch

from ..backends import default_backends
from ..errors import OptionTypeError

ModelT = TypeVar("ModelT", bound=torch.nn.Module)


def base_of(model: torch.nn.Module) -> Any:
    """The ``AlbertModel`` of an albert model (the model itself for the bare encoder).

    Raises:
        OptionTypeError: not an albert model.
    """
    base = getattr(model, "base_model", None)
    if base is None or not hasattr(base, "set_attn_implementation"):
        raise OptionTypeError(
            f"expected an albert model (AlbertModel or one of the AlbertFor* heads), got {type(model).__name__}"
        )
    return base


def accelerate(model: ModelT, attention_backend: str = "auto") -> ModelT:
    """``model.set_attn_implementation("packed", attention_backend)``; returns the model.

    Args:
        model: an ``AlbertModel`` or any ``AlbertFor*`` head.
        attention_backend: ``"auto"`` (the fastest kernel for the device and dtype), or one of
            ``"varlen"``, ``"nested"``, ``"flex"``, ``"padded"`` (see :mod:`albert.kernels.attention`).

    Raises:
        OptionTypeError: ``model`` is not an albert model.
        OptionError: unknown ``attention_backend``.
    """
    base_of(model).set_attn_implementation("packed", attention_backend)
    return model


def decelerate(model: ModelT) -> ModelT:
    """Back to ``"sdpa"`` on the padded batch, without compiled layers, CUDA graphs or an ONNX
    encoder (the model's back-ends as a new model has them); returns the model."""
    base = base_of(model)
    base.set_attn_implementation("sdpa")
    base.encoder.output_block = None
    base.backends = default_backends()
    return model


def is_accelerated(model: torch.nn.Module) -> bool:
    """Whether the model runs the packed implementation."""
    try:
        return base_of(model).attn_implementation == "packed"
    except TypeError:
        return False


def from_pretrained(
    model_class: type[ModelT], name_or_path: str | os.PathLike, *, attention_backend: str = "auto", **kwargs: Any
) -> ModelT:
    """``model_class.from_pretrained(name_or_path, **kwargs)`` on the packed implementation.

    Example: ``albert.fast.from_pretrained(AlbertModel, "albert-base-v2", dtype="bf16", device="cuda")``.
    """
    loaded = model_class.from_pretrained(name_or_path, **kwargs)  # type: ignore[attr-defined]
    if isinstance(loaded, tuple):  # output_loading_info=True
        return (accelerate(loaded[0], attention_backend), *loaded[1:])  # type: ignore[return-value]
    return accelerate(loaded, attention_backend)
