"""One pretraining step (MLM + SOP, bf16 autocast, AdamW): albert's fast path against transformers.

The same random ``AlbertForPreTraining`` weights are loaded into both; each step is forward,
backward and optimizer step on full-length sequences cut from real text (two segments each,
15% of tokens masked, random sentence order labels). The optimizer is the same for both
(``torch.optim.AdamW``, ``fused=True`` on a GPU), so the difference is the model: albert runs the
encoder unpadded and scores the 30k vocabulary only at the masked positions. Reported: tokens
per second, peak GPU memory, and both ratios.

    python bench/gpu_pretrain_step.py                  # on a GPU: batch 128 x 128 and 32 x 512
    python bench/gpu_pretrain_step.py --device cpu     # a correctness run on a tiny shape, fp32
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def pretraining_batch(rows: list[list[int]], batch_size: int, seq_len: int, vocab_size: int, seed: int, device):
    """Full-length sequences of real text: [CLS] A [SEP] B [SEP], 15% of A and B masked as BERT
    does (80% [MASK], 10% random, 10% kept), and sentence-order labels (1 = swapped)."""
    generator = torch.Generator().manual_seed(seed)
    stream = [token for row in rows for token in row[1:-1]]
    body = seq_len - 3
    input_ids = torch.zeros(batch_size, seq_len, dtype=torch.long)
    token_type_ids = torch.zeros_like(input_ids)
    order = torch.randint(0, 2, (batch_size,), generator=generator)
    for row in range(batch_size):
        start = (row * body) % max(1, len(stream) - body)
        first, second = stream[start:start + body // 2], stream[start + body // 2:start + body]
        if order[row]:
            first, second = second, first
        ids = [2, *first, 3, *second, 3]
        input_ids[row, : len(ids)] = torch.tensor(ids)
        token_type_ids[row, len(first) + 2: len(ids)] = 1
    special = (input_ids == 2) | (input_ids == 3) | (input_ids == 0)
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~special
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    action = torch.rand(input_ids.shape, generator=generator)
    masked_ids = input_ids.clone()
    masked_ids[chosen & (action < 0.8)] = 4
    random_ids = torch.randint(5, vocab_size, input_ids.shape, generator=generator)
    swap = chosen & (action >= 0.8) & (action < 0.9)
    masked_ids[swap] = random_ids[swap]
    batch = {
        "input_ids": masked_ids, "attention_mask": (input_ids != 0).long(), "token_type_ids": token_type_ids,
        "labels": labels, "sentence_order_label": order,
    }
    return {name: tensor.to(device) for name, tensor in batch.items()}


def train_steps(model, optimizer, batches, device, autocast_dtype) -> float:
    """Run one step per batch; seconds taken."""
    common.synchronize(device)
    start = time.perf_counter()
    for batch in batches:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
    common.synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.common_arguments(parser)
    parser.add_argument("--shape", default=None, help="base (default on GPU), large, ... or check (default on CPU)")
    parser.add_argument("--settings", default=None, help="BATCHxLENGTH list (default 128x128,32x512; CPU 4x32,2x64)")
    parser.add_argument("--dtype", default="bf16", help="autocast dtype on GPU (bf16); CPU runs fp32")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per round (default 10; CPU 2)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per implementation")
    parser.add_argument("--backend", default="auto", help="attention kernel of the fast path")
    parser.add_argument("--compile", action="store_true", help="also time the fast path with its layer block compiled")
    parser.add_argument("--profile", action="store_true", help="also profile two steps of each (kernel time, launches, top kernels)")
    args = parser.parse_args()

    from albert.devices import resolve_dtype
    from albert.fast import accelerate
    from albert.fast.compile import compile_fast

    device = common.resolve_bench_device(args.device)
    common.apply_threads(args.threads)
    on_gpu = device.type == "cuda"
    results_name = args.name or f"gpu_pretrain_step-{common.device_tag(device)}" + ("" if on_gpu else "-check")
    autocast_dtype = resolve_dtype(args.dtype) if on_gpu else None
    shape = args.shape or ("base" if on_gpu else "check")
    default_settings = "128x128,32x512" if on_gpu else "4x32,2x64"
    settings = [tuple(int(v) for v in s.split("x")) for s in (args.settings or default_settings).split(",")]
    steps = args.steps or (10 if on_gpu else 2)
    if not on_gpu:
        print(f"no GPU: running on CPU (fp32, shape {shape}); not GPU figures; peak memory needs CUDA and is not measured")

    rows = common.tokenize(common.real_sentences(4000, args.seed))
    results: dict = {
        "environment": common.environment(device), "shape": shape,
        "precision": f"autocast {autocast_dtype}" if autocast_dtype else "float32",
        "optimizer": f"torch.optim.AdamW(fused={on_gpu}) for both", "settings": [],
    }
    chart: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = common.random_checkpoint("AlbertForPreTraining", shape, Path(scratch), seed=args.seed)
        config = common.shape_config(shape)
        for batch_size, seq_len in settings:
            label = f"{batch_size}x{seq_len}"
            batches = [
                pretraining_batch(rows, batch_size, seq_len, config.vocab_size, args.seed + step, device)
                for step in range(steps)
            ]
            models = {}
            names = ["transformers", "albert fast"] + (["albert fast+compile"] if args.compile else [])
            for name in names:
                ours, theirs = common.load_pair("AlbertForPreTraining", folder, device, torch.float32)
                # Keep one copy per implementation on the device.
                model = theirs if name == "transformers" else accelerate(ours, args.backend)
                if name.endswith("+compile"):
                    # Every step has the same shape here, so no dynamic shapes.
                    compile_fast(model, dynamic=False, on_cpu=not on_gpu)
                del ours, theirs
                optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=on_gpu or None)
                models[name] = (model, optimizer)

            # Agreement: the first batch's loss, before any step, from the same weights.
            # (eval mode: the SOP head's dropout would draw different masks in the two models)
            losses = {}
            for name, (model, _) in models.items():
                model.eval()
                with torch.no_grad(), torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                    losses[name] = float(model(**batches[0]).loss)
                model.train()
            difference = max(abs(losses[name] - losses["transformers"]) for name in names[1:])
            limit = 1e-4 * max(1.0, abs(losses["transformers"])) if not on_gpu else 2e-2 * abs(losses["transformers"])
            agreement = {"loss": losses, "abs_diff": difference, "limit": limit, "agree": difference <= limit}
            shown = ", ".join(f"{name} {loss:.5f}" for name, loss in losses.items())
            print(f"{label}: first-step loss {shown} ({'ok' if agreement['agree'] else 'MISMATCH'})")

            seconds: dict[str, list[float]] = {name: [] for name in models}
            memory: dict[str, float | None] = {}
            for model, optimizer in models.values():  # warm-up: kernels, allocator, optimizer state
                train_steps(model, optimizer, batches[:1], device, autocast_dtype)
            for _ in range(args.rounds):
                for name, (model, optimizer) in models.items():
                    common.reset_peak_memory(device)
                    seconds[name].append(train_steps(model, optimizer, batches, device, autocast_dtype))
                    peak = common.peak_memory_gb(device)
                    memory[name] = max(memory.get(name) or 0.0, peak) if peak is not None else None
            entry = {"batch_size": batch_size, "seq_len": seq_len, "steps": steps, "agreement": agreement, "implementations": {}}
            for name, times in seconds.items():
                median = statistics.median(times)
                entry["implementations"][name] = {
                    "median_s": median, "runs": times, "tokens_per_s": batch_size * seq_len * steps / median,
                    "peak_memory_gb": memory[name],
                }
            ours_stats, theirs_stats = entry["implementations"]["albert fast"], entry["implementations"]["transformers"]
            entry["speedup_vs_transformers"] = ours_stats["tokens_per_s"] / theirs_stats["tokens_per_s"]
            if ours_stats["peak_memory_gb"] and theirs_stats["peak_memory_gb"]:
                entry["memory_ratio_vs_transformers"] = ours_stats["peak_memory_gb"] / theirs_stats["peak_memory_gb"]
            for name in names[1:]:  # every albert variant, against transformers
                stats = entry["implementations"][name]
                stats["speedup_vs_transformers"] = stats["tokens_per_s"] / theirs_stats["tokens_per_s"]
                if stats["peak_memory_gb"] and theirs_stats["peak_memory_gb"]:
                    stats["memory_ratio_vs_transformers"] = stats["peak_memory_gb"] / theirs_stats["peak_memory_gb"]
            if args.profile:  # after the timing, so the profiler's overhead touches no figure above
                for name, (model, optimizer) in models.items():
                    two_steps = functools.partial(train_steps, model, optimizer, batches[:2], device, autocast_dtype)
                    profile = common.profile_call(two_steps, device)
                    entry["implementations"][name]["profile_2_steps"] = profile
                    common.print_profile(f"{label} {name} (2 steps)", profile)
            results["settings"].append(entry)
            common.write_results(results_name, results, quiet=True)  # so a run stopped early keeps what it measured
            chart[label] = {name: stats["tokens_per_s"] / 1e3 for name, stats in entry["implementations"].items()}
            memory_note = (f", peak memory {ours_stats['peak_memory_gb']:.2f} vs {theirs_stats['peak_memory_gb']:.2f} GB"
                           if ours_stats["peak_memory_gb"] else "")
            print(f"  tokens/s: transformers {theirs_stats['tokens_per_s']:.4g}, albert fast {ours_stats['tokens_per_s']:.4g} "
                  f"= {entry['speedup_vs_transformers']:.2f}x{memory_note}")
            for name in names[2:]:
                stats = entry["implementations"][name]
                print(f"  {name}: {stats['tokens_per_s']:.4g} tokens/s = {stats['speedup_vs_transformers']:.2f}x")
            del models, batches
            if on_gpu:
                torch.cuda.empty_cache()

    common.write_results(results_name, results)
    common.bar_chart(
        results_name, f"Pretraining step ({shape}), tokens/s (k), {results['environment']['device']}", chart, "tokens / s (k)",
        note=f"{results['precision']}; {results['optimizer']}; random weights"
        + ("" if on_gpu else "; CPU run in fp32: not GPU figures"),
    )


if __name__ == "__main__":
    main()
