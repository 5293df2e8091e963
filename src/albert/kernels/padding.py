"""Unpadding: move the real tokens of a padded (B, S) batch into one packed (T,) run and back.

Every per-token layer (embeddings, the projections, the feed-forward block) is then computed on
the T real tokens only; attention alone needs to know where one sequence ends and the next
begins, which :class:`PackedLayout` records as ``cu_seqlens`` (the layout flash-attention's
varlen kernels take). The idea is the one in mosaicml's ``bert_padding.py``; this is our own code.

Shapes: B batch, S padded length, T real tokens in the batch, L the longest real sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError


@dataclass(frozen=True)
class PackedLayout:
    """Where the real tokens of a padded (B, S) batch sit once packed.

    Attributes:
        indices: (T,) positions of the real tokens in the flattened (B * S) grid, row by row.
        cu_seqlens: (B + 1,) int32 cumulative lengths: row b is ``packed[cu_seqlens[b]:cu_seqlens[b + 1]]``.
        max_seqlen: L, the longest real sequence (a Python int, as the varlen kernels want it).
        batch_size, seq_len: B and S of the padded batch.
        slots: (T,) where each real token goes in a (B * L) grid in which every row is
            left-aligned; used by attention kernels that want a padded batch.
        key_mask: (B, L) True where that grid holds a real token.
        is_dense: no padding at all, so packing is a reshape.
    """

    indices: torch.Tensor
    cu_seqlens: torch.Tensor
    max_seqlen: int
    batch_size: int
    seq_len: int
    slots: torch.Tensor
    key_mask: torch.Tensor
    is_dense: bool

    @property
    def num_tokens(self) -> int:
        return int(self.indices.shape[0])

    @property
    def seq_lengths(self) -> torch.Tensor:
        """(B,) real tokens per row."""
        return self.cu_seqlens[1:] - self.cu_seqlens[:-1]


def packed_layout(
    attention_mask: torch.Tensor | None, batch_size: int, seq_len: int, device: torch.device | str
) -> PackedLayout:
    """The layout of a batch from its (B, S) 0/1 padding mask (None: every token is real).

    Any 0/1 pattern works (right or left padding, holes): the kept tokens of a row stay in their
    order and keep their original position ids, which are looked up before packing.

    Raises:
        InputError: the mask is not (B, S).
    """
    device = torch.device(device)
    if attention_mask is None:
        return _dense_layout(batch_size, seq_len, device)
    if attention_mask.shape != (batch_size, seq_len):
        raise InputError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but the batch is "
            f"({batch_size}, {seq_len}); pass a (batch, sequence) 0/1 mask"
        )
    keep = attention_mask.to(device=device, dtype=torch.bool)
    seq_lengths = keep.sum(dim=1, dtype=torch.int32)  # (B,)
    # One host sync: the kernels need L as an int, and a full mask skips the gathers.
    max_seqlen, num_tokens = (int(v) for v in torch.stack([seq_lengths.max(), seq_lengths.sum()]).tolist())
    return layout_from_lengths(keep, seq_lengths, max_seqlen, num_tokens)


def layout_from_lengths(keep: torch.Tensor, seq_lengths: torch.Tensor, max_seqlen: int, num_tokens: int) -> PackedLayout:
    """The layout of a batch whose (B, S) bool mask ``keep``, (B,) int32 ``seq_lengths`` and
    host-side ``max_seqlen`` / ``num_tokens`` are known already (read in the caller's one host
    sync, as ``AlbertModel.forward`` does); reads nothing on the host itself."""
    batch_size, seq_len = keep.shape
    device = keep.device
    if num_tokens == batch_size * seq_len:
        return _dense_layout(batch_size, seq_len, device)
    indices = torch.nonzero(keep.flatten(), as_tuple=False).flatten()  # (T,)
    cu_seqlens = torch.zeros(batch_size + 1, dtype=torch.int32, device=device)
    cu_seqlens[1:] = torch.cumsum(seq_lengths, dim=0)
    row_of_token = torch.div(indices, seq_len, rounding_mode="floor")
    slots, key_mask = _slot_grid(row_of_token, cu_seqlens, seq_lengths, max_seqlen, num_tokens)
    return PackedLayout(indices, cu_seqlens, max_seqlen, batch_size, seq_len, slots, key_mask, False)


def _slot_grid(
    row_of_token: torch.Tensor, cu_seqlens: torch.Tensor, seq_lengths: torch.Tensor, max_seqlen: int, num_tokens: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each packed token's slot in a (B, L) grid with every row left-aligned, and the grid's key
    mask; no value is read on the host."""
    device = cu_seqlens.device
    rank_in_row = torch.arange(num_tokens, device=device) - cu_seqlens[row_of_token].long()
    slots = row_of_token * max_seqlen + rank_in_row
    grid = torch.arange(max_seqlen, device=device)[None, :]
    # Slot 0 stays a visible key even in an empty row, so no softmax row is all -inf (no NaNs
    # leak into gradients); nothing is ever read back from an empty row.
    key_mask = (grid < seq_lengths[:, None]) | (grid == 0)
    return slots, key_mask


def traceable_layout(attention_mask: torch.Tensor) -> PackedLayout:
    """A layout built without reading any value on the host, for ``torch.onnx`` / ``torch.export``.

    Projections and the feed-forward block still see only the T real tokens; attention runs on
    the batch padded to its full length S (not to its longest real row, which only the data
    knows). ``max_seqlen`` is S and nothing here branches on the mask's contents, so a traced
    graph stays valid for every batch.
    """
    batch_size, seq_len = attention_mask.shape
    keep = attention_mask.bool()
    seq_lengths = keep.sum(dim=1, dtype=torch.int32)
    indices = torch.nonzero(keep.flatten(), as_tuple=False).flatten()
    cu_seqlens = torch.cat([seq_lengths.new_zeros(1), torch.cumsum(seq_lengths, dim=0, dtype=torch.int32)])
    return PackedLayout(indices, cu_seqlens, seq_len, batch_size, seq_len, indices, keep, False)


def sequences_layout(cu_seqlens: torch.Tensor, max_seqlen: int, num_tokens: int) -> PackedLayout:
    """The layout of ``num_tokens`` packed tokens cut into sequences at ``cu_seqlens``, built
    without reading a value on the host (so it can be recorded in a CUDA graph).

    There is no padded batch behind it: ``indices`` is every token in order and the padded grid
    is taken to be (B, ``max_seqlen``); ``max_seqlen`` must be at least the longest sequence.
    """
    device = cu_seqlens.device
    batch_size = cu_seqlens.shape[0] - 1
    seq_lengths = cu_seqlens[1:] - cu_seqlens[:-1]
    row_of_token = torch.repeat_interleave(
        torch.arange(batch_size, device=device), seq_lengths.long(), output_size=num_tokens
    )
    slots, key_mask = _slot_grid(row_of_token, cu_seqlens, seq_lengths, max_seqlen, num_tokens)
    everything = torch.arange(num_tokens, device=device)
    return PackedLayout(everything, cu_seqlens, max_seqlen, batch_size, max_seqlen, slots, key_mask, False)


def _dense_layout(batch_size: int, seq_len: int, device: torch.device) -> PackedLayout:
    everything = torch.arange(batch_size * seq_len, device=device)
    cu_seqlens = torch.arange(0, batch_size * seq_len + 1, seq_len, dtype=torch.int32, device=device)
    key_mask = torch.ones(batch_size, seq_len, dtype=torch.bool, device=device)
    return PackedLayout(everything, cu_seqlens, seq_len, batch_size, seq_len, everything, key_mask, True)


def pack(padded: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
    """(B, S, ...) -> (T, ...): the real tokens, row by row."""
    flat = padded.reshape(layout.batch_size * layout.seq_len, *padded.shape[2:])
    return flat if layout.is_dense else flat.index_select(0, layout.indices)


def unpack(packed: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
    """(T, ...) -> (B, S, ...), with zeros at the padding positions."""
    trailing = packed.shape[1:]
    if layout.is_dense:
        return packed.reshape(layout.batch_size, layout.seq_len, *trailing)
    flat = packed.new_zeros(layout.batch_size * layout.seq_len, *trailing)
    return flat.index_copy(0, layout.indices, packed).reshape(layout.batch_size, layout.seq_len, *trailing)


def to_slots(packed: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
    """(T, ...) -> (B, L, ...): each row left-aligned in a batch padded only to the longest row."""
    trailing = packed.shape[1:]
    if layout.is_dense:
        return packed.reshape(layout.batch_size, layout.max_seqlen, *trailing)
    flat = packed.new_zeros(layout.batch_size * layout.max_seqlen, *trailing)
    return flat.index_copy(0, layout.slots, packed).reshape(layout.batch_size, layout.max_seqlen, *trailing)


def from_slots(slotted: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
    """(B, L, ...) -> (T, ...): the inverse of :func:`to_slots`."""
    flat = slotted.reshape(layout.batch_size * layout.max_seqlen, *slotted.shape[2:])
    return flat if layout.is_dense else flat.index_select(0, layout.slots)
