"""The layers the packed model needs, and nothing that wraps the model.

- :mod:`~albert.kernels.padding`: no compute on padding; the real tokens of a batch are packed
  into one run and every per-token layer sees only them (``PackedLayout``, ``pack``, ``unpack``).
- :mod:`~albert.kernels.attention`: the registry of variable-length attention kernels
  (``ATTENTION_KERNELS``: flash varlen, nested-tensor SDPA, FlexAttention, padded SDPA), each
  saying why it cannot run a call.

``albert.modeling`` imports these; nothing here imports the model. The accelerators that wrap a
model (ONNX Runtime, CUDA graphs, ``torch.compile``, ``accelerate``) live in :mod:`albert.fast`.
"""

from .attention import (
    ATTENTION_KERNELS,
    BACKENDS,
    AttentionKernel,
    AttentionKernels,
    AttentionPlan,
    KernelQuery,
)
from .padding import PackedLayout, pack, packed_layout, unpack

__all__ = [
    "ATTENTION_KERNELS",
    "BACKENDS",
    "AttentionKernel",
    "AttentionKernels",
    "AttentionPlan",
    "KernelQuery",
    "PackedLayout",
    "pack",
    "packed_layout",
    "unpack",
]
