"""What runs around the one training loop (:mod:`.trainer`) for pretraining and fine-tuning alike:
status lines (logger ``albert.training``, INFO; the ``albert`` commands show them on stderr) and
the progress bar, the metrics window, the resume checks, the run folder's files (``run.json``,
``metrics.jsonl``, ``curves.png``, the summary) and bf16 autocast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from ..atomic_files import write_text_atomic
from ..errors import OptionError
from .checkpoints import CheckpointManager
from .run_log import MetricsLog, plot_curves, terminal_progress

logger = logging.getLogger("albert.training")

RUN_SETTINGS_NAME = "run.json"
METRICS_NAME = "metrics.jsonl"
CURVES_NAME = "curves.png"
#: Seconds between plain progress lines when stderr is not a terminal.
LINE_EVERY_SECONDS = 30


class Reporter:
    """What a run tells people: :meth:`say` a status line, :meth:`progress` a bar over the steps."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.interactive = sys.stderr.isatty()

    def say(self, message: str) -> None:
        """Log ``message`` (INFO) when the run reports at all."""
        if self.enabled:
            logger.info(message)

    @contextlib.contextmanager
    def progress(self, description: str, total: int, start: int) -> Iterator[Reporter]:
        """Show a bar from step ``start`` to ``total`` while the block runs; :meth:`step` moves it."""
        with terminal_progress(enabled=self.enabled) as bar:
            self._bar, self._total, self._start = bar, total, start
            self._task = bar.add_task(description, total=total, completed=start, status="")
            self._started, self._last_line = time.monotonic(), -math.inf
            yield self

    def step(self, step: int, status: str | None = None) -> None:
        """Move the bar to ``step``; with the ``status`` of a new log record, also show it (and
        off a terminal, now and then, as a line with the steps/s and the ETA)."""
        if status is None:
            self._bar.update(self._task, completed=step)
            return
        self._bar.update(self._task, completed=step, status=status)
        now = time.monotonic()
        if self.interactive or (now - self._last_line < LINE_EVERY_SECONDS and step != self._total):
            return
        self._last_line = now
        rate = (step - self._start) / max(now - self._started, 1e-9)
        remaining = (self._total - step) / rate if rate else math.inf
        self.say(f"step {step}/{self._total} {status}, {rate:.2f} steps/s, ETA {_duration(remaining)}")


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


class MetricsWindow:
    """Per-step values summed since the last log record: tensors on the device (no
    synchronisation per step), plain numbers on the host, and the steps added."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.reset()

    def reset(self) -> None:
        """Start a new window."""
        self.tensors: dict[str, torch.Tensor] = {}
        self.numbers: dict[str, float] = {}
        self.steps = 0
        self.restart_clock()

    def restart_clock(self) -> None:
        """Time from now (what a checkpoint takes is not training throughput)."""
        self.started = time.perf_counter()

    def add(self, **values: torch.Tensor | float) -> None:
        """Add one step's values."""
        self.steps += 1
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().double()
                self.tensors[name] = self.tensors[name] + value if name in self.tensors else value
            else:
                self.numbers[name] = self.numbers.get(name, 0.0) + value

    def totals(self, all_reduce: bool = False) -> tuple[dict[str, float], float]:
        """The sums by name (with ``steps``), summed over processes when ``all_reduce``, and the
        seconds since the window started."""
        names = [*self.tensors, "steps", *self.numbers]
        host = torch.tensor([self.steps, *self.numbers.values()], dtype=torch.float64, device=self.device)
        sums = torch.cat([torch.stack(list(self.tensors.values())), host]) if self.tensors else host
        if all_reduce:
            dist.all_reduce(sums)
        return dict(zip(names, sums.tolist())), max(time.perf_counter() - self.started, 1e-9)


def resume_checkpoint(manager: CheckpointManager, resume: bool) -> Path | None:
    """The checkpoint a run continues from: the folder's last with ``resume``, else None.

    Raises:
        FileExistsError: the folder holds checkpoints and ``resume`` is False.
    """
    latest = manager.latest()
    if latest is not None and not resume:
        raise FileExistsError(
            f"{manager.folder.parent} already holds a run ({latest.name}); pass --resume to continue it, "
            "or choose another --out"
        )
    return latest


def check_resumable(path: Path | None, saved: dict[str, Any], current: dict[str, Any], may_change: Collection[str],
                    also: Sequence[str] = ()) -> None:
    """Raise OptionError when this run's settings (``current``) differ from those ``saved`` in its
    checkpoint ``path``, except the ones that do not change what a step computes (``may_change``);
    ``also``: other differences the caller found (the model config, the data), as phrases."""
    differences = [
        f"{key}: checkpoint {saved.get(key)!r}, now {current.get(key)!r}"
        for key in sorted(set(saved) | set(current))
        if key not in may_change and saved.get(key) != current.get(key)
    ]
    differences += also
    if differences:
        raise OptionError(
            f"cannot resume from {path}: these settings differ from the run's: {'; '.join(differences)}. "
            "Use the original settings, or start a new run in another --out"
        )


def autocast_for(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on GPU when asked; plain float32 everywhere else."""
    if device.type == "cuda" and bf16:
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def write_json(path: Path, value: Any) -> None:
    """``value`` as indented JSON, written whole or not at all."""
    write_text_atomic(path, json.dumps(value, indent=2) + "\n")


class RunFiles:
    """The files of a run folder beside its checkpoints: ``run.json`` (how it was started),
    ``metrics.jsonl``, ``curves.png`` (redrawn at a checkpoint at most every ``plot_every``
    seconds, since drawing takes a second or two, and at the end) and a summary."""

    def __init__(self, run_dir: Path, panels: Sequence[tuple[str, str]], held_out: tuple[str, str],
                 plot_every: float) -> None:
        self.run_dir, self.panels, self.held_out, self.plot_every = run_dir, panels, held_out, plot_every
        self.log = MetricsLog(run_dir / METRICS_NAME)
        self.last_plot = time.monotonic()

    def start(self, step: int, run_record: dict[str, Any]) -> None:
        """Write ``run.json``; cut the log back to ``step`` (a killed run may have logged past its
        checkpoint), or start it afresh."""
        if step:
            self.log.truncate_after(step)
        else:
            self.log.path.unlink(missing_ok=True)
        write_json(self.run_dir / RUN_SETTINGS_NAME, run_record)

    def checkpointed(self) -> None:
        """Redraw the curves if the last drawing is old enough."""
        if time.monotonic() - self.last_plot >= self.plot_every:
            self.draw_curves()

    def draw_curves(self) -> None:
        """Draw ``curves.png`` from ``metrics.jsonl`` now."""
        self.last_plot = time.monotonic()
        plot_curves(self.log.path, self.run_dir / CURVES_NAME, self.panels, self.held_out)

    def finish(self, summary_name: str, summary: dict[str, Any]) -> None:
        """Write the summary and draw the curves a last time."""
        write_json(self.run_dir / summary_name, summary)
        self.draw_curves()
