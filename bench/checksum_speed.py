"""What verifying the sha256 that albert records in its safetensors files costs, on this machine.

albert verifies ``albert.sha256`` (:func:`albert.checkpoint_files.verify_checksum`) every time it
reads a file it wrote; ``ALBERT_VERIFY_CHECKSUMS=0`` (or ``from_pretrained(...,
verify_checksums=False)``) skips it. This script times the verification alone (median of
``--repeats``, the file already in the page cache, as it is right after safetensors read it) for
the shipped model, a random ``albert-base-v2``-shaped ``AlbertForMaskedLM`` and a synthetic file
of ``--large-mb`` (the size of ``albert-xxlarge-v2``, ~0.9 GB, by default), and
``from_pretrained`` with and without it for the first two; hashlib's sha256 on bytes in memory
is the ceiling. Writes ``bench/results/<name>.json``.

    python bench/checksum_speed.py [--large-mb 890] [--repeats 3]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import apply_threads, environment, shape_config, write_results  # noqa: E402

import albert  # noqa: E402
from albert.checkpoint import safetensors_metadata  # noqa: E402
from albert.checkpoint_files import verify_checksum  # noqa: E402
from albert.hub import shipped_models  # noqa: E402


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_file(path: Path, repeats: int) -> dict[str, float]:
    verify_checksum(path, True)  # once into the page cache, and it must pass
    seconds = median_seconds(lambda: verify_checksum(path, True), repeats)
    megabytes = path.stat().st_size / 1e6
    return {"megabytes": round(megabytes, 1), "verify_seconds": round(seconds, 4),
            "verify_mb_per_s": round(megabytes / seconds, 1)}  # fmt: skip


def measure_load(folder: Path, model_class: type, repeats: int) -> dict[str, float]:
    model_class.from_pretrained(folder)  # warm: imports, page cache
    plain = median_seconds(lambda: model_class.from_pretrained(folder, verify_checksums=False), repeats)
    verified = median_seconds(lambda: model_class.from_pretrained(folder, verify_checksums=True), repeats)
    return {"load_seconds_unverified": round(plain, 4), "load_seconds_verified": round(verified, 4),
            "verification_share_of_load": round((verified - plain) / verified, 3)}  # fmt: skip


def synthetic_file(path: Path, megabytes: int) -> Path:
    """One safetensors file of ``megabytes`` of float32 tensors (64 MB each), with albert's metadata."""
    from safetensors.torch import save_file

    count = max(1, megabytes // 64)
    tensors = {f"layer.{index}.weight": torch.randn(4096, 4096) for index in range(count)}
    save_file(tensors, str(path), metadata=safetensors_metadata(tensors))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-mb", type=int, default=890, help="size of the synthetic large file (0: none)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--name", default="checksum_speed")
    arguments = parser.parse_args()
    apply_threads(arguments.threads)

    in_memory = bytes(256 * 10**6)
    ceiling = 256 / median_seconds(lambda: hashlib.sha256(in_memory).digest(), arguments.repeats)
    results: dict[str, object] = {"environment": environment(torch.device("cpu")),
                                  "hashlib_sha256_mb_per_s": round(ceiling, 1), "files": {}}  # fmt: skip
    files: dict[str, dict[str, float]] = results["files"]  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as scratch:
        shipped = next(iter(shipped_models().values()))
        files["albert-small-en (shipped)"] = {
            **measure_file(shipped / "model.safetensors", arguments.repeats),
            **measure_load(shipped, albert.AlbertForPreTraining, arguments.repeats),
        }
        torch.manual_seed(0)
        base = albert.AlbertForMaskedLM(shape_config("base")).save_pretrained(Path(scratch) / "base")
        files["albert-base-v2 shape (random)"] = {
            **measure_file(base / "model.safetensors", arguments.repeats),
            **measure_load(base, albert.AlbertForMaskedLM, arguments.repeats),
        }
        if arguments.large_mb:
            large = synthetic_file(Path(scratch) / "large.safetensors", arguments.large_mb)
            files[f"{arguments.large_mb} MB synthetic"] = measure_file(large, arguments.repeats)
    for name, figures in files.items():
        print(f"{name}: " + ", ".join(f"{key} {value}" for key, value in figures.items()))
    print(f"hashlib sha256 in memory: {ceiling:.0f} MB/s")
    write_results(arguments.name, results)


if __name__ == "__main__":
    main()
