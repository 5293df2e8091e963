"""CPU inference in JAX: the jitted Flax model against albert's torch paths and transformers.

For each shape (``model``: the shipped albert-small-en with its trained weights; ``base``:
base-shaped random weights; ``check``: tiny, to check the script), one folder goes into
transformers (``AlbertModel``, ``attn_implementation="sdpa"``), albert's torch ``AlbertModel`` on
its default (SDPA, padded) and packed paths, and ``albert.flax.FlaxAlbertModel`` compiled with
``jax.jit`` over its split state (the lowest per-call overhead; ``nnx.jit`` re-walks the module
graph on every call), all fp32. Inputs are real sentences in the order users send them; every
batch is right-padded to a multiple of ``--pad-to`` pieces and the very same arrays go to every
contender (JAX compiles once per shape; the warm-up round compiles each one, and the compile
time is reported on its own). Agreement with transformers is checked at real tokens first.

    python bench/jax_cpu.py --threads 1                 # the shipped model and base, 1 thread each
    python bench/jax_cpu.py --threads 2 --shapes model  # when the machine is quiet

``--threads 1`` also gives XLA one thread (``--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1``); the flags are set before JAX is imported and recorded.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SHIPPED = "albert-small-en"


def xla_thread_flags(threads: int) -> str:
    """XLA's CPU flags for ``threads`` threads, added to any XLA_FLAGS already set."""
    flags = [f"--xla_cpu_multi_thread_eigen={'false' if threads == 1 else 'true'}",
             f"intra_op_parallelism_threads={threads}"]
    return " ".join([os.environ.get("XLA_FLAGS", ""), *flags]).strip()


def padded_batch(rows: list[list[int]], multiple: int) -> dict[str, torch.Tensor]:
    """``common.pad_batch``, with the width rounded up to a multiple of ``multiple``."""
    batch = common.pad_batch(rows, torch.device("cpu"))
    width = batch["input_ids"].shape[1]
    extra = -width % multiple
    return {name: torch.nn.functional.pad(tensor, (0, extra)) for name, tensor in batch.items()}


def jitted_forward(model):
    """``batch -> last_hidden_state`` of a Flax model, compiled with ``jax.jit`` over its split
    state (imports JAX, so call it after the XLA flags are set)."""
    import jax
    from flax import nnx

    graphdef, state = nnx.split(model)
    compiled = jax.jit(lambda state, batch: nnx.merge(graphdef, state)(**batch).last_hidden_state)
    return lambda batch: compiled(state, batch)


def on_batches(forward, batches: list[dict]):
    """A contender for ``common.time_interleaved``: the JAX ``forward`` on every batch, waited for."""
    import jax

    def run() -> None:
        for batch in batches:
            jax.block_until_ready(forward(batch))

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.common_arguments(parser)
    parser.add_argument("--shapes", default="model,base", help="comma-separated: model (the shipped weights), "
                        "small, base, check")
    parser.add_argument("--latency-sentences", type=int, default=16, help="sentences timed one at a time")
    parser.add_argument("--batches", type=int, default=3, help="batches timed for throughput")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pad-to", type=int, default=16, help="pad every batch to a multiple of this many pieces")
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()
    if args.device not in ("auto", "cpu"):
        parser.error(f"this benchmark measures the CPU; --device {args.device} is not one it runs on")
    args.threads = args.threads or os.cpu_count()
    os.environ["XLA_FLAGS"] = xla_thread_flags(args.threads)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

    import flax
    import jax
    import jax.numpy as jnp

    import albert
    from albert.flax import FlaxAlbertModel
    from albert.hub import shipped_models

    logging.getLogger("albert").setLevel(logging.ERROR)
    common.apply_threads(args.threads)
    device = torch.device("cpu")
    results: dict = {
        "environment": {**common.environment(device), "jax": jax.__version__, "flax": flax.__version__,
                        "jax_device": str(jax.devices()[0]), "xla_flags": os.environ["XLA_FLAGS"]},
        "threads": args.threads,
        "inputs": f"real sentences in user order, right-padded to a multiple of {args.pad_to} pieces; the same "
                  "arrays for every contender",
        "note": "the CPU was shared with other work during this run (see the load averages); every ratio "
                "compares contenders timed in alternation in this one run",
        "shapes": [],
    }
    chart: dict[str, dict[str, float]] = {}
    sentences = common.real_sentences(args.latency_sentences + args.batches * args.batch_size, args.seed)

    for shape in args.shapes.split(","):
        with tempfile.TemporaryDirectory() as scratch:
            if shape == "model":
                folder, weights = shipped_models()[SHIPPED], f"{SHIPPED} (trained, shipped with the package)"
                rows = common.tokenize(sentences, args.max_length, folder)
            else:
                folder = common.random_checkpoint("AlbertModel", shape, Path(scratch) / "weights", seed=args.seed)
                weights = f"random, {shape}-shaped"
                rows = common.tokenize(sentences, args.max_length)
            ours, theirs = common.load_pair("AlbertModel", folder, device, torch.float32)
            packed = albert.AlbertModel.from_pretrained(folder, attn_implementation="packed")
            flax_model = FlaxAlbertModel.from_pretrained(folder)
        flax_forward = jitted_forward(flax_model)

        latency_batches = [padded_batch([row], args.pad_to) for row in rows[: args.latency_sentences]]
        throughput_batches = [padded_batch(chunk, args.pad_to)
                              for chunk in common.batches_of(rows[args.latency_sentences:], args.batch_size)]

        def on_jax(batches: list[dict[str, torch.Tensor]]) -> list[dict]:
            return [{name: jnp.asarray(tensor.numpy()) for name, tensor in batch.items()} for batch in batches]

        jax_latency, jax_throughput = on_jax(latency_batches), on_jax(throughput_batches)
        distinct = {tuple(batch["input_ids"].shape): batch for batch in jax_latency + jax_throughput}
        started = time.perf_counter()
        for batch in distinct.values():  # one compilation per shape, timed apart from the runs
            jax.block_until_ready(flax_forward(batch))
        compile_s = time.perf_counter() - started

        probe, jax_probe = throughput_batches[0], jax_throughput[0]
        with torch.inference_mode():
            want = theirs(**probe).last_hidden_state
            candidates = {
                "albert torch (sdpa)": ours(**probe).last_hidden_state,
                "albert torch (packed)": packed(**probe).last_hidden_state,
                "albert flax (jax.jit)": torch.from_numpy(np.array(flax_forward(jax_probe))),
            }
        agreement = {
            name: common.check_agreement(
                name, common.max_difference_at_real_tokens(got, want, probe["attention_mask"]), torch.float32
            )
            for name, got in candidates.items()
        }

        models = {"transformers": theirs, "albert torch (sdpa)": ours, "albert torch (packed)": packed}
        with torch.inference_mode():
            latency = common.time_interleaved(
                {**{n: common.over_batches(m, latency_batches) for n, m in models.items()},
                 "albert flax (jax.jit)": on_batches(flax_forward, jax_latency)}, device, args.repeats,
            )
            throughput = common.time_interleaved(
                {**{n: common.over_batches(m, throughput_batches) for n, m in models.items()},
                 "albert flax (jax.jit)": on_batches(flax_forward, jax_throughput)}, device, args.repeats,
            )

        real_tokens = sum(int(b["attention_mask"].sum()) for b in throughput_batches)
        latency_tokens = sum(int(b["attention_mask"].sum()) for b in latency_batches)
        entry: dict = {
            "shape": shape, "weights": weights,
            "config": {k: getattr(ours.config, k) for k in (*common.SMALL_SHAPE, "num_hidden_groups")},
            "agreement_vs_transformers": agreement,
            "jax_compile_s": compile_s, "jax_compiled_shapes": len(distinct),
            "latency_sentences": len(latency_batches), "latency_real_tokens": latency_tokens,
            "throughput_batches": len(throughput_batches), "batch_size": args.batch_size,
            "real_tokens": real_tokens, "padded_tokens": sum(b["input_ids"].numel() for b in throughput_batches),
            "implementations": {},
        }
        for name in latency:
            lat, thr = common.summary(latency[name]), common.summary(throughput[name])
            entry["implementations"][name] = {
                "batch1_latency_ms": 1e3 * lat["median_s"] / len(latency_batches),
                "batch1_latency_runs_s": latency[name],
                "batch1_real_tokens_per_s": latency_tokens / lat["median_s"],
                f"batch{args.batch_size}_real_tokens_per_s": real_tokens / thr["median_s"],
                f"batch{args.batch_size}_runs_s": throughput[name],
            }
        stats = entry["implementations"]
        key = f"batch{args.batch_size}_real_tokens_per_s"
        for reference in ("transformers", "albert torch (sdpa)"):
            entry[f"ratios_vs_{reference.replace(' ', '_').replace('(', '').replace(')', '')}"] = {
                name: {
                    "batch1_latency_speedup": stats[reference]["batch1_latency_ms"] / value["batch1_latency_ms"],
                    f"batch{args.batch_size}_throughput_speedup": value[key] / stats[reference][key],
                }
                for name, value in stats.items()
            }
        results["shapes"].append(entry)
        chart[f"{shape} batch 1"] = {name: value["batch1_real_tokens_per_s"] for name, value in stats.items()}
        chart[f"{shape} batch {args.batch_size}"] = {name: value[key] for name, value in stats.items()}
        print(f"{shape}: jax compiled {len(distinct)} shapes in {compile_s:.1f} s")
        for name, value in stats.items():
            ratio = entry["ratios_vs_transformers"][name]
            print(f"  {name:24s} batch 1: {value['batch1_latency_ms']:7.1f} ms ({ratio['batch1_latency_speedup']:.2f}x)  "
                  f"batch {args.batch_size}: {value[key]:7.0f} real tok/s "
                  f"({ratio[f'batch{args.batch_size}_throughput_speedup']:.2f}x vs transformers)")

    results["environment"]["load_average_at_end"] = os.getloadavg()
    name = args.name or f"jax_cpu-{common.device_tag(device)}-t{args.threads}"
    common.write_results(name, results)
    common.bar_chart(name, f"Real tokens / s (higher is better), {results['environment']['device']}", chart,
                     "real tokens / s", note=f"{args.threads} threads; fp32; same padded inputs for every contender")


if __name__ == "__main__":
    main()
