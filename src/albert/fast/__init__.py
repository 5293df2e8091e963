"""Speed: the accelerators that wrap a model, and the switches users know.

The layers the packed model itself needs live in :mod:`albert.kernels` (padding, the registry of
attention kernels), which ``albert.modeling`` imports; nothing there imports what is here. What
is here wraps a model from outside: each accelerator is a back-end the model tries before its own
(``model.backends``; ``model.explain_backend(...)`` says which one answers a call and why the
others do not), or a switch on the model:

- :mod:`~albert.fast.models`: :func:`accelerate` / :func:`decelerate`, aliases of
  ``model.set_attn_implementation``.
- :mod:`~albert.fast.compile`: ``torch.compile`` of each layer's dense block where it pays.
- :mod:`~albert.fast.graphs`: CUDA graphs for small batches, where kernel launches dominate.
- :mod:`~albert.fast.onnx_export` / :mod:`~albert.fast.cpu`: the CPU deployment path (ONNX
  Runtime, optional int8), verified against torch; :mod:`~albert.fast.onnx_encoder` puts any
  model's encoder there behind the usual API (``use_onnx``, ``pipeline(..., onnx=True)``).
- :mod:`~albert.fast.padding` / :mod:`~albert.fast.attention`: the old names of
  :mod:`albert.kernels.padding` / :mod:`albert.kernels.attention`, kept for imports.

Length-bucketed batching lives with the pipelines (``albert.pipelines.base.length_sorted_batches``),
which group inputs of similar length whichever path runs the model.

Usage::

    from albert import AlbertModel
    model = AlbertModel.from_pretrained("albert-base-v2", dtype="bf16", device="cuda", attn_implementation="packed")
"""

from .attention import BACKENDS, choose_backend
from .graphs import drop_cuda_graphs, use_cuda_graphs
from .models import accelerate, decelerate, from_pretrained, is_accelerated
from .onnx_encoder import use_onnx, uses_onnx
from .padding import PackedLayout, pack, packed_layout, unpack

__all__ = [
    "BACKENDS",
    "PackedLayout",
    "accelerate",
    "choose_backend",
    "decelerate",
    "drop_cuda_graphs",
    "from_pretrained",
    "is_accelerated",
    "pack",
    "packed_layout",
    "unpack",
    "use_cuda_graphs",
    "use_onnx",
    "uses_onnx",
]
