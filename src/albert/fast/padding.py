"""Moved to :mod:`albert.kernels.padding` (the model's own layers); this name stays for imports
written before."""

from ..kernels.padding import (
    PackedLayout,
    from_slots,
    layout_from_lengths,
    pack,
    packed_layout,
    sequences_layout,
    to_slots,
    traceable_layout,
    unpack,
)

__all__ = [
    "PackedLayout",
    "from_slots",
    "layout_from_lengths",
    "pack",
    "packed_layout",
    "sequences_layout",
    "to_slots",
    "traceable_layout",
    "unpack",
]
