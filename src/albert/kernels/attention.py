"""Variable-length self-attention over packed tokens: a registry of kernels, name -> kernel.

As transformers keeps its attention functions in ``ALL_ATTENTION_FUNCTIONS``, the kernels of the
``"packed"`` implementation live in :data:`ATTENTION_KERNELS`; ``set_attn_implementation("packed",
name)`` checks ``name`` against it and :meth:`AttentionKernels.register` adds one. The built-in
kernels, in the order ``"auto"`` considers them:

- ``"varlen"``: ``torch.nn.attention.varlen.varlen_attn`` (flash attention on packed tokens with
  ``cu_seqlens``; CUDA, fp16/bf16, no attention dropout). Dao, "FlashAttention-2" (2023).
- ``"nested"``: :func:`torch.nn.functional.scaled_dot_product_attention` on jagged nested tensors:
  SDPA's fused kernels, one ragged batch, any dtype, attention dropout supported.
- ``"flex"``: FlexAttention (Dong et al., 2024) with a block mask that keeps each token inside its
  own sequence; compiled on CUDA, eager (slow, for checking) elsewhere. Never chosen by ``"auto"``.
- ``"padded"``: plain SDPA on the batch re-padded to its longest *real* row, with a key mask. It
  runs everywhere, exports to ONNX, and is the CPU default: on CPU the packed projections and
  feed-forward are where the time goes, and SDPA's CPU kernel is fast on a short padded batch.

Each kernel says why it cannot run a call (:meth:`AttentionKernels.why_not`): its own limits
(device, dtype, head size, dropout) or the reason it failed earlier in this process. ``"auto"``
takes the first kernel without such a reason; a kernel asked for by name that has one warns and
runs ``"padded"``, as does a kernel that fails at run time (its reason is kept, so ``"auto"``
avoids it afterwards).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from ..errors import OptionError
from .padding import PackedLayout, from_slots, to_slots


class KernelQuery(NamedTuple):
    """What a kernel's limits are checked against: the device type, the dtype attention sees,
    the head size and the attention dropout of this call."""

    device_type: str
    dtype: torch.dtype
    head_dim: int
    dropout_p: float


#: (plan, qkv of shape (T, 3, N, D)) -> the context (T, N, D).
KernelFunction = Callable[["AttentionPlan", torch.Tensor], torch.Tensor]


def _no_limits(query: KernelQuery) -> str | None:
    return None


@dataclass(frozen=True)
class AttentionKernel:
    """One packed attention kernel.

    Attributes:
        name: what ``set_attn_implementation("packed", name)`` calls it.
        function: computes the context of one layer from its fused QKV (:data:`KernelFunction`).
        limits: why this kernel cannot run a call (None: it can).
        auto_devices: the device types ``"auto"`` picks it on (None: every device; empty: never).
        falls_back: a failure at run time warns and runs ``"padded"`` instead of raising.
        public: listed among the names users choose from.
    """

    name: str
    function: KernelFunction
    limits: Callable[[KernelQuery], str | None] = _no_limits
    auto_devices: tuple[str, ...] | None = ()
    falls_back: bool = True
    public: bool = True


class AttentionKernels:
    """The registry: kernels by name, in the order ``"auto"`` considers them, and the reason
    each one failed at run time in this process (if it did)."""

    def __init__(self) -> None:
        self._kernels: dict[str, AttentionKernel] = {}
        self._failures: dict[str, str] = {}

    def register(self, kernel: AttentionKernel) -> None:
        """Add ``kernel`` (or replace the one of the same name)."""
        if kernel.name == "auto":
            raise OptionError("'auto' is not a kernel but the choice among them; name the kernel otherwise")
        self._kernels[kernel.name] = kernel

    def remove(self, name: str) -> None:
        """Drop kernel ``name`` and its recorded failure (for kernels registered by users)."""
        self._kernels.pop(name, None)
        self._failures.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name == "auto" or name in self._kernels

    def __getitem__(self, name: str) -> AttentionKernel:
        try:
            return self._kernels[name]
        except KeyError:
            raise OptionError(f"unknown attention kernel {name!r}; choose one of: {', '.join(self.names())}") from None

    def names(self) -> tuple[str, ...]:
        """``"auto"`` and the public kernels' names."""
        return ("auto", *(name for name, kernel in self._kernels.items() if kernel.public))

    def check(self, name: str) -> str:
        """``name`` if it is ``"auto"`` or a registered kernel.

        Raises:
            OptionError: an unknown name, with the known ones.
        """
        if name not in self:
            raise OptionError(f"unknown packed attention kernel {name!r}; choose one of: {', '.join(self.names())}")
        return name

    def why_not(self, name: str, query: KernelQuery) -> str | None:
        """Why kernel ``name`` cannot run this call (its limits, or its earlier failure); None if it can."""
        failure = self._failures.get(name)
        if failure is not None:
            return f"it failed earlier in this process ({failure})"
        return self[name].limits(query)

    def choose(self, query: KernelQuery) -> str:
        """The kernel ``"auto"`` runs: the first that applies to the device and can run the call."""
        for name, kernel in self._kernels.items():
            applies = kernel.auto_devices is None or query.device_type in kernel.auto_devices
            if applies and self.why_not(name, query) is None:
                return name
        return "padded"

    def resolve(self, name: str, query: KernelQuery) -> tuple[str, str | None]:
        """The kernel that runs when ``name`` is asked for, and why ``name`` itself cannot (or None)."""
        if name == "auto":
            return self.choose(query), None
        reason = self.why_not(name, query)
        return ("padded", reason) if reason is not None else (name, None)

    def record_failure(self, name: str, reason: str) -> None:
        self._failures[name] = reason

    @contextmanager
    def failures_kept_as_they_were(self) -> Iterator[None]:
        """Forget the failures recorded inside the block (a kernel failing while a CUDA graph
        records is not broken for eager use)."""
        before = dict(self._failures)
        try:
            yield
        finally:
            self._failures = before


#: Every packed attention kernel, by name (see the module notes).
ATTENTION_KERNELS = AttentionKernels()


def varlen_kernel() -> Callable | None:
    """torch's flash varlen entry point, or None on a torch without it (before 2.10)."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


def _varlen_limits(query: KernelQuery) -> str | None:
    if varlen_kernel() is None:
        return "this torch has no torch.nn.attention.varlen.varlen_attn (torch 2.10 or later has)"
    if query.dropout_p > 0.0:
        return "it has no attention dropout"
    if query.device_type != "cuda":
        return f"it runs on CUDA only, not {query.device_type}"
    if query.dtype not in (torch.float16, torch.bfloat16):
        return f"flash attention takes float16 or bfloat16, not {query.dtype}"
    if query.head_dim % 8 or query.head_dim > 256:
        return f"flash attention takes a head size that is a multiple of 8 up to 256, not {query.head_dim}"
    return None


def choose_backend(device: torch.device, dtype: torch.dtype, head_dim: int, dropout_p: float) -> str:
    """The kernel ``"auto"`` uses for this device, dtype, head size and attention dropout."""
    return ATTENTION_KERNELS.choose(KernelQuery(device.type, dtype, head_dim, dropout_p))


class AttentionPlan:
    """Attention for one forward pass: whatever a kernel prepares per batch (nested offsets, a
    block mask) is built once here, in :attr:`prepared`, and reused by every layer.

    Call it with ``qkv`` of shape (T, 3, N, D) (the fused projection, viewed per head); it returns
    the context (T, N, D).
    """

    def __init__(self, layout: PackedLayout, backend: str, head_dim: int, dtype: torch.dtype, dropout_p: float):
        ATTENTION_KERNELS.check(backend)
        self.layout = layout
        self.dropout_p = dropout_p
        query = KernelQuery(layout.cu_seqlens.device.type, dtype, head_dim, dropout_p)
        name, reason = ATTENTION_KERNELS.resolve(backend, query)
        if reason is not None:
            warnings.warn(f"attention kernel {backend!r} cannot run here ({reason}); using 'padded'", stacklevel=3)
        self.kernel = ATTENTION_KERNELS[name]
        #: Per-batch state a kernel builds on its first layer and reuses (by the kernel's name).
        self.prepared: dict[str, Any] = {}

    @property
    def backend(self) -> str:
        """The name of the kernel this plan runs."""
        return self.kernel.name

    def __call__(self, qkv: torch.Tensor) -> torch.Tensor:
        try:
            return self.kernel.function(self, qkv)
        except (RuntimeError, NotImplementedError, TypeError) as error:  # TypeError: another torch's signature
            if not self.kernel.falls_back:
                raise
            reason = str(error).splitlines()[0]
            ATTENTION_KERNELS.record_failure(self.kernel.name, reason)
            warnings.warn(
                f"attention kernel {self.kernel.name!r} failed ({reason}); falling back to plain SDPA on a padded batch",
                stacklevel=2,
            )
            self.kernel = ATTENTION_KERNELS["padded"]
            return self.kernel.function(self, qkv)


def varlen_attention(plan: AttentionPlan, qkv: torch.Tensor) -> torch.Tensor:
    """Flash attention on the packed tokens, cut into sequences at ``cu_seqlens``."""
    layout = plan.layout
    query, key, value = qkv.unbind(1)  # each (T, N, D)
    kernel = varlen_kernel()
    assert kernel is not None  # the kernel's limits refuse a torch without it
    return kernel(query, key, value, layout.cu_seqlens, layout.cu_seqlens, layout.max_seqlen, layout.max_seqlen)


def nested_attention(plan: AttentionPlan, qkv: torch.Tensor) -> torch.Tensor:
    """SDPA on jagged nested tensors (one ragged batch)."""
    offsets = plan.prepared.get("nested")
    if offsets is None:
        offsets = plan.prepared["nested"] = plan.layout.cu_seqlens.long()

    def ragged(part: torch.Tensor) -> torch.Tensor:  # (T, N, D) -> (B, N, j, D)
        # SDPA wants each nested tensor's buffer contiguous; q, k, v are strided views of qkv.
        nested = torch.nested.nested_tensor_from_jagged(part.contiguous(), offsets=offsets, max_seqlen=plan.layout.max_seqlen)
        return nested.transpose(1, 2)

    with warnings.catch_warnings():
        # torch notes, once per process, that nested tensors are a prototype API.
        warnings.filterwarnings("ignore", message=".*nested tensors is in prototype.*")
        query, key, value = (ragged(part) for part in qkv.unbind(1))
        context = F.scaled_dot_product_attention(query, key, value, dropout_p=plan.dropout_p)
    return context.transpose(1, 2).values()


def flex_attention(plan: AttentionPlan, qkv: torch.Tensor) -> torch.Tensor:
    """FlexAttention with a block mask that keeps each token inside its own sequence."""
    from torch.nn.attention.flex_attention import create_block_mask
    from torch.nn.attention.flex_attention import flex_attention as eager_flex

    layout = plan.layout
    block_mask = plan.prepared.get("flex")
    if block_mask is None:
        sequence_of_token = torch.repeat_interleave(
            torch.arange(layout.batch_size, device=qkv.device), layout.seq_lengths.long(), output_size=layout.num_tokens
        )

        def same_sequence(batch, head, query_index, key_index):
            return sequence_of_token[query_index] == sequence_of_token[key_index]

        block_mask = plan.prepared["flex"] = create_block_mask(
            same_sequence, None, None, layout.num_tokens, layout.num_tokens, device=qkv.device
        )
    attend: Callable[..., Any] = _compiled_flex() if qkv.is_cuda else eager_flex  # type: ignore[assignment]
    query, key, value = (part.transpose(0, 1)[None] for part in qkv.unbind(1))  # (1, N, T, D)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*flex_attention.*")  # eager flex is for checking only
        context = attend(query, key, value, block_mask=block_mask)
    return context[0].transpose(0, 1)


def padded_attention(plan: AttentionPlan, qkv: torch.Tensor) -> torch.Tensor:
    """Plain SDPA on the batch re-padded to its longest real row, with a key mask."""
    layout = plan.layout
    slotted = to_slots(qkv, layout)  # (B, L, 3, N, D)
    query, key, value = slotted.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, N, L, D)
    mask = None if layout.is_dense else layout.key_mask[:, None, None, :]
    context = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=plan.dropout_p)
    return from_slots(context.transpose(1, 2), layout)  # (T, N, D)


_FLEX_COMPILED: Callable[..., Any] | None = None


def _compiled_flex() -> Callable[..., Any]:
    global _FLEX_COMPILED
    if _FLEX_COMPILED is None:
        from torch.nn.attention.flex_attention import flex_attention as eager_flex

        _FLEX_COMPILED = torch.compile(eager_flex, dynamic=True)
    return _FLEX_COMPILED


for _kernel in (
    AttentionKernel("varlen", varlen_attention, _varlen_limits, auto_devices=("cuda",)),
    AttentionKernel("nested", nested_attention, auto_devices=("cuda",)),
    AttentionKernel("flex", flex_attention),
    AttentionKernel("padded", padded_attention, auto_devices=None, falls_back=False),
    # The padded kernel on a layout built for tracing (ONNX export); internal.
    AttentionKernel("export", padded_attention, falls_back=False, public=False),
):
    ATTENTION_KERNELS.register(_kernel)

#: The names ``set_attn_implementation("packed", ...)`` accepts for the built-in kernels.
BACKENDS = ATTENTION_KERNELS.names()
