"""The pretraining head: 30,000-way logits at every position against logits at masked positions only.

``AlbertForPreTraining(labels=...)`` (like transformers) runs the MLM head on all B x S positions
and lets the loss ignore 85% of them; ``albert.training.pretraining.trainer.PretrainingObjective`` gathers
the ~15% masked positions first and runs the head on those alone. The loss is the same (checked
here, and in tests/training/pretraining/test_pretrain_objective.py); this script measures what the difference costs:
seconds per training step (forward + backward) and peak memory, for the same weights and batch.

    python bench/pretrain_head.py --device cpu --shape small --threads 1     # CPU (the default run)
    python bench/pretrain_head.py                                            # on a GPU: base, bf16 autocast

Writes ``bench/results/pretrain_head_<device>.json``. On a CPU, the memory of a step is the peak
resident set of a fresh process running that variant alone (sampled every millisecond during
two steps) above its resident set just before them; on a GPU it is torch's peak allocation.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

VARIANTS = ("full_logits", "masked_only")


def make_batch(batch_size: int, seq_len: int, vocab_size: int, seed: int, device: torch.device) -> dict:
    """Full-length rows [CLS] A [SEP] B [SEP]; 15% of the tokens predicted (capped as in training)."""
    from albert.training.pretraining.masking import default_max_predictions

    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, vocab_size, (batch_size, seq_len), generator=generator)
    half = seq_len // 2
    input_ids[:, 0], input_ids[:, half], input_ids[:, -1] = 2, 3, 3
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, half + 1:] = 1
    scores = torch.rand(batch_size, seq_len, generator=generator)
    scores[:, [0, half, seq_len - 1]] = 2.0  # never predict [CLS]/[SEP]
    chosen = scores.argsort(dim=1)[:, : default_max_predictions(seq_len)]
    labels = torch.full_like(input_ids, -100)
    labels.scatter_(1, chosen, input_ids.gather(1, chosen))
    input_ids.scatter_(1, chosen, 4)
    batch = {
        "input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "token_type_ids": token_type_ids,
        "labels": labels, "sentence_order_label": torch.randint(0, 2, (batch_size,), generator=generator),
    }
    return {name: tensor.to(device) for name, tensor in batch.items()}


def training_steps(model: torch.nn.Module, batch: dict, device: torch.device):
    """One callable per variant: forward + backward of the pretraining loss."""
    from albert.training.pretraining.trainer import PretrainingObjective

    objective = PretrainingObjective(model)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()

    def full_logits() -> torch.Tensor:
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        return loss.detach()

    def masked_only() -> torch.Tensor:
        with autocast:
            loss = objective(**batch)["loss"]
        loss.backward()
        model.zero_grad(set_to_none=True)
        return loss.detach()

    return {"full_logits": full_logits, "masked_only": masked_only}


def build(args: argparse.Namespace, device: torch.device):
    from albert import AlbertForPreTraining

    torch.manual_seed(args.seed)
    config = common.shape_config(args.shape)
    model = AlbertForPreTraining(config).to(device).train()
    return model, make_batch(args.batch_size, args.seq_len, config.vocab_size, args.seed, device)


def _resident_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def measure_cpu_memory(args: argparse.Namespace) -> None:
    """Child process: run one variant and print, as JSON, its peak resident memory during a step
    above the resident memory just before it (sampled every millisecond), in MB."""
    common.apply_threads(args.threads)
    device = torch.device("cpu")
    model, batch = build(args, device)
    step = training_steps(model, batch, device)[args.measure_memory]
    step()  # warm up: lazily created buffers are not what we measure
    before = _resident_mb()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _resident_mb())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for _ in range(2):
        step()
    done.set()
    sampler.join()
    print(json.dumps({"resident_before_step_mb": before, "peak_resident_mb": peak[0], "step_mb": peak[0] - before}))


def cpu_memory(args: argparse.Namespace, variant: str) -> dict:
    command = [sys.executable, __file__, "--measure-memory", variant, "--shape", args.shape, "--batch-size",
               str(args.batch_size), "--seq-len", str(args.seq_len), "--seed", str(args.seed)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_arguments(parser)
    parser.add_argument("--shape", default=None, help="base (GPU default), small (CPU default), large, check")
    parser.add_argument("--batch-size", type=int, default=None, help="rows (default: 128 on GPU, 8 on CPU)")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=None, help="timed steps per variant (GPU 20, CPU 3)")
    parser.add_argument("--measure-memory", choices=VARIANTS, help=argparse.SUPPRESS)  # internal: CPU child
    args = parser.parse_args()
    device = common.resolve_bench_device(args.device)
    on_gpu = device.type == "cuda"
    args.shape = args.shape or ("base" if on_gpu else "small")
    args.batch_size = args.batch_size or (128 if on_gpu else 8)
    args.repeats = args.repeats or (20 if on_gpu else 3)
    if args.measure_memory:
        measure_cpu_memory(args)
        return
    common.apply_threads(args.threads)

    model, batch = build(args, device)
    steps = training_steps(model, batch, device)

    # The same loss, up to float rounding (compared in eval mode: the SOP head has dropout).
    model.eval()
    losses = {name: float(step()) for name, step in steps.items()}
    model.train()
    difference = abs(losses["full_logits"] - losses["masked_only"])
    seconds = common.time_interleaved(steps, device, repeats=args.repeats, warmup=1)

    memory: dict[str, dict] = {}
    for name, step in steps.items():
        if on_gpu:
            common.reset_peak_memory(device)
            step()
            memory[name] = {"peak_mb": torch.cuda.max_memory_allocated(device) / 2**20}
        else:
            memory[name] = cpu_memory(args, name)

    config = model.config
    predicted = int((batch["labels"] != -100).sum())
    tokens = args.batch_size * args.seq_len
    bytes_per_logit = 2 if on_gpu else 4
    results = {
        "environment": common.environment(device),
        "shape": args.shape,
        "config": {k: getattr(config, k) for k in ("vocab_size", "embedding_size", "hidden_size", "num_hidden_layers")},
        "batch_size": args.batch_size,
        "seq_len": args.seq_len,
        "predicted_positions": predicted,
        "positions": tokens,
        "autocast": "bf16" if on_gpu else "fp32",
        "loss": {**losses, "abs_difference": difference},
        "logits_mb": {
            "full_logits": tokens * config.vocab_size * bytes_per_logit / 2**20,
            "masked_only": predicted * config.vocab_size * bytes_per_logit / 2**20,
        },
        "seconds_per_step": {name: common.summary(values) for name, values in seconds.items()},
        "memory": memory,
    }
    full, masked = (results["seconds_per_step"][v]["median_s"] for v in VARIANTS)
    results["speedup"] = full / masked
    memory_key = "peak_mb" if on_gpu else "step_mb"
    results["memory_saving"] = 1 - memory["masked_only"][memory_key] / memory["full_logits"][memory_key]
    name = args.name or f"pretrain_head_{common.device_tag(device)}"
    common.write_results(name, results)
    print(
        f"{args.shape} {args.batch_size}x{args.seq_len} on {results['environment']['device']}: "
        f"full logits {full:.3f} s/step, masked only {masked:.3f} s/step ({results['speedup']:.2f}x); "
        f"step memory {memory['full_logits'][memory_key]:.0f} MB -> {memory['masked_only'][memory_key]:.0f} MB; "
        f"loss difference {difference:.2e}"
    )


if __name__ == "__main__":
    main()
