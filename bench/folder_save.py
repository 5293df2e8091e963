"""What an all-or-nothing folder save costs: ``save_pretrained`` of the shipped model over an
existing model folder, built aside and swapped in (today), against the same files written in
place one by one (how albert saved before issue 23), in alternating rounds in one process.

Writes ``bench/results/<name>.json``: the medians, every timing, whether ``renameat2``'s atomic
exchange works on the file system of ``--folder``, and the parts of a swap (the lock, the hard
links of the old files, the exchange and the removal of the old folder) timed alone.

    python bench/folder_save.py                      # in a temporary folder
    python bench/folder_save.py --folder /data/tmp   # on another file system
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from albert import AlbertForMaskedLM, atomic_files, checkpoint
from albert.hub import default_model
from albert.output_lock import folder_lock

RESULTS = Path(os.environ.get("ALBERT_BENCH_RESULTS", Path(__file__).resolve().parent / "results"))


@contextlib.contextmanager
def in_place(path: str | os.PathLike, **options: object) -> Iterator[Path]:
    """The folder written file by file, as before: each file atomic, the folder not."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    yield folder


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None, help="where to save (default: a temporary folder)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="folder_save")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)

    model = AlbertForMaskedLM.from_pretrained(default_model())
    with tempfile.TemporaryDirectory(dir=arguments.folder) as scratch:
        folder = Path(scratch) / "model"
        model.save_pretrained(folder)
        (folder / "README.md").write_text("a user's notes\n", encoding="utf-8")
        swapped, before = [], []
        for _ in range(arguments.rounds):  # alternating: a noisy machine slows both alike
            swapped.append(timed(lambda: model.save_pretrained(folder)))
            real = checkpoint.atomic_folder
            checkpoint.atomic_folder = in_place
            try:
                before.append(timed(lambda: model.save_pretrained(folder)))
            finally:
                checkpoint.atomic_folder = real
        lock = []
        for _ in range(arguments.rounds):
            started = time.perf_counter()
            with folder_lock(folder):
                lock.append(time.perf_counter() - started)
        links, exchanges, removals = [], [], []
        for _ in range(arguments.rounds):
            staging = Path(tempfile.mkdtemp(dir=scratch))
            links.append(timed(lambda staging=staging: atomic_files._carry_over(folder, staging)))
            exchanges.append(timed(lambda staging=staging: atomic_files._exchange(staging, folder)))
            atomic_files._exchange(staging, folder)  # back
            removals.append(timed(lambda staging=staging: atomic_files._remove_tree(staging)))
        exchange = atomic_files.exchange_supported(scratch)
        size = sum(path.stat().st_size for path in folder.iterdir())

    def ms(values: list[float]) -> float:
        return round(1000 * statistics.median(values), 2)

    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "torch": torch.__version__,
        "model": str(default_model().name), "folder_bytes": size, "rounds": arguments.rounds,
        "renameat2_exchange": exchange,
        "median_ms": {"swapped_folder": ms(swapped), "in_place_before": ms(before), "lock": ms(lock),
                      "hard_links_of_the_old_files": ms(links), "exchange": ms(exchanges),
                      "removal_of_the_old_folder": ms(removals)},
        "all_ms": {"swapped_folder": [round(1000 * value, 2) for value in swapped],
                   "in_place_before": [round(1000 * value, 2) for value in before]},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{arguments.name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["median_ms"], indent=2), f"\nrenameat2 exchange: {exchange}")


if __name__ == "__main__":
    main()
