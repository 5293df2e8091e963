"""Devices and dtypes as users name them ("cuda", "cpu", "auto"; "bf16", "float32"), in one place.

The names are checked here, without torch (:func:`check_device`, :func:`check_dtype`), so the
command line refuses ``--device foo`` before it imports torch or loads a model; :func:`resolve_device`
and :func:`resolve_dtype` then turn a checked name into torch's objects, and say so when the
machine lacks the device. Every error is an :class:`~albert.errors.OptionError` with one wording,
wherever the name came from (an option, a pipeline argument, a Spark param, a settings field).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .errors import OptionError

if TYPE_CHECKING:
    import torch

#: What a user may name, as the messages say it.
DEVICE_CHOICES = "cpu, cuda, cuda:N, mps or auto"
DTYPE_CHOICES = "float32, bfloat16, float16 or auto"

#: Accepted spellings -> torch's attribute name.
_DTYPES = {
    "float32": "float32", "fp32": "float32", "float": "float32",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16", "half": "float16",
}  # fmt: skip
_DEVICE = re.compile(r"(?P<type>cpu|cuda|mps)(?::(?P<index>\d{1,4}))?")


def check_device(device: Any, option: str = "device") -> str | int | None:
    """The device name normalised (``" CUDA:0 "`` -> ``"cuda:0"``), or None/``"auto"``/an int as
    given; torch is not imported. ``option`` names where the value came from in the message
    (``"--device"`` on the command line).

    Raises:
        OptionError: not ``cpu``, ``cuda``, ``cuda:N``, ``mps``, ``auto``, an int or a ``torch.device``.
    """
    if device is None or _is_torch_device(device):
        return device
    if isinstance(device, int) and not isinstance(device, bool):
        return device
    if isinstance(device, str):
        name = device.strip().lower()
        if name == "auto" or _DEVICE.fullmatch(name):
            return name
    raise OptionError(f"unknown device {device!r}{_given_to(option)}: use {DEVICE_CHOICES}")


def _given_to(option: str) -> str:
    """`` (--device)`` for a command-line option; nothing for a Python argument of the same name."""
    return f" ({option})" if option.startswith("-") else ""


def check_dtype(dtype: Any, option: str = "dtype") -> str | None:
    """The dtype's canonical name (``"bf16"`` -> ``"bfloat16"``), ``"auto"`` or None; a
    ``torch.dtype`` is returned as its name. torch is not imported for a string.

    Raises:
        OptionError: not a name of float32, bfloat16 or float16, nor ``auto``.
    """
    if dtype is None:
        return None
    key = str(dtype).strip().lower().removeprefix("torch.") if isinstance(dtype, str) or _is_torch_dtype(dtype) else None
    if key == "auto":
        return key
    if key not in _DTYPES:
        raise OptionError(f"unknown dtype {dtype!r}{_given_to(option)}: use {DTYPE_CHOICES}")
    return _DTYPES[key]


def resolve_dtype(dtype: torch.dtype | str | None, option: str = "dtype") -> torch.dtype | str | None:
    """Accept ``torch.bfloat16``, ``"bfloat16"``, ``"bf16"``, ``"auto"`` or None (unchanged).

    Raises:
        OptionError: an unknown name (see :func:`check_dtype`).
    """
    if dtype is None or _is_torch_dtype(dtype):
        return dtype
    name = check_dtype(dtype, option)
    if name is None or name == "auto":
        return name
    import torch

    return getattr(torch, name)


def resolve_device(device: str | int | torch.device | None = None, option: str = "device") -> torch.device:
    """``None`` or ``"auto"`` picks CUDA when there is a GPU, else the CPU; an int is a CUDA index
    (a negative one the CPU, as in transformers).

    Raises:
        OptionError: not a device name (see :func:`check_device`), or a device this machine lacks
            (CUDA or MPS without one, a GPU index past the last).
    """
    import torch

    device = check_device(device, option)
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, int):
        device = torch.device("cuda", device) if device >= 0 else torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise OptionError(f"{option} {str(device)!r} was asked for, but torch sees no CUDA GPU here; use 'cpu'")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise OptionError(
                f"{option} {str(device)!r} was asked for, but torch sees {count} CUDA GPU{'s' * (count != 1)} "
                f"(cuda:0 to cuda:{count - 1})"
            )
    if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise OptionError(f"{option} 'mps' was asked for, but torch sees no Apple GPU here; use 'cpu'")
    return device


def _is_torch_device(value: Any) -> bool:
    return type(value).__module__ == "torch" and type(value).__name__ == "device"


def _is_torch_dtype(value: Any) -> bool:
    return type(value).__module__ == "torch" and type(value).__name__ == "dtype"
