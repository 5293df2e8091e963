"""Reduced precision for inference, only when asked: ``precision="exact" | "fast" | "int8"``.

- ``"exact"`` (the default): the dtype the caller asked for (float32 unless told otherwise).
- ``"fast"``: bfloat16 where the hardware multiplies it natively: a GPU with bf16, or a CPU with
  bf16 dot products (AVX512_BF16 or AMX; ``/proc/cpuinfo``). Elsewhere the model stays in float32
  and a warning says why. On this project's CPUs bf16 ran albert-base's packed path ~1.9x faster
  than float32, every token vector within cosine 0.9999 of float32 (docs/speed.md, measured).
- ``"int8"``: torch's dynamic quantisation of the encoder's linear layers (int8 weights,
  activations quantised per batch; fbgemm/oneDNN use VNNI where the CPU has it), on the CPU only.
  The packed encoder keeps its fused QKV projection (quantised as one matrix); heads stay float32.

Reduced precision is never chosen silently: each choice is logged at INFO on the ``albert``
logger, and the accuracy cost is measured by ``bench/precision_cost.py``.
"""

from __future__ import annotations

import logging
import warnings
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .errors import OptionError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger("albert")

#: What a user may ask for, in the order the messages list them.
PRECISIONS = ("exact", "fast", "int8")
#: CPU flags that mean bf16 dot products in hardware (Linux ``/proc/cpuinfo`` names).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
#: CPU flags that mean int8 dot products in hardware.
VNNI_CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def check_precision(precision: Any, option: str = "precision") -> str:
    """The precision's name, lower-cased (None is ``"exact"``); torch is not imported.

    Raises:
        OptionError: not one of :data:`PRECISIONS`.
    """
    if precision is None:
        return "exact"
    name = precision.strip().lower() if isinstance(precision, str) else None
    if name not in PRECISIONS:
        where = f" ({option})" if option.startswith("-") else ""
        raise OptionError(f"unknown precision {precision!r}{where}: use {', '.join(PRECISIONS)}")
    return name


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where ``/proc/cpuinfo`` is not there)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def cpu_has_bf16_dot() -> bool:
    """Whether this CPU computes bf16 dot products in hardware (AVX512_BF16 or AMX)."""
    if any(flag in cpu_flags() for flag in BF16_CPU_FLAGS):
        return True
    import torch

    return "AMX" in torch.backends.cpu.get_cpu_capability().upper()


def cpu_has_vnni() -> bool:
    """Whether this CPU has int8 dot products (VNNI or AMX), which dynamic int8 quantisation uses."""
    return any(flag in cpu_flags() for flag in VNNI_CPU_FLAGS)


def check_dtype_for(precision: str, dtype: Any) -> None:
    """Refuse a dtype that contradicts the precision asked for (``"fast"`` with float16, say).

    Raises:
        OptionError: ``"fast"`` with a dtype other than bfloat16/auto, or ``"int8"`` with one other
            than float32/auto.
    """
    from .devices import check_dtype

    name = check_dtype(dtype)
    allowed = {"exact": None, "fast": ("bfloat16", "auto", None), "int8": ("float32", "auto", None)}[precision]
    if allowed is not None and name not in allowed:
        raise OptionError(
            f"precision={precision!r} decides the dtype itself ({'bfloat16' if precision == 'fast' else 'int8 weights, float32 activations'}); "
            f"it contradicts dtype={name!r}: leave dtype out, or use precision='exact'"
        )


def apply_precision(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    """Put ``model`` (already on its device, in eval mode) in ``precision``, in place; returns it.

    Raises:
        OptionError: an unknown precision, or ``"int8"`` on a model that is not on the CPU.
    """
    import torch

    precision = check_precision(precision)
    if precision == "exact":
        return model
    device = next(model.parameters()).device
    if precision == "fast":
        if _bf16_native(device):
            logger.info("precision 'fast': running in bfloat16 (%s)", _why_bf16(device))
            return model.to(dtype=torch.bfloat16)
        warnings.warn(
            f"precision 'fast' asked for bfloat16, but {_why_not_bf16(device)}: running in float32",
            UserWarning, stacklevel=3,
        )  # fmt: skip
        return model
    if device.type != "cpu":
        raise OptionError(f"precision 'int8' is torch's dynamic quantisation, which runs on the CPU; the model is on {device}")
    if not cpu_has_vnni():
        warnings.warn("precision 'int8': this CPU has no int8 dot products (VNNI/AMX), so int8 may be slower than "
                      "float32 here", UserWarning, stacklevel=3)  # fmt: skip
    quantize_encoder(model)
    logger.info("precision 'int8': the encoder's linear layers are dynamically quantised (int8 weights, engine %s)",
                torch.backends.quantized.engine)
    return model


def quantize_encoder(model: torch.nn.Module) -> None:
    """Replace the encoder's ``nn.Linear`` layers with dynamically quantised ones, in place; each
    attention block also gets its fused (3H x H) QKV projection quantised as one matrix, for the
    packed encoder. Heads are left in float32 (their share of the work is small; their outputs
    are what users read)."""
    import torch
    from torch import nn

    encoder = cast(nn.Module, getattr(model, "base_model", model).encoder)  # (below modeling: not imported)
    attentions = [module for module in encoder.modules() if hasattr(module, "qkv_projection")]
    with warnings.catch_warnings():  # torch.ao's notice that quantisation moves to torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        for attention in attentions:
            if attention.qkv_projection is None:
                weight, bias = attention.fused_qkv()
                fused = nn.Linear(weight.shape[1], weight.shape[0], device=weight.device, dtype=weight.dtype)
                with torch.no_grad():
                    fused.weight.copy_(weight)
                    fused.bias.copy_(bias)
                attention.qkv_projection = _quantized(fused)
        torch.ao.quantization.quantize_dynamic(encoder, {nn.Linear}, dtype=torch.qint8, inplace=True)


def _quantized(linear: torch.nn.Linear) -> torch.nn.Module:
    import torch
    from torch import nn

    holder = nn.Sequential(linear)
    torch.ao.quantization.quantize_dynamic(holder, {nn.Linear}, dtype=torch.qint8, inplace=True)
    return holder[0]


def is_quantized(model: torch.nn.Module) -> bool:
    """Whether ``model`` holds dynamically quantised layers (``precision="int8"``)."""
    return any(type(module).__module__.startswith("torch.ao.nn.quantized") for module in model.modules())


def _bf16_native(device: torch.device) -> bool:
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return cpu_has_bf16_dot()
    return False


def _why_bf16(device: torch.device) -> str:
    if device.type == "cuda":
        return "the GPU supports it"
    flags = [flag for flag in BF16_CPU_FLAGS if flag in cpu_flags()] or ["AMX"]
    return f"the CPU has {' and '.join(flags)}"


def _why_not_bf16(device: torch.device) -> str:
    if device.type == "cpu":
        return f"this CPU has no bf16 dot products ({' / '.join(BF16_CPU_FLAGS)} missing)"
    return f"{device} does not compute bf16 natively"
