"""The work a forward pass does, counted from the config: the numerator of every roofline and MFU.

One count, used by every benchmark (CPU roofline, GPU MFU) and anyone comparing a measured rate
with a machine's peak: useful FLOPs per real (non-padding) token, so padding a path computes and
throws away never counts as work.
"""

from __future__ import annotations

from typing import Any


def encoder_flops_per_token(config: Any, mean_attended_length: float) -> float:
    """Forward FLOPs per real token of the encoder (a multiply-add is 2 FLOPs).

    Counts the E -> H projection, then per layer the QKV and output projections, the feed-forward
    block and attention over the token's own sequence (``mean_attended_length`` real tokens: for a
    batch, the sum of squared lengths over the sum of lengths). Embedding look-ups, LayerNorms,
    activations and heads are left out.
    """
    hidden, inner = config.hidden_size, config.intermediate_size
    layers = config.num_hidden_layers * config.inner_group_num
    per_layer = 2 * (4 * hidden * hidden + 2 * hidden * inner) + 2 * 2 * mean_attended_length * hidden
    return 2 * config.embedding_size * hidden + layers * per_layer


def mean_attended_length(lengths: list[int]) -> float:
    """The attended length averaged over the real tokens of sequences of ``lengths``."""
    total = sum(lengths)
    return sum(n * n for n in lengths) / total if total else 0.0
