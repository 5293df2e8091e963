"""What a training run reports: a JSON-lines metrics log, a PNG of its curves, and a progress bar.

``metrics.jsonl`` holds one JSON object per logged step (``{"step": 100, "mlm_loss": ...}``), so
it can be followed with ``tail -f``, read by pandas (``pd.read_json(path, lines=True)``), and
cut back to a checkpoint when a run resumes. ``curves.png`` is redrawn from it with matplotlib's
Agg backend (no display needed); matplotlib is the ``train`` extra's, and without it the run goes
on without the picture, after one warning.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..atomic_files import append_text, write_atomic, write_text_atomic


class MetricsLog:
    """Appends one JSON object per line to ``path`` and flushes it, so a crash loses nothing."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, Any]) -> None:
        """Add ``record`` as a line; a full disk is a one-line DiskFullError naming the log."""
        append_text(self.path, json.dumps(record, allow_nan=True) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop the records of steps after ``step`` (a resumed run redoes them)."""
        if not self.path.exists():
            return
        kept = [record for record in read_metrics(self.path) if record.get("step", 0) <= step]
        write_text_atomic(self.path, "".join(json.dumps(record) + "\n" for record in kept))


def read_metrics(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a metrics.jsonl; a last line cut off by a crash is ignored."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a partial line written when the process was killed
    return records


def plot_curves(
    metrics_path: str | os.PathLike,
    png_path: str | os.PathLike,
    panels: Sequence[tuple[str, str]],
    held_out: tuple[str, str],
) -> Path | None:
    """Draw the curves of a metrics.jsonl into a PNG; returns its path (None if no data yet).

    Args:
        panels: ``(metric key, title)`` pairs; those no record has are skipped.
        held_out: the ``split`` of the evaluation records, and their label: they are drawn as
            points on the training records' lines.
    """
    # The object-oriented API without pyplot: no global state, no GUI backend, a faster import.
    # matplotlib comes with the train extra: without it a run still trains, without the picture.
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        _say_matplotlib_is_missing()
        return None

    if not Path(metrics_path).exists():
        return None
    records = read_metrics(metrics_path)
    train = [r for r in records if r.get("split", "train") == "train"]
    evaluations = [r for r in records if r.get("split") == held_out[0]]
    panels = [(key, title) for key, title in panels if any(key in r for r in records)]
    if not panels:
        return None
    columns = min(3, len(panels))
    rows = (len(panels) + columns - 1) // columns
    figure = Figure(figsize=(4.2 * columns, 3.0 * rows))
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    for axis, (key, title) in zip(axes.flat, panels):
        points = [(r["step"], r[key]) for r in train if r.get(key) is not None]
        if points:
            axis.plot(*zip(*points), linewidth=1.2, label="train")
        held = [(r["step"], r[key]) for r in evaluations if r.get(key) is not None]
        if held:
            axis.plot(*zip(*held), "o-", markersize=4, label=held_out[1])
            axis.legend(fontsize=8)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("step", fontsize=8)
        axis.tick_params(labelsize=8)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.1, top=0.92, wspace=0.28, hspace=0.5)
    return write_atomic(png_path, lambda temporary: figure.savefig(temporary, dpi=100, format="png"))


@functools.cache  # once a process: the curves are redrawn at every checkpoint
def _say_matplotlib_is_missing() -> None:
    logging.getLogger("albert.training").warning(
        "curves.png is not drawn: matplotlib is not installed (the metrics are in metrics.jsonl); "
        "to draw the curves: pip install 'albert-lm[train]'"
    )


@contextlib.contextmanager
def terminal_progress(enabled: bool = True) -> Iterator[Progress]:
    """A rich progress bar on stderr, silent (but still usable) when stderr is not a terminal.

    Tasks may carry a ``status`` field (shown after the bar), e.g. loss and tokens/s.
    """
    console = Console(stderr=True)
    columns = [
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, disable=not (enabled and sys.stderr.isatty())) as progress:
        yield progress
