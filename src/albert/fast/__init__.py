"""Speed: the fast inference and training paths, switched on through the same public API.

What makes it fast (each piece in its own module):

- :mod:`~albert.fast.padding`: no compute on padding; the real tokens of a batch are packed
  into one run and every per-token layer sees only them.
- :mod:`~albert.fast.attention`: variable-length attention on the packed tokens, on the fastest
  kernel available (flash varlen, nested-tensor SDPA, FlexAttention), falling back to plain SDPA
  with a warning.
- :mod:`~albert.fast.encoder`: the encoder on packed tokens with one fused QKV projection, on the
  model's own parameters.
- :mod:`~albert.fast.models`: :func:`accelerate` switches a model over in place; the pretraining
  head scores the vocabulary at masked positions only.
- :mod:`~albert.fast.compile`: ``torch.compile`` where it pays.
- :mod:`~albert.fast.graphs`: CUDA graphs for small batches, where kernel launches dominate.

Length-bucketed batching lives with the pipelines (``albert.pipelines.base.length_sorted_batches``),
which group inputs of similar length whichever path runs the model.
- :mod:`~albert.fast.onnx_export` / :mod:`~albert.fast.cpu`: the CPU deployment path (ONNX
  Runtime, optional int8), verified against torch; :mod:`~albert.fast.onnx_encoder` puts any
  model's encoder there behind the usual API (``use_onnx``, ``pipeline(..., onnx=True)``).

Usage::

    from albert import AlbertModel
    from albert.fast import accelerate
    model = accelerate(AlbertModel.from_pretrained("albert-base-v2", dtype="bf16", device="cuda"))
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
