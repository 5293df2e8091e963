"""Variable-length self-attention over packed tokens, on the fastest kernel this machine has.

Kernels, fastest first where they apply:

- ``"varlen"``: ``torch.nn.attention.varlen.varlen_attn`` (flash attention on packed tokens with
  ``cu_seqlens``; CUDA, fp16/bf16, no attention dropout). Dao, "FlashAttention-2" (2023).
- ``"nested"``: :func:`torch.nn.functional.scaled_dot_product_attention` on jagged nested tensors:
  SDPA's fused kernels, one ragged batch, any dtype, attention dropout supported.
- ``"flex"``: FlexAttention (Dong et al., 2024) with a block mask that keeps each token inside its
  own sequence; compiled on CUDA, eager (slow, for checking) elsewhere.
- ``"padded"``: plain SDPA on the batch re-padded to its longest *real* row, with a key mask. It
  runs everywhere, exports to ONNX, and is the CPU default: on CPU the packed projections and
  feed-forward are where the time goes, and SDPA's CPU kernel is fast on a short padded batch.

``"auto"`` picks per device and dtype. When a kernel fails at run time (an old GPU, a head size
the kernel lacks) the plan warns once and falls back to ``"padded"``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..errors import OptionError
from .padding import PackedLayout, from_slots, to_slots

BACKENDS = ("auto", "varlen", "nested", "flex", "padded")
#: ``"export"``: the padded kernel on a layout built for tracing (ONNX export); internal.
_INTERNAL_BACKENDS = ("export",)

#: Kernels that failed once in this process; ``auto`` avoids them afterwards.
_BROKEN: set[str] = set()


def varlen_kernel() -> Callable | None:
    """torch's flash varlen entry point, or None on a torch without it (before 2.10)."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


def choose_backend(device: torch.device, dtype: torch.dtype, head_dim: int, dropout_p: float) -> str:
    """The kernel ``"auto"`` uses for this device, dtype, head size and attention dropout."""
    if device.type == "cuda":
        flash_ok = dtype in (torch.float16, torch.bfloat16) and head_dim % 8 == 0 and head_dim <= 256
        if flash_ok and dropout_p == 0.0 and varlen_kernel() is not None and "varlen" not in _BROKEN:
            return "varlen"
        if "nested" not in _BROKEN:
            return "nested"
    return "padded"


class AttentionPlan:
    """Attention for one forward pass: whatever a kernel prepares per batch (nested offsets, a
    block mask) is built once here and reused by every layer.

    Call it with ``qkv`` of shape (T, 3, N, D) (the fused projection, viewed per head); it returns
    the context (T, N, D).
    """

    def __init__(self, layout: PackedLayout, backend: str, head_dim: int, dtype: torch.dtype, dropout_p: float):
        if backend not in BACKENDS + _INTERNAL_BACKENDS:
            raise OptionError(f"unknown attention backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
        self.layout = layout
        self.dropout_p = dropout_p
        device = layout.cu_seqlens.device
        if backend == "auto":
            backend = choose_backend(device, dtype, head_dim, dropout_p)
        elif backend == "varlen" and (varlen_kernel() is None or dropout_p > 0.0):
            reason = "this torch has no varlen_attn" if varlen_kernel() is None else "it has no attention dropout"
            warnings.warn(f"attention backend 'varlen' unavailable ({reason}); using 'padded'", stacklevel=3)
            backend = "padded"
        self.backend = backend
        self._block_mask = None
        self._offsets = layout.cu_seqlens.long() if backend == "nested" else None

    def __call__(self, qkv: torch.Tensor) -> torch.Tensor:
        try:
            return self._run(self.backend, qkv)
        except (RuntimeError, NotImplementedError, TypeError) as error:  # TypeError: another torch's signature
            if self.backend in ("padded", "export"):
                raise
            _BROKEN.add(self.backend)
            warnings.warn(
                f"attention kernel {self.backend!r} failed ({str(error).splitlines()[0]}); "
                "falling back to plain SDPA on a padded batch",
                stacklevel=2,
            )
            self.backend = "padded"
            return self._run("padded", qkv)

    def _run(self, backend: str, qkv: torch.Tensor) -> torch.Tensor:
        if backend == "varlen":
            return self._varlen(qkv)
        if backend == "nested":
            return self._nested(qkv)
        if backend == "flex":
            return self._flex(qkv)
        return self._padded(qkv)

    def _varlen(self, qkv: torch.Tensor) -> torch.Tensor:
        layout = self.layout
        query, key, value = qkv.unbind(1)  # each (T, N, D)
        kernel = varlen_kernel()
        return kernel(query, key, value, layout.cu_seqlens, layout.cu_seqlens, layout.max_seqlen, layout.max_seqlen)

    def _nested(self, qkv: torch.Tensor) -> torch.Tensor:
        def ragged(part: torch.Tensor) -> torch.Tensor:  # (T, N, D) -> (B, N, j, D)
            # SDPA wants each nested tensor's buffer contiguous; q, k, v are strided views of qkv.
            nested = torch.nested.nested_tensor_from_jagged(
                part.contiguous(), offsets=self._offsets, max_seqlen=self.layout.max_seqlen
            )
            return nested.transpose(1, 2)

        with warnings.catch_warnings():
            # torch notes, once per process, that nested tensors are a prototype API.
            warnings.filterwarnings("ignore", message=".*nested tensors is in prototype.*")
            query, key, value = (ragged(part) for part in qkv.unbind(1))
            context = F.scaled_dot_product_attention(query, key, value, dropout_p=self.dropout_p)
        return context.transpose(1, 2).values()

    def _flex(self, qkv: torch.Tensor) -> torch.Tensor:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        layout = self.layout
        if self._block_mask is None:
            sequence_of_token = torch.repeat_interleave(
                torch.arange(layout.batch_size, device=qkv.device), layout.seq_lengths.long(), output_size=layout.num_tokens
            )

            def same_sequence(batch, head, query_index, key_index):
                return sequence_of_token[query_index] == sequence_of_token[key_index]

            self._block_mask = create_block_mask(
                same_sequence, None, None, layout.num_tokens, layout.num_tokens, device=qkv.device
            )
        attend = _compiled_flex() if qkv.is_cuda else flex_attention
        query, key, value = (part.transpose(0, 1)[None] for part in qkv.unbind(1))  # (1, N, T, D)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*flex_attention.*")  # eager flex is for checking only
            context = attend(query, key, value, block_mask=self._block_mask)
        return context[0].transpose(0, 1)

    def _padded(self, qkv: torch.Tensor) -> torch.Tensor:
        layout = self.layout
        slotted = to_slots(qkv, layout)  # (B, L, 3, N, D)
        query, key, value = slotted.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, N, L, D)
        mask = None if layout.is_dense else layout.key_mask[:, None, None, :]
        context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=self.dropout_p)
        return from_slots(context.transpose(1, 2), layout)  # (T, N, D)


_FLEX_COMPILED: Callable | None = None


def _compiled_flex() -> Callable:
    global _FLEX_COMPILED
    if _FLEX_COMPILED is None:
        from torch.nn.attention.flex_attention import flex_attention

        _FLEX_COMPILED = torch.compile(flex_attention, dynamic=True)
    return _FLEX_COMPILED
