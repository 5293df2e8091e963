"""Moved to :mod:`albert.kernels.attention` (the model's own layers; the kernels are a registry
there, ``ATTENTION_KERNELS``); this name stays for imports written before."""

from ..kernels.attention import (
    ATTENTION_KERNELS,
    BACKENDS,
    AttentionKernel,
    AttentionPlan,
    KernelQuery,
    choose_backend,
    varlen_kernel,
)

__all__ = ["ATTENTION_KERNELS", "BACKENDS", "AttentionKernel", "AttentionPlan", "KernelQuery", "choose_backend", "varlen_kernel"]
