"""Making long runs safe: atomic checkpoints, keeping the last few, exact resume, and a NaN guard.

A checkpoint is one file ``checkpoints/step-00001000.pt`` holding everything the next step
depends on: model, optimizer and scheduler state, the data position, and the random generators
(Python, NumPy, torch, CUDA) of every rank. It is written to a temporary file, flushed to disk
and renamed over its final name, so a run killed at any moment (``kill -9`` included) leaves
either the previous checkpoint or the new one, never a torn file; a disk too full for it is a
one-line ``DiskFullError``, and the earlier checkpoints stay as they were. It is read back with
``torch.load(weights_only=True)``: plain tensors and containers, no pickled code.

A run folder is written by one process at a time (:func:`locked_run_folder`): a second run with
the same ``--out`` is refused at once, naming the first one's pid.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic_files import remove_dead_temporaries, write_torch_atomic
from ..checkpoint import describe_load_error, load_torch_file
from ..errors import AlbertError, CheckpointError, OptionError
from ..output_lock import folder_lock

CHECKPOINT_DIR = "checkpoints"
_CHECKPOINT_NAME = re.compile(r"^step-(\d{8})\.pt$")


class NonFiniteLossError(AlbertError, RuntimeError):
    """The loss (or gradient norm) became NaN or infinite; the run stops without saving."""


class CheckpointReadError(CheckpointError, RuntimeError):
    """A checkpoint file that cannot be read back (damaged, or not a checkpoint)."""


class CheckpointManager:
    """Writes, lists, prunes and reads the checkpoints of one run folder."""

    def __init__(self, run_dir: str | os.PathLike, keep: int = 3) -> None:
        if keep < 1:
            raise OptionError(f"keep must be at least 1 checkpoint, got {keep}")
        self.folder = Path(run_dir) / CHECKPOINT_DIR
        self.keep = keep

    def path_for(self, step: int) -> Path:
        return self.folder / f"step-{step:08d}.pt"

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first (temporary files of an interrupted save are ignored)."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := _CHECKPOINT_NAME.match(p.name))]
        return [path for _, path in sorted(found)]

    def latest(self) -> Path | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def save(self, step: int, state: dict[str, Any]) -> Path:
        """Write ``state`` as the checkpoint of ``step`` atomically, then drop all but the last ``keep``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = write_torch_atomic(self.path_for(step), state, durable=True)
        for old in self.checkpoints()[: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    def load(self, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """Read a checkpoint (tensors and plain containers only)."""
        try:
            return load_torch_file(path, map_location=map_location)
        except Exception as error:  # a damaged (or foreign) file: say which, and what to do
            raise CheckpointReadError(
                f"checkpoint {path} cannot be read ({type(error).__name__}: {describe_load_error(error)}); "
                "nothing in it was run. Delete it to resume from the one before"
            ) from None


@contextlib.contextmanager
def locked_run_folder(run_dir: str | os.PathLike, writer: bool = True) -> Iterator[None]:
    """Hold the run folder's lock while a run writes it (``writer``: this process writes, e.g.
    rank 0 of a distributed run), and clear what killed writers left in it (their temporaries).

    Raises:
        FolderInUseError: another live run writes the folder; the message names its pid.
    """
    if not writer:
        yield
        return
    with folder_lock(run_dir):
        for folder in (Path(run_dir), Path(run_dir) / CHECKPOINT_DIR):
            remove_dead_temporaries(folder)
        yield


# -- random generators --------------------------------------------------------------------------

def capture_rng_state() -> dict[str, Any]:
    """The state of Python's, NumPy's (global), torch's and CUDA's generators, in types that
    ``torch.load(weights_only=True)`` reads back."""
    numpy_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put the generators back as :func:`capture_rng_state` found them."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": numpy_state["bit_generator"],
            "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -- the NaN guard ------------------------------------------------------------------------------

def check_finite(values: dict[str, float], step: int, last_checkpoint: Path | None) -> None:
    """Raise :class:`NonFiniteLossError` when any value is NaN or infinite, saying what to do.

    Called before a checkpoint is written, so a diverged state is never saved over a good one.
    """
    bad = {name: value for name, value in values.items() if not math.isfinite(value)}
    if not bad:
        return
    where = f"the last good checkpoint is {last_checkpoint}" if last_checkpoint else "no checkpoint was written yet"
    shown = ", ".join(f"{name}={value}" for name, value in bad.items())
    raise NonFiniteLossError(
        f"training diverged at step {step} ({shown}); stopped without saving, {where}. "
        "Resume from it with a lower --lr, a longer warmup or --max-grad-norm, or check the data."
    )
