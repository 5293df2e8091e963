"""``torch.compile`` where it pays: the dense part of each layer, on a GPU.

What is compiled is :meth:`albert.modeling.AlbertLayer.output_block` (output projection,
residuals, LayerNorms, the feed-forward block and its activation): inductor fuses the element-wise
work between the matrix multiplies, which is where an unpadded encoder at a small batch spends its
kernel launches. Attention stays outside the compiled region, so the kernel choice (and its
fallback) is not traced. Token counts vary from batch to batch, so the region is compiled with
dynamic shapes: one compilation, not one per batch.

On a CPU compiling is off unless asked: it costs a C++ build per shape class and, on the small
CPUs measured so far, eager unpadded PyTorch or ONNX Runtime were the better use of the time.
"""

from __future__ import annotations

import logging

import torch

from .models import ModelT, accelerate, base_of, is_accelerated

logger = logging.getLogger("albert")


def compile_fast(model: ModelT, *, mode: str | None = None, dynamic: bool = True, on_cpu: bool = False) -> ModelT:
    """Put ``model`` on the packed implementation (if it is not already) and compile its per-layer block.

    Args:
        model: an albert model (``AlbertModel`` or an ``AlbertFor*`` head).
        mode: ``torch.compile``'s mode, e.g. ``"max-autotune-no-cudagraphs"``.
        dynamic: compile for varying token counts (keep True: every batch has another count).
        on_cpu: compile even when the model is on a CPU (off by default; see the module notes).

    Returns:
        The same model. Compilation itself happens on the first forward pass.
    """
    if not is_accelerated(model):
        accelerate(model)
    base = base_of(model)
    if base.device.type == "cpu" and not on_cpu:
        logger.info("albert.fast: not compiling on CPU (pass on_cpu=True to compile anyway)")
        return model
    layer_class = type(base.encoder.shared_layers()[0])
    base.encoder.output_block = torch.compile(layer_class.output_block, dynamic=dynamic, mode=mode)
    return model


def is_compiled(model: torch.nn.Module) -> bool:
    """Whether :func:`compile_fast` compiled this model's layer block."""
    return is_accelerated(model) and base_of(model).encoder.output_block is not None
