"""Shared pieces of the benchmark scripts: devices, data, weights, timing, results, charts.

Every script loads the SAME weights into albert and into transformers, checks that their outputs
agree, times both in the same process and writes ``bench/results/<name>.json`` (device, versions,
every figure) and ``<name>.png``. Speed claims are ratios against transformers from the same run.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

BENCH = Path(__file__).resolve().parent
#: Where results go; ALBERT_BENCH_RESULTS points elsewhere (the smoke tests write to a temporary folder).
RESULTS = Path(os.environ.get("ALBERT_BENCH_RESULTS", BENCH / "results"))
REPO = BENCH.parent
#: The offline data beside the checkout; ALBERT_SHARED_DATA points elsewhere (a GPU machine gets a copy).
SHARED_DATA = Path(os.environ.get("ALBERT_SHARED_DATA", REPO.parent / "shared" / "data"))
SPIECE = SHARED_DATA / "albert-vocab" / "spiece.model"

#: Dense bf16/fp16 tensor-core peaks (FLOP/s) used for MFU, by a substring of the device name.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 125e12, "L4": 121e12}

#: The ``small`` shape: that of the model shipped with the package (albert-small-en).
SMALL_SHAPE = dict(
    embedding_size=128, hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
    vocab_size=30000, hidden_act="gelu_new", max_position_embeddings=128,
)
#: Tiny shapes for checking the GPU scripts on a CPU (correctness only; their timings mean little).
CHECK_SHAPE = dict(
    embedding_size=32, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=128,
    vocab_size=30000, hidden_act="gelu_new",
)


# -- device and environment ------------------------------------------------------------------------

def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def device_name(device: torch.device) -> str:
    """What the figures were measured on, in words: GPU model, or CPU model and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_name()} ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def device_tag(device: torch.device) -> str:
    """A short file-name-safe tag for the device (``h100``, ``cpu2``)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for known in PEAK_FLOPS:
            if known in name:
                return known.lower()
        return "gpu"
    return f"cpu{os.cpu_count()}"


def environment(device: torch.device) -> dict[str, Any]:
    """Versions and the machine, for the results file."""
    import transformers

    info: dict[str, Any] = {
        "device": device_name(device),
        "device_type": device.type,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
    }
    if device.type == "cpu":
        info["torch_threads"] = torch.get_num_threads()
        info["load_average_at_start"] = os.getloadavg()
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    return info


def resolve_bench_device(name: str) -> torch.device:
    """The ``--device`` of a script; asking for CUDA without a GPU stops with a clear message."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("this benchmark asked for a CUDA GPU and torch sees none here; run it with --device cpu "
                 "to check it on small shapes, and on a GPU machine for the real figures")
    return device


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_FLOPS.items() if key in name), None)


def common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto (default: cuda when there is one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="results file name (default: derived from script and device)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (and ONNX Runtime); on a shared machine 1 is the steadier choice")


def apply_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads for torch (None: torch's default, one per core)."""
    if threads is not None:
        torch.set_num_threads(threads)


# -- data -----------------------------------------------------------------------------------------

def require_shared_data() -> None:
    if not SPIECE.exists():
        sys.exit(f"the offline data is not at {SHARED_DATA}; the benchmarks read real sentences from there")


def real_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` real English sentences: SST-2 training sentences, then corpus lines (dictionary
    glosses, Bible verses) when more are needed; shuffled with ``seed``."""
    require_shared_data()
    sentences = [line.split("\t")[0].strip() for line in (SHARED_DATA / "sst2" / "train.tsv").read_text().splitlines()[1:]]
    for corpus in ("wordnet_glosses.txt.xz", "kjv_bible.txt.xz"):
        if len(sentences) >= count:
            break
        with lzma.open(SHARED_DATA / "corpus" / corpus, "rt", encoding="utf-8") as lines:
            for line in lines:
                line = line.strip()
                if 20 <= len(line) <= 600:
                    sentences.append(line)
                if len(sentences) >= count * 2:
                    break
    sentences = [s for s in sentences if s]
    random.Random(seed).shuffle(sentences)
    if len(sentences) < count:
        raise SystemExit(f"only {len(sentences)} sentences available, {count} asked for")
    return sentences[:count]


def tokenize(sentences: Sequence[str], max_length: int = 512, tokenizer_dir: str | Path | None = None) -> list[list[int]]:
    """Ids with [CLS] and [SEP] from ALBERT's real vocabulary (or a model's own tokenizer), via
    albert's tokenizer."""
    from albert.tokenizer import AlbertTokenizer

    tokenizer = AlbertTokenizer.from_pretrained(str(tokenizer_dir or SPIECE.parent))
    return tokenizer(list(sentences), truncation=True, max_length=max_length)["input_ids"]


def pad_batch(rows: Sequence[Sequence[int]], device: torch.device) -> dict[str, torch.Tensor]:
    """Right-pad id lists into input_ids / attention_mask / token_type_ids on ``device``."""
    width = max(len(row) for row in rows)
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    attention_mask = torch.zeros(len(rows), width, dtype=torch.long)
    for index, row in enumerate(rows):
        input_ids[index, : len(row)] = torch.tensor(row)
        attention_mask[index, : len(row)] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": torch.zeros_like(input_ids)}
    return {name: tensor.to(device, non_blocking=True) for name, tensor in batch.items()}


def batches_of(rows: Sequence[Sequence[int]], batch_size: int) -> list[list[Sequence[int]]]:
    """Consecutive batches in the given (shuffled) order: what a user sends, not sorted by length."""
    return [list(rows[start:start + batch_size]) for start in range(0, len(rows), batch_size)]


# -- weights ----------------------------------------------------------------------------------------

def shape_config(shape: str, **overrides: Any):
    """An AlbertConfig for ``base``/``large``/``xlarge``/``xxlarge`` (v2 presets), ``small`` (the
    shipped model's shape) or ``check`` (tiny, for CPU correctness runs)."""
    from albert import AlbertConfig

    if shape == "small":
        return AlbertConfig(**{**SMALL_SHAPE, **overrides})
    if shape == "check":
        return AlbertConfig(**{**CHECK_SHAPE, **overrides})
    return AlbertConfig.preset(f"albert-{shape}-v2", **overrides)


def random_checkpoint(model_class_name: str, shape: str, folder: Path, seed: int = 0, **overrides: Any) -> Path:
    """Save a randomly initialised albert model (and ALBERT's tokenizer files) to ``folder``, so
    albert and transformers load the very same weights from it. Random weights time the same as
    trained ones; agreement checks compare the two implementations, not quality."""
    import shutil

    from albert.modeling import MODEL_CLASSES

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = shape_config(shape, **overrides)
    with torch.device("cpu"):
        model = MODEL_CLASSES[model_class_name](config)
    model.save_pretrained(folder)
    shutil.copyfile(SPIECE, folder / "spiece.model")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    return folder


def load_pair(model_class_name: str, folder: Path, device: torch.device, dtype: torch.dtype):
    """(albert model, transformers model) from the same folder, eval mode, same dtype and device;
    transformers with ``attn_implementation="sdpa"``."""
    import transformers

    from albert.modeling import MODEL_CLASSES

    ours = MODEL_CLASSES[model_class_name].from_pretrained(folder, dtype=dtype, device=device)
    theirs = getattr(transformers, model_class_name).from_pretrained(
        folder, attn_implementation="sdpa", dtype=dtype
    ).to(device).eval()
    return ours, theirs


# -- agreement --------------------------------------------------------------------------------------

def max_difference_at_real_tokens(ours: torch.Tensor, theirs: torch.Tensor, mask: torch.Tensor) -> float:
    real = mask.bool()
    return float((ours.float()[real] - theirs.float()[real]).abs().max())


def tolerance(dtype: torch.dtype) -> float:
    """What "agree" means for a dtype, on normalised hidden states: 1e-4 in float32, bf16's
    precision (8 bits of mantissa, accumulated over layers) otherwise."""
    return 1e-4 if dtype == torch.float32 else 0.15


def check_agreement(name: str, difference: float, dtype: torch.dtype) -> dict[str, Any]:
    limit = tolerance(dtype)
    agree = difference <= limit
    print(f"  agreement {name}: max abs difference {difference:.3g} (limit {limit:g}) {'ok' if agree else 'MISMATCH'}")
    return {"max_abs_diff": difference, "limit": limit, "agree": agree}


def fill_mask_agreement(reference, candidate, rows: list[list[int]], mask_token_id: int) -> float:
    """Share of masked positions (one per row) whose top-1 piece ``candidate`` (an albert path, a
    torch module or an ONNX session) predicts as ``reference`` (transformers or torch fp32) does."""
    agree = total = 0
    for start in range(0, len(rows), 32):
        chunk = [list(row) for row in rows[start:start + 32] if len(row) > 3]
        positions = []
        for index, row in enumerate(chunk):
            position = 1 + (index * 7) % (len(row) - 2)
            row[position] = mask_token_id
            positions.append(position)
        batch = pad_batch(chunk, torch.device("cpu"))
        with torch.no_grad():
            want = reference(**batch)["logits"]
            got = candidate(**batch)["logits"]
        rows_index = torch.arange(len(chunk))
        where = torch.tensor(positions)
        agree += int((want[rows_index, where].argmax(-1) == got[rows_index, where].argmax(-1)).sum())
        total += len(chunk)
    return agree / max(1, total)


# -- timing -----------------------------------------------------------------------------------------

def over_batches(model: Callable[..., Any], batches: Sequence[dict[str, torch.Tensor]]) -> Callable[[], None]:
    """A contender for :func:`time_interleaved`: ``model`` run on every batch in turn."""

    def run() -> None:
        for batch in batches:
            model(**batch)

    return run


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    contenders: dict[str, Callable[[], Any]], device: torch.device, repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall-clock seconds of each contender, run in alternation (A B C A B C ...) so a noisy
    machine slows them alike; ``warmup`` untimed rounds first (allocator, kernels, compilation)."""
    for _ in range(warmup):
        for run in contenders.values():
            run()
    synchronize(device)
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            synchronize(device)
            start = time.perf_counter()
            run()
            synchronize(device)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def profile_call(run: Callable[[], Any], device: torch.device, top: int = 12) -> dict[str, Any]:
    """Where one call's time goes, from ``torch.profiler``: wall time, the device's busy time
    (the sum of its kernels; on a CPU, of the top-level operators), the number of kernel launches,
    and the ``top`` kernels or operators by their own time.

    A busy fraction well under 1 says the host is the bottleneck (kernel launches, Python); near
    1, the kernels themselves are. The profiler adds a little host time per operator, so on a
    launch-bound run it understates the busy fraction somewhat. Run ``run`` once before this
    (warm-up) so compilation and the allocator are not what is measured."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    on_gpu = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if on_gpu else [])
    synchronize(device)
    with profile(activities=activities) as profiler:
        start = time.perf_counter()
        run()
        synchronize(device)
        wall = time.perf_counter() - start
    totals: dict[str, list[float]] = {}  # name -> [calls, microseconds]
    if on_gpu:
        for event in profiler.key_averages():
            if event.device_type == DeviceType.CUDA:
                totals[event.key] = [event.count, getattr(event, "self_device_time_total", 0.0) or 0.0]
    else:  # operators called from Python or the autograd engine, not those nested in others
        for event in profiler.events():
            if event.cpu_parent is None:
                calls_and_time = totals.setdefault(event.name, [0, 0.0])
                calls_and_time[0] += 1
                calls_and_time[1] += event.cpu_time_total
    launches = int(sum(calls for calls, _ in totals.values()))
    busy_us = sum(microseconds for _, microseconds in totals.values())
    ranked = sorted(totals.items(), key=lambda item: item[1][1], reverse=True)[:top]
    return {
        "wall_ms": wall * 1e3,
        "busy_ms": busy_us / 1e3,
        "busy_fraction": busy_us / 1e6 / wall if wall > 0 else None,
        "what": "GPU kernels" if on_gpu else "top-level CPU operators",
        "launches": launches,
        "top": [
            {"name": name[:120], "calls": int(calls), "ms": microseconds / 1e3,
             "share_of_busy": microseconds / busy_us if busy_us else None}
            for name, (calls, microseconds) in ranked
        ],
    }


def print_profile(label: str, profile: dict[str, Any], rows: int = 6) -> None:
    print(f"  profile {label}: wall {profile['wall_ms']:.1f} ms, {profile['what']} busy {profile['busy_ms']:.1f} ms "
          f"({profile['busy_fraction']:.0%}), {profile['launches']} launches")
    for row in profile["top"][:rows]:
        print(f"    {row['ms']:8.2f} ms {row['calls']:6d}x  {row['name'][:90]}")


def summary(seconds: list[float]) -> dict[str, float]:
    return {"median_s": statistics.median(seconds), "min_s": min(seconds), "runs": len(seconds)}


def encoder_flops_per_token(config: Any, mean_attended_length: float) -> float:
    """Forward FLOPs per real token of the encoder (a multiply-add is 2 FLOPs): the one count every
    benchmark's roofline and MFU use. Counts the E -> H projection, then per layer the QKV and
    output projections, the feed-forward block and attention over the token's own sequence
    (``mean_attended_length`` real tokens: :func:`mean_attended_length`). Embedding look-ups,
    LayerNorms, activations and heads are left out; padding a path computes never counts."""
    hidden, inner = config.hidden_size, config.intermediate_size
    layers = config.num_hidden_layers * config.inner_group_num
    per_layer = 2 * (4 * hidden * hidden + 2 * hidden * inner) + 2 * 2 * mean_attended_length * hidden
    return 2 * config.embedding_size * hidden + layers * per_layer


def mean_attended_length(lengths: Sequence[int]) -> float:
    """The attended length averaged over the real tokens of sequences of ``lengths``."""
    total = sum(lengths)
    return sum(n * n for n in lengths) / total if total else 0.0


def peak_memory_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


# -- results ----------------------------------------------------------------------------------------

def shown_path(path: Path) -> str:
    """``path`` relative to the checkout when it is inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def write_results(name: str, payload: dict[str, Any], quiet: bool = False) -> Path:
    """``bench/results/<name>.json``, pretty-printed."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    if not quiet:
        print(f"wrote {shown_path(path)}")
    return path


def bar_chart(name: str, title: str, groups: dict[str, dict[str, float]], ylabel: str, note: str = "") -> Path:
    """A grouped bar chart ``bench/results/<name>.png``: one group per workload, one bar per
    implementation, the value written on each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(groups)
    implementations = list(dict.fromkeys(impl for values in groups.values() for impl in values))
    width = 0.8 / max(1, len(implementations))
    figure, axes = plt.subplots(figsize=(max(6.0, 1.6 * len(labels) * max(1, len(implementations)) / 2), 4.2))
    for offset, implementation in enumerate(implementations):
        xs = [index + offset * width for index in range(len(labels))]
        values = [groups[label].get(implementation, 0.0) for label in labels]
        bars = axes.bar(xs, values, width, label=implementation)
        axes.bar_label(bars, labels=[f"{v:.4g}" if v else "" for v in values], fontsize=7, padding=2)
    axes.set_xticks([index + width * (len(implementations) - 1) / 2 for index in range(len(labels))], labels, fontsize=8)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    if note:
        figure.text(0.01, 0.01, note, fontsize=7, color="gray")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    print(f"wrote {shown_path(path)}")
    return path
