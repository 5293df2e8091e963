"""Devices and dtypes as users name them ("cuda", "cpu", "auto"; "bf16", "float32"), in one place."""

from __future__ import annotations

import torch

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
}


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype | str | None:
    """Accept ``torch.bfloat16``, ``"bfloat16"``, ``"bf16"``, ``"auto"`` or None (unchanged)."""
    if dtype is None or isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    key = str(dtype).replace("torch.", "").lower()
    if key not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use float32, bfloat16, float16 or 'auto'")
    return _DTYPES[key]


def resolve_device(device: str | int | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"`` picks CUDA when there is a GPU, else the CPU; an int is a CUDA index.

    Raises:
        ValueError: a CUDA device was asked for on a machine without one.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, int):
        device = torch.device("cuda", device) if device >= 0 else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for, but torch sees no CUDA GPU here; use 'cpu'")
    return device
