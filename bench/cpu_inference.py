"""CPU inference against the machine's own peak: every path's useful FLOP/s as a share of what the
cores' matrix multiplies reach, measured in the same run, beside the ratio to transformers.

Roofline: in every round, fp32, bf16 and int8 matrix multiplies of transformer shape (512 tokens x
768 x 3072 and back, the QKV shape) are timed on 1 and 2 threads (``--threads``); the peak of a
precision is its best shape's rate (best of three bursts), the median over rounds. ``fp32_m24`` is
the same multiplies for one 24-token sentence: the fp32 rate a single text can reach at all. int8 is timed twice: torch's dynamically quantised
linear layer (what ``precision="int8"`` runs, activation quantisation included) and
``torch._int_mm`` (the bare int8 kernel), where they exist.

Paths, on the same weights and the same real sentences (batches in the order users send them):

- ``transformers fp32`` / ``transformers bf16``: ``AlbertModel`` (sdpa), the baseline;
- ``albert default``: what the pipelines run without a flag: the packed torch encoder, with
  ONNX Runtime for batches of a few rows when the ``onnx`` extra is installed (``SmallBatchOnnx``);
- ``albert fp32 torch``: the packed torch encoder alone (``onnx=False``);
- ``albert bf16`` / ``albert int8``: ``precision="fast"`` / ``precision="int8"``;
- ``albert onnx fp32`` / ``albert onnx int8``: the exported graph in ONNX Runtime for every batch.

Useful work is counted on real tokens only (``common.encoder_flops_per_token``): padding a path
computes and throws away is not work. The fraction of peak is against the fp32 peak at the same
thread count (``fraction_of_fp32_peak``) and against the peak of the path's own arithmetic
(``fraction_of_own_peak``: bf16 for bf16 paths, the dynamic int8 linear for int8 paths).

    python bench/cpu_inference.py                                   # base shape + shipped model, 1 and 2 threads
    python bench/cpu_inference.py --shapes base --threads 1 --rounds 2
    python bench/cpu_inference.py --shapes small --model path/to/albert  # another trained folder

Rounds interleave everything (peaks, then each thread count, batch size and path in turn), so the
load of a shared machine (``os.getloadavg()``, recorded per round) weighs on all alike. Weights
are random for the ``base``/``small`` shapes (speed does not depend on them) and the shipped
model's for ``model``.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SHIPPED = common.REPO / "src" / "albert" / "models" / "albert-small-en"
#: (tokens, in, out) of the matrix multiplies that time the peak: a batch of 32 real sentences'
#: tokens through albert-base's feed-forward block and its fused QKV projection.
PEAK_SHAPES = ((512, 768, 3072), (512, 3072, 768), (512, 768, 2304))
#: The same multiplies for one sentence of this many tokens: what fp32 reaches at batch 1's shape
#: (``fp32_m24``), the ceiling a single text meets before any framework overhead.
SENTENCE_TOKENS = 24


# -- the roofline -------------------------------------------------------------------------------

def _rate(run: Callable[[], Any], flops: float, seconds: float = 0.25) -> float:
    """FLOP/s of ``run`` (``flops`` each), the best of three bursts of about ``seconds`` each."""
    run()
    start = time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-6)
    calls = max(1, int(seconds / once))
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(calls):
            run()
        best = max(best, calls * flops / (time.perf_counter() - start))
    return best


def matmul_rates() -> dict[str, float]:
    """This machine's matrix-multiply rates (FLOP/s) at the current thread count: per precision,
    the best of :data:`PEAK_SHAPES`."""
    rates: dict[str, float] = {}

    def keep(name: str, rate: float) -> None:
        rates[name] = max(rates.get(name, 0.0), rate)

    with torch.inference_mode():
        for tokens, inner, outer in PEAK_SHAPES:
            flops = 2.0 * tokens * inner * outer
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
                a, b = torch.randn(tokens, inner, dtype=dtype), torch.randn(inner, outer, dtype=dtype)
                keep(name, _rate(lambda a=a, b=b: torch.matmul(a, b), flops))
            sentence, weight = torch.randn(SENTENCE_TOKENS, inner), torch.randn(inner, outer)
            keep("fp32_m24", _rate(lambda a=sentence, b=weight: torch.matmul(a, b), 2.0 * SENTENCE_TOKENS * inner * outer))
            linear = torch.nn.Sequential(torch.nn.Linear(inner, outer))
            quantized = _dynamic_int8(linear)
            if quantized is not None:
                x = torch.randn(tokens, inner)
                keep("int8_dynamic_linear", _rate(lambda q=quantized, x=x: q(x), flops))
            try:
                a8 = torch.randint(-128, 127, (tokens, inner), dtype=torch.int8)
                b8 = torch.randint(-128, 127, (inner, outer), dtype=torch.int8)
                keep("int8_int_mm", _rate(lambda a=a8, b=b8: torch._int_mm(a, b), flops))
            except (RuntimeError, AttributeError):  # no int8 kernel for this CPU or torch
                pass
    return rates


def _dynamic_int8(module: torch.nn.Module) -> torch.nn.Module | None:
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
    except (RuntimeError, AttributeError):
        return None


# -- the paths ----------------------------------------------------------------------------------

def build_paths(folder: Path, threads: list[int], scratch: Path) -> tuple[dict[str, Any], dict[int, dict[str, Any]], Any]:
    """The contenders: thread-independent torch modules, then per thread count the ONNX Runtime
    sessions (whose threads are fixed when they open); and albert's fp32 model for agreement."""
    import transformers

    from albert import AlbertModel
    from albert.fast.cpu import OnnxModel
    from albert.fast.onnx_encoder import cached_export
    from albert.fast.onnx_export import quantize_int8

    fp32 = AlbertModel.from_pretrained(folder, fast=True)
    theirs = transformers.AlbertModel.from_pretrained(folder, attn_implementation="sdpa", dtype=torch.float32).eval()
    shared = {
        "transformers fp32": theirs,
        "transformers bf16": copy.deepcopy(theirs).to(torch.bfloat16),
        "albert fp32 torch": fp32,
    }
    try:  # (an albert from before precision= has no such paths: bench/before_after.py runs old trees)
        shared["albert bf16"] = AlbertModel.from_pretrained(folder, fast=True, precision="fast")
        shared["albert int8"] = AlbertModel.from_pretrained(folder, fast=True, precision="int8")
    except TypeError:
        print("  this albert has no precision=: bf16 and int8 paths left out")
    graph = cached_export(fp32)  # the default cache: a re-run on the same seed skips the export
    graph_int8 = quantize_int8(graph, scratch / "model.int8.onnx")
    per_threads: dict[int, dict[str, Any]] = {}
    for count in threads:
        torch.set_num_threads(count)  # the default path's ONNX session opens with torch's threads
        per_threads[count] = {
            "albert default": default_path(fp32),
            "albert onnx fp32": OnnxModel(graph, threads=count),
            "albert onnx int8": OnnxModel(graph_int8, threads=count),
        }
    return shared, per_threads, fp32


def default_path(fp32: Any) -> Any:
    """What the pipelines run without a flag on this CPU: a copy of the packed model with the
    small-batch ONNX back-end in front (its session opened now, at torch's current threads)."""
    try:
        from albert.fast.onnx_encoder import use_onnx_for_small_batches
    except ImportError:  # an albert from before it: the default was the packed torch path
        return fp32
    default = use_onnx_for_small_batches(copy.deepcopy(fp32))
    with torch.inference_mode():
        default(**common.pad_batch([[2, 100, 200, 3]], torch.device("cpu")))
    return default


#: Which peak is a path's own arithmetic.
OWN_PEAK = {"bf16": "bf16", "int8": "int8_dynamic_linear"}


def own_peak_name(path: str) -> str:
    return next((peak for marker, peak in OWN_PEAK.items() if marker in path), "fp32")


def agreement(paths: dict[str, Any], reference: Any, batch: dict[str, torch.Tensor]) -> dict[str, dict[str, float]]:
    """Each path's last hidden state against transformers fp32 at real tokens: max abs difference
    and mean / min cosine."""
    real = batch["attention_mask"].bool()
    report = {}
    with torch.inference_mode():
        want = reference(**batch)["last_hidden_state"].float()[real]
        for name, model in paths.items():
            got = model(**batch)["last_hidden_state"].float()[real]
            cosine = torch.nn.functional.cosine_similarity(want, got, dim=-1)
            report[name] = {"max_abs_diff": float((want - got).abs().max()), "mean_cosine": float(cosine.mean()),
                            "min_cosine": float(cosine.min())}  # fmt: skip
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu (the only device this script measures)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default=None, help="results file name (default: cpu_inference-<cpu>-roofline)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts, each timed in every round")
    parser.add_argument("--shapes", default="base,model",
                        help="comma-separated: base, small, large (random weights), model (the --model folder)")
    parser.add_argument("--model", default=str(SHIPPED), help="the trained folder timed as shape 'model' (default: shipped)")
    parser.add_argument("--latency-sentences", type=int, default=12, help="sentences run one at a time (batch 1)")
    parser.add_argument("--batches", type=int, default=1, help="batches of --batch-size timed for throughput")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (after one warm-up round)")
    parser.add_argument("--paths", default=None, help="comma-separated subset of the paths (default: all)")
    parser.add_argument("--crossover", default="1,2,4,8,16,32",
                        help="batch sizes at which the packed torch path and ONNX Runtime (as the default path opens "
                        "it) are also timed against each other, on the first thread count ('' to skip)")
    args = parser.parse_args()

    logging.getLogger("albert").setLevel(logging.ERROR)
    device = torch.device("cpu")
    threads = [int(value) for value in args.threads.split(",")]
    sentences = common.real_sentences(args.latency_sentences + args.batches * args.batch_size, args.seed)
    results: dict[str, Any] = {
        "environment": common.environment(device), "threads": threads, "batch_size": args.batch_size,
        "latency_sentences": args.latency_sentences, "throughput_batches": args.batches, "rounds": args.rounds,
        "load_average_at_start": os.getloadavg(), "load_average_per_round": [], "peaks_per_round": [], "shapes": {},
    }  # fmt: skip
    flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[-1].split("\n", 1)[0].split() if Path("/proc/cpuinfo").exists() else []
    results["environment"]["cpu_flags"] = sorted(flag for flag in flags if "avx512" in flag or "amx" in flag or "vnni" in flag)

    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        setups = {}
        crossover_inputs: dict[str, tuple[Any, list[list[int]]]] = {}
        for shape in args.shapes.split(","):
            if shape == "model":
                folder, weights = Path(args.model), f"trained ({Path(args.model).name})"
            else:
                folder = common.random_checkpoint("AlbertModel", shape, scratch / shape, seed=args.seed)
                weights = "random"
            print(f"{shape}: loading every path, exporting the ONNX graph (verified against torch) ...", flush=True)
            shared, per_threads, fp32 = build_paths(folder, threads, scratch / f"{shape}-export")
            rows = common.tokenize(sentences, fp32.config.max_position_embeddings, None if shape != "model" else folder)
            latency_rows, throughput_rows = rows[: args.latency_sentences], rows[args.latency_sentences:]
            batches = {
                1: [common.pad_batch([row], device) for row in latency_rows],
                args.batch_size: [common.pad_batch(b, device) for b in common.batches_of(throughput_rows, args.batch_size)],
            }
            wanted = None if args.paths is None else set(args.paths.split(","))
            names = [n for n in [*shared, *per_threads[threads[0]]] if wanted is None or n in wanted]
            if "transformers fp32" not in names:
                names.insert(0, "transformers fp32")
            every = {**shared, **per_threads[threads[0]]}
            results["shapes"][shape] = entry = {
                "weights": weights, "config": {k: getattr(fp32.config, k) for k in common.SMALL_SHAPE},
                "agreement_vs_transformers_fp32": {
                    f"batch {size}": agreement({n: every[n] for n in names if n != "transformers fp32"},
                                               shared["transformers fp32"], batches[size][0])
                    for size in batches
                },
                "settings": {},
            }  # fmt: skip
            for size, chosen in batches.items():
                lengths = [int(length) for b in chosen for length in b["attention_mask"].sum(1)]
                entry["settings"][f"batch {size}"] = {
                    "real_tokens": sum(lengths), "padded_tokens": sum(b["input_ids"].numel() for b in chosen),
                    "flops_per_real_token": common.encoder_flops_per_token(fp32.config, common.mean_attended_length(lengths)),
                }  # fmt: skip
            setups[shape] = (shared, per_threads, names, batches)
            crossover_inputs[shape] = (fp32, throughput_rows)
            for name in names:
                if name in ("albert default", "albert fp32 torch", "albert onnx fp32"):
                    for size in batches:
                        common.check_agreement(f"{shape} {name} batch {size}",
                                               entry["agreement_vs_transformers_fp32"][f"batch {size}"][name]["max_abs_diff"],
                                               torch.float32)  # fmt: skip

        seconds: dict[tuple[str, int, int, str], list[float]] = {}
        sizes = [int(size) for size in args.crossover.split(",") if size.strip()]
        if sizes:
            torch.set_num_threads(threads[0])
            for shape, (fp32, rows) in crossover_inputs.items():
                results["shapes"][shape]["crossover"] = crossover(fp32, rows, sizes, threads[0], args.rounds)
        for round_index in range(args.rounds + 1):  # round 0 warms up
            started = time.perf_counter()
            peaks = {}
            for count in threads:
                torch.set_num_threads(count)
                peaks[count] = matmul_rates()
            if round_index:
                results["peaks_per_round"].append({str(count): rates for count, rates in peaks.items()})
            for shape, (shared, per_threads, names, batches) in setups.items():
                for count in threads:
                    torch.set_num_threads(count)
                    paths = {**shared, **per_threads[count]}
                    for size, chosen in batches.items():
                        with torch.inference_mode():
                            for name in names:
                                model = paths[name]
                                start = time.perf_counter()
                                for batch in chosen:
                                    model(**batch)
                                if round_index:
                                    seconds.setdefault((shape, count, size, name), []).append(time.perf_counter() - start)
            if round_index:
                results["load_average_per_round"].append(os.getloadavg())
            print(f"round {round_index}{' (warm-up)' if not round_index else ''}: {time.perf_counter() - started:.0f} s, "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)

    summarize(results, seconds, threads)
    name = args.name or f"cpu_inference-{common.device_tag(device)}-roofline"
    common.write_results(name, results)
    charts(name, results)


def crossover(fp32: Any, rows: list[list[int]], sizes: list[int], threads: int, rounds: int) -> dict[str, Any]:
    """ONNX Runtime's speed over the packed torch path's at each batch size (the same rows, cut
    into batches of that size, rounds alternating): where the default path should switch."""
    from albert.fast.cpu import OnnxModel
    from albert.fast.onnx_encoder import cached_export

    session = OnnxModel(cached_export(fp32), threads=threads, spinning=False)  # as SmallBatchOnnx opens it
    report: dict[str, Any] = {"threads": threads, "rows": len(rows), "onnx_over_torch": {}}
    for size in sizes:
        batches = [common.pad_batch(chunk, torch.device("cpu")) for chunk in common.batches_of(rows, size)]
        timed: dict[str, list[float]] = {"torch": [], "onnx": []}
        with torch.inference_mode():
            for round_index in range(rounds + 1):
                for name, model in (("torch", fp32), ("onnx", session)):
                    start = time.perf_counter()
                    for batch in batches:
                        model(**batch)
                    if round_index:
                        timed[name].append(time.perf_counter() - start)
        report["onnx_over_torch"][str(size)] = statistics.median(timed["torch"]) / statistics.median(timed["onnx"])
    print(f"  ONNX Runtime / packed torch, {threads} thread(s), by batch size: "
          + ", ".join(f"{size}: {ratio:.2f}x" for size, ratio in report["onnx_over_torch"].items()), flush=True)
    return report


def summarize(results: dict[str, Any], seconds: dict[tuple[str, int, int, str], list[float]], threads: list[int]) -> None:
    """Medians over rounds: peaks, then per shape, threads and batch size each path's real tokens/s,
    useful FLOP/s, fractions of peak and ratio to transformers fp32; printed as a table."""
    peaks = {
        str(count): {kind: statistics.median(r[str(count)][kind] for r in results["peaks_per_round"])
                     for kind in results["peaks_per_round"][0][str(count)]}
        for count in threads
    }  # fmt: skip
    results["peaks"] = peaks
    for count, rates in peaks.items():
        print(f"peak, {count} thread{'s' * (count != '1')}: " + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in rates.items()))
    for shape, entry in results["shapes"].items():
        entry["table"] = []
        for (key_shape, count, size, name), runs in sorted(seconds.items()):
            if key_shape != shape:
                continue
            setting = entry["settings"][f"batch {size}"]
            median = statistics.median(runs)
            tokens_per_s = setting["real_tokens"] / median
            useful = tokens_per_s * setting["flops_per_real_token"]
            # The peak is the best burst; the fastest round is the like-for-like figure on a busy machine.
            useful_best = setting["real_tokens"] / min(runs) * setting["flops_per_real_token"]
            peak = peaks[str(count)]
            entry["table"].append({
                "path": name, "threads": count, "batch_size": size, "median_s": median, "runs_s": runs,
                "real_tokens_per_s": tokens_per_s, "useful_gflops": useful / 1e9,
                "fraction_of_fp32_peak": useful / peak["fp32"],
                "fraction_of_fp32_peak_best_round": useful_best / peak["fp32"],
                "fraction_of_fp32_m24_rate": useful / peak["fp32_m24"],
                "fraction_of_own_peak": useful / peak.get(own_peak_name(name), peak["fp32"]),
                "latency_ms_per_sentence": None,
            })  # fmt: skip
        for row in entry["table"]:
            if row["batch_size"] == 1:
                sentences = results["latency_sentences"]
                row["latency_ms_per_sentence"] = 1e3 * row["median_s"] / sentences
            baseline = next(r for r in entry["table"] if r["path"] == "transformers fp32"
                            and r["threads"] == row["threads"] and r["batch_size"] == row["batch_size"])  # fmt: skip
            row["speedup_vs_transformers_fp32"] = row["real_tokens_per_s"] / baseline["real_tokens_per_s"]
        print(f"\n{shape} ({entry['weights']} weights)")
        print(f"  {'path':20s} {'thr':>3s} {'batch':>5s} {'tok/s':>8s} {'GFLOP/s':>8s} {'of fp32 peak':>12s} "
              f"{'(best)':>7s} {'of own':>7s} {'vs hf':>6s}")
        for row in entry["table"]:
            print(f"  {row['path']:20s} {row['threads']:3d} {row['batch_size']:5d} {row['real_tokens_per_s']:8.0f} "
                  f"{row['useful_gflops']:8.1f} {row['fraction_of_fp32_peak']:12.0%} {row['fraction_of_fp32_peak_best_round']:7.0%} "
                  f"{row['fraction_of_own_peak']:7.0%} {row['speedup_vs_transformers_fp32']:5.2f}x")
    results["load_average_at_end"] = os.getloadavg()


def charts(name: str, results: dict[str, Any]) -> None:
    """Per shape: the fraction of the fp32 peak and real tokens/s, one group per threads and batch size."""
    device = results["environment"]["device"]
    note = f"load average {results['load_average_at_start'][0]:.1f} at start, {results['load_average_at_end'][0]:.1f} at end"
    for shape, entry in results["shapes"].items():
        fraction: dict[str, dict[str, float]] = {}
        tokens: dict[str, dict[str, float]] = {}
        for row in entry["table"]:
            group = f"batch {row['batch_size']}, {row['threads']} thread{'s' * (row['threads'] != 1)}"
            fraction.setdefault(group, {})[row["path"]] = round(row["fraction_of_fp32_peak"], 2)
            tokens.setdefault(group, {})[row["path"]] = round(row["real_tokens_per_s"])
        common.bar_chart(f"{name}-{shape}", f"{shape}: useful FLOP/s / measured fp32 matmul peak, {device}", fraction,
                         "fraction of fp32 peak (real tokens only)", note=note)
        common.bar_chart(f"{name}-{shape}-tokens", f"{shape}: real tokens per second, {device}", tokens, "real tokens / s",
                         note=note)


if __name__ == "__main__":
    main()
