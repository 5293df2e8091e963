"""How ``AlbertModel.forward`` picks the code that answers a call.

A call is described once (:class:`EncoderCall`: what was passed, what is asked for, how the model
is set, and, read in one host sync when a back-end needs them, the real lengths in the mask).
The model holds its back-ends as an ordered list (``AlbertModel.backends``); ``forward`` runs the
first whose :meth:`EncoderBackend.supports` gives no reason against the call. The list starts as
``[PackedBackend(), PaddedBackend()]``: the packed encoder when ``attn_implementation="packed"``
and the call allows it, else the padded batch, which answers every call. Accelerators put theirs
in front (:func:`albert.fast.onnx_encoder.use_onnx`, :func:`albert.fast.graphs.use_cuda_graphs`).
``AlbertModel.explain_backend(...)`` (or the ``albert`` logger at DEBUG) says which one runs a
call and why the ones before it do not.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

import torch

from .kernels.attention import ATTENTION_KERNELS, KernelQuery
from .kernels.padding import PackedLayout, layout_from_lengths, packed_layout, traceable_layout
from .outputs import BaseModelOutputWithPooling


@dataclass(frozen=True)
class SequenceFacts:
    """The real tokens of a batch, as a (B, S) 0/1 mask gives them.

    Attributes:
        keep: (B, S) bool, True at real tokens (None: no mask, every token is real).
        seq_lengths: (B,) int32 real tokens per row (None without a mask).
        any_real: some row has a real token.
        starts_real: every row starts with a real token (right padding, as tokenizers give).
        max_seqlen, num_tokens: the longest row and the real tokens in all, on the host.
    """

    keep: torch.Tensor | None
    seq_lengths: torch.Tensor | None
    any_real: bool
    starts_real: bool
    max_seqlen: int
    num_tokens: int


@dataclass(frozen=True)
class EncoderCall:
    """One forward call of ``AlbertModel``, described once for every back-end to decide on.

    Built by ``AlbertModel.describe_call`` without reading any value on the host;
    :attr:`facts` reads the mask's lengths in one host sync the first time a back-end asks,
    and :attr:`layout` packs from them, so no call syncs more than once.
    """

    input_ids: torch.Tensor | None
    attention_mask: torch.Tensor | None
    token_type_ids: torch.Tensor | None
    position_ids: torch.Tensor | None
    inputs_embeds: torch.Tensor | None
    output_attentions: bool
    output_hidden_states: bool
    batch_size: int
    seq_len: int
    device: torch.device
    #: The dtype attention computes in: autocast's when autocast is on for the device, else the model's.
    dtype: torch.dtype
    attn_implementation: str
    packed_kernel: str
    head_dim: int
    #: The attention dropout probability that applies (0.0 in eval mode).
    attention_dropout: float
    training: bool
    grad_enabled: bool
    #: Gradients are enabled and some parameter wants them.
    needs_grad: bool
    has_pooler: bool
    relative_positions: bool

    @property
    def pair_mask(self) -> bool:
        """The mask is not a (B, S) mask over keys (a (B, S, S) mask over query-key pairs, say)."""
        mask = self.attention_mask
        return mask is not None and tuple(mask.shape) != (self.batch_size, self.seq_len)

    @property
    def kernel_query(self) -> KernelQuery:
        """What the attention kernels' limits are checked against for this call."""
        return KernelQuery(self.device.type, self.dtype, self.head_dim, self.attention_dropout)

    @cached_property
    def facts(self) -> SequenceFacts:
        """The real lengths of a (B, S) mask, read in this call's one host sync."""
        mask = self.attention_mask
        if mask is None or self.pair_mask:
            full = self.batch_size * self.seq_len
            return SequenceFacts(None, None, True, True, self.seq_len, full)
        keep = mask.to(device=self.device, dtype=torch.bool)
        seq_lengths = keep.sum(dim=1, dtype=torch.int32)  # (B,)
        if keep.numel() == 0:
            return SequenceFacts(keep, seq_lengths, False, True, 0, 0)
        read = torch.stack([keep.any(), keep[:, 0].all(), seq_lengths.max(), seq_lengths.sum()]).tolist()
        any_real, starts_real, max_seqlen, num_tokens = read  # the one host sync
        return SequenceFacts(keep, seq_lengths, bool(any_real), bool(starts_real), int(max_seqlen), int(num_tokens))

    @cached_property
    def layout(self) -> PackedLayout:
        """Where the real tokens sit once packed. For the ``"export"`` kernel it is built without
        reading the data (a traced graph must hold for every batch), assuming what tokenizers
        give: right padding and a real token first in every row."""
        if self.packed_kernel == "export":
            mask = self.attention_mask
            if mask is None:
                mask = torch.ones(self.batch_size, self.seq_len, dtype=torch.long, device=self.device)
            return traceable_layout(mask)
        facts = self.facts
        if facts.keep is None or facts.seq_lengths is None:
            return packed_layout(None, self.batch_size, self.seq_len, self.device)
        return layout_from_lengths(facts.keep, facts.seq_lengths, facts.max_seqlen, facts.num_tokens)


class EncodingModel(Protocol):
    """What a back-end reads of the model it answers for: ``AlbertModel`` is one (mypy checks it
    where the model hands itself to its back-ends). Declared here, so that the model imports its
    back-ends and nothing here imports the model back."""

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the model's weights."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """The model's weights (``torch.nn.Module.parameters``)."""
        ...

    def encode_padded(self, call: EncoderCall) -> BaseModelOutputWithPooling:
        """The reference path: every layer on the padded (B, S) batch."""
        ...

    def pack_inputs(self, call: EncoderCall) -> PackedTokens:
        """The call's inputs at its real tokens only, laid out as ``call.layout``."""
        ...

    def unpack_outputs(
        self, hidden: torch.Tensor, all_hidden: tuple[torch.Tensor, ...] | None, layout: PackedLayout
    ) -> BaseModelOutputWithPooling:
        """Packed (T, H) states back to the padded batch, with the pooled [CLS]."""
        ...

    def encode_tokens(
        self,
        input_ids: torch.Tensor | None,
        token_type_ids: torch.Tensor,
        position_ids: torch.Tensor,
        layout: PackedLayout,
        kernel: str,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """The encoder on packed tokens: the final (T, H) states and, when asked, every layer's."""
        ...


class EncoderBackend(ABC):
    """One way to answer a forward call; the model tries its back-ends in order."""

    #: Shown by ``explain_backend`` and the debug log, and how ``AlbertModel.backend_named`` finds it.
    name: str = ""

    @abstractmethod
    def supports(self, call: EncoderCall) -> str | None:
        """Why this back-end cannot answer ``call`` exactly, or None when it can."""

    @abstractmethod
    def run(self, model: EncodingModel, call: EncoderCall) -> BaseModelOutputWithPooling:
        """The model's outputs for ``call`` (only called when :meth:`supports` gave None)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class PaddedBackend(EncoderBackend):
    """The reference: SDPA (or, for ``"eager"``, explicit scores) on the padded batch. Answers
    every call, so it is always last."""

    name = "padded"

    def supports(self, call: EncoderCall) -> str | None:
        return None

    def run(self, model: EncodingModel, call: EncoderCall) -> BaseModelOutputWithPooling:
        return model.encode_padded(call)


@dataclass(frozen=True)
class PackedTokens:
    """A call's inputs packed to the real tokens: (T,) ids (or (T, E) embeddings), segments and
    positions, laid out as ``layout``."""

    input_ids: torch.Tensor | None
    token_type_ids: torch.Tensor
    position_ids: torch.Tensor
    inputs_embeds: torch.Tensor | None
    layout: PackedLayout


class PackedBackend(EncoderBackend):
    """``attn_implementation="packed"``: embeddings, projections and feed-forward on the real
    tokens only, attention on a kernel of :data:`~albert.kernels.attention.ATTENTION_KERNELS`
    (MosaicBERT's unpadding; Portes et al., 2023)."""

    name = "packed"

    def supports(self, call: EncoderCall) -> str | None:
        if call.attn_implementation != "packed":
            return f"attn_implementation is {call.attn_implementation!r}, not 'packed'"
        if call.output_attentions:
            return "attention probabilities are asked for, and the packed kernels do not compute them"
        if call.relative_positions:
            return "relative position embeddings need the padded batch"
        if call.pair_mask:
            return "the mask is over query-key pairs, not a (batch, sequence) mask"
        if call.packed_kernel == "export" or call.attention_mask is None:
            return None  # nothing to read in the data (and, traced for export, nothing may be read)
        facts = call.facts
        if not facts.any_real:
            return "the batch has no real token"
        if call.has_pooler and not facts.starts_real:
            return "a row starts with padding, and the pooler reads position 0"
        return None

    def run(self, model: EncodingModel, call: EncoderCall) -> BaseModelOutputWithPooling:
        tokens = model.pack_inputs(call)
        hidden, all_hidden = self.encode(model, tokens, call)
        return model.unpack_outputs(hidden, all_hidden, tokens.layout)

    def encode(
        self, model: EncodingModel, tokens: PackedTokens, call: EncoderCall
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """The final (T, H) states and, when asked, every layer's."""
        return model.encode_tokens(
            tokens.input_ids, tokens.token_type_ids, tokens.position_ids, tokens.layout, call.packed_kernel,
            tokens.inputs_embeds, call.output_hidden_states,
        )


def default_backends() -> list[EncoderBackend]:
    """A new model's back-ends: the packed encoder (when switched on), then the padded batch."""
    return [PackedBackend(), PaddedBackend()]


def resolved_kernel(call: EncoderCall) -> str:
    """The attention kernel the packed back-end will run for ``call`` (``"auto"`` and kernels that
    cannot run here resolved)."""
    return ATTENTION_KERNELS.resolve(call.packed_kernel, call.kernel_query)[0]
