"""Speed: the kernels and switches behind the model's packed implementation, and the CPU path.

Unpadding is part of the model (``AlbertModel.forward`` with ``attn_implementation="packed"``, as
MosaicBERT unpads inside its encoder and as transformers selects kernels). What it calls lives
here, one module a piece, and none of them imports the model:

- :mod:`~albert.fast.padding`: no compute on padding; the real tokens of a batch are packed
  into one run and every per-token layer sees only them.
- :mod:`~albert.fast.attention`: variable-length attention on the packed tokens, on the fastest
  kernel available (flash varlen, nested-tensor SDPA, FlexAttention), falling back to plain SDPA
  with a warning.
- :mod:`~albert.fast.models`: :func:`accelerate` / :func:`decelerate`, aliases of
  ``model.set_attn_implementation``.
- :mod:`~albert.fast.compile`: ``torch.compile`` of each layer's dense block where it pays.
- :mod:`~albert.fast.graphs`: CUDA graphs for small batches, where kernel launches dominate.
- :mod:`~albert.fast.onnx_export` / :mod:`~albert.fast.cpu`: the CPU deployment path (ONNX
  Runtime, optional int8), verified against torch; :mod:`~albert.fast.onnx_encoder` puts any
  model's encoder there behind the usual API (``use_onnx``, ``pipeline(..., onnx=True)``).

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
