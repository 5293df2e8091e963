"""GPU inference on real variable-length text: albert's fast path against transformers.

For each model shape (base, large, xxlarge) and batch size (64, 512): the same random weights are
loaded into albert (unpadded fast path) and into transformers (``AlbertModel``,
``attn_implementation="sdpa"``), in the same dtype (bf16 by default); batches are real sentences
in the order they come (not sorted by length), padded to their longest row as a user would send
them. Reported: real (non-padding) tokens per second, the ratio, and MFU (model FLOPs on real
tokens over the GPU's dense peak).

    python bench/gpu_inference.py                      # on a GPU: the real figures
    python bench/gpu_inference.py --device cpu         # a correctness run on tiny shapes, fp32
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.common_arguments(parser)
    parser.add_argument("--shapes", default=None, help="comma-separated: base,large,xlarge,xxlarge,small,check")
    parser.add_argument("--batch-sizes", default=None, help="comma-separated (default 64,512; on CPU 8,32)")
    parser.add_argument("--dtype", default="bf16", help="bf16 (default on GPU) or fp32 (always on CPU)")
    parser.add_argument("--batches", type=int, default=None, help="timed batches per setting (default 20; CPU 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes over those batches")
    parser.add_argument("--backend", default="auto", help="attention kernel of the fast path")
    parser.add_argument("--compile", action="store_true", help="also time the fast path with its layer block compiled")
    parser.add_argument("--graphs", action="store_true", help="also time the fast path replayed from CUDA graphs")
    parser.add_argument("--profile", action="store_true", help="also profile two batches of each (kernel time, launches, top kernels)")
    args = parser.parse_args()

    from albert.devices import resolve_dtype
    from albert.fast import accelerate
    from albert.fast.compile import compile_fast
    from albert.fast.graphs import graphed_encoder, use_cuda_graphs

    device = common.resolve_bench_device(args.device)
    common.apply_threads(args.threads)
    on_gpu = device.type == "cuda"
    results_name = args.name or f"gpu_inference-{common.device_tag(device)}" + ("" if on_gpu else "-check")
    dtype = resolve_dtype(args.dtype) if on_gpu else torch.float32
    shapes = (args.shapes or ("base,large,xxlarge" if on_gpu else "check")).split(",")
    batch_sizes = [int(b) for b in (args.batch_sizes or ("64,512" if on_gpu else "8,32")).split(",")]
    num_batches = args.batches or (20 if on_gpu else 2)
    if not on_gpu:
        print(f"no GPU: running on CPU (fp32, shapes {','.join(shapes)}); these timings are not GPU figures")

    sentences = common.real_sentences(max(batch_sizes) * num_batches, args.seed)
    rows = common.tokenize(sentences)
    peak = common.peak_flops(device)
    results: dict = {"environment": common.environment(device), "dtype": str(dtype), "settings": []}
    chart: dict[str, dict[str, float]] = {}
    scale, unit = (1e6, "M") if on_gpu else (1e3, "k")

    for shape in shapes:
        with tempfile.TemporaryDirectory() as scratch:
            folder = common.random_checkpoint("AlbertModel", shape, Path(scratch), seed=args.seed)
            ours, theirs = common.load_pair("AlbertModel", folder, device, dtype)
        reference = None if on_gpu else ours  # the reference padded path is timed on the CPU check only
        fast = accelerate(copy.deepcopy(ours) if reference is not None else ours, args.backend)
        # Variants of the fast path, each on its own copy of the weights.
        variants = {"albert fast": fast}
        if args.compile:
            variants["albert fast+compile"] = compile_fast(copy.deepcopy(fast), on_cpu=not on_gpu)
        if args.graphs:
            # Off a GPU the bucketing runs eagerly (capture=False): a correctness check, not a speed one.
            variants["albert fast+graphs"] = use_cuda_graphs(copy.deepcopy(fast), capture=on_gpu)
        if args.compile and args.graphs:
            variants["albert fast+compile+graphs"] = use_cuda_graphs(
                compile_fast(copy.deepcopy(fast), on_cpu=not on_gpu), capture=on_gpu
            )
        config = fast.config
        for batch_size in batch_sizes:
            chosen = common.batches_of(rows, batch_size)[:num_batches]
            batches = [common.pad_batch(batch, device) for batch in chosen]
            lengths = [len(row) for batch in chosen for row in batch]
            real_tokens = sum(lengths)
            padded_tokens = sum(b["input_ids"].numel() for b in batches)
            label = f"{shape} b{batch_size}"
            print(f"{label}: {len(batches)} batches, {real_tokens} real of {padded_tokens} padded tokens")

            with torch.inference_mode():
                first = batches[0]
                theirs_first = theirs(**first).last_hidden_state
                agreement = {
                    name: common.check_agreement(
                        f"{label} {name}",
                        common.max_difference_at_real_tokens(
                            model(**first).last_hidden_state, theirs_first, first["attention_mask"]
                        ),
                        dtype,
                    )
                    for name, model in variants.items()
                }
                contenders = {"transformers": common.over_batches(theirs, batches)}
                contenders.update({name: common.over_batches(model, batches) for name, model in variants.items()})
                if reference is not None:
                    contenders["albert reference"] = common.over_batches(reference, batches)
                common.reset_peak_memory(device)
                seconds = common.time_interleaved(contenders, device, args.repeats)

            flops_per_token = common.encoder_flops_per_token(config, common.mean_attended_length(lengths))
            entry = {
                "shape": shape, "batch_size": batch_size, "batches": len(batches),
                "real_tokens": real_tokens, "padded_tokens": padded_tokens, "agreement": agreement,
                "flops_per_real_token": flops_per_token, "implementations": {},
            }
            for name, times in seconds.items():
                stats = common.summary(times)
                tokens_per_s = real_tokens / stats["median_s"]
                stats["real_tokens_per_s"] = tokens_per_s
                stats["mfu"] = tokens_per_s * flops_per_token / peak if peak else None
                entry["implementations"][name] = stats
            base_rate = entry["implementations"]["transformers"]["real_tokens_per_s"]
            entry["speedup_vs_transformers"] = {
                name: stats["real_tokens_per_s"] / base_rate for name, stats in entry["implementations"].items()
            }
            entry["peak_memory_gb"] = common.peak_memory_gb(device)
            for name, model in variants.items():
                runner = graphed_encoder(model)
                if runner is not None:  # how many graphs the batches needed (captured in the warm-up round)
                    entry["implementations"][name].update(graphs=runner.num_graphs, captures=runner.captures)
            if args.profile:  # after the timing, so the profiler's overhead touches no figure above
                profiled = {"transformers": theirs, **variants}
                for name, model in profiled.items():
                    with torch.inference_mode():
                        profile = common.profile_call(common.over_batches(model, batches[:2]), device)
                    entry["implementations"][name]["profile_2_batches"] = profile
                    common.print_profile(f"{label} {name} (2 batches)", profile)
            results["settings"].append(entry)
            common.write_results(results_name, results, quiet=True)  # so a run stopped early keeps what it measured
            chart[label] = {name: s["real_tokens_per_s"] / scale for name, s in entry["implementations"].items()}
            summary = ", ".join(
                f"{name} {s['real_tokens_per_s'] / scale:.3g}{unit} tok/s"
                + (f" (MFU {s['mfu']:.1%})" if s["mfu"] else "")
                for name, s in entry["implementations"].items()
            )
            ratios = ", ".join(
                f"{name} {entry['speedup_vs_transformers'][name]:.2f}x" for name in variants
            )
            print(f"  {summary}; vs transformers: {ratios}")
        del ours, theirs, fast, variants
        if on_gpu:
            torch.cuda.empty_cache()

    common.write_results(results_name, results)
    common.bar_chart(
        results_name, f"Inference, real tokens/s ({unit}), {results['environment']['device']}, {str(dtype).replace('torch.', '')}",
        chart, f"real tokens / s ({unit})",
        note="random weights; same weights and batches for every implementation"
        + ("" if on_gpu else "; CPU run in fp32: not GPU figures"),
    )


if __name__ == "__main__":
    main()
