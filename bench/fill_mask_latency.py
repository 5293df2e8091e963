"""One-sentence fill-mask latency of the shipped model, end to end (tokenization, model, top-k).

Issue 6 holds the shipped model to "one-sentence fill-mask under 50 ms on this 2-core CPU". This
times ``albert.pipeline("fill-mask")`` (warm: the model is loaded once) on one sentence at a time,
each with one [MASK], and reports the median and the 90th percentile, next to transformers'
``pipeline("fill-mask")`` on the same weights (``AlbertForMaskedLM``, sdpa, fp32) in the same run.

    python bench/fill_mask_latency.py                  # all cores
    python bench/fill_mask_latency.py --threads 1
    python bench/fill_mask_latency.py --onnx           # also albert's pipeline with the encoder in ONNX Runtime
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def masked_sentences(count: int, seed: int) -> list[str]:
    """Real sentences of 5 to 30 words with one word replaced by [MASK]."""
    sentences = []
    for sentence in common.real_sentences(count * 4, seed):
        words = sentence.split()
        if 5 <= len(words) <= 30:
            words[len(words) // 2] = "[MASK]"
            sentences.append(" ".join(words))
        if len(sentences) == count:
            break
    return sentences


def time_calls(call, texts: list[str]) -> list[float]:
    call(texts[0])  # warm-up
    seconds = []
    for text in texts:
        started = time.perf_counter()
        call(text)
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.common_arguments(parser)
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--onnx", action="store_true", help="also time albert's pipeline with onnx=True (the onnx extra)")
    args = parser.parse_args()
    common.apply_threads(args.threads)

    import transformers

    import albert
    from albert.pipelines.base import default_model

    folder = Path(args.model) if args.model else default_model()
    texts = masked_sentences(args.sentences, args.seed)
    ours = albert.pipeline("fill-mask", model=str(folder), device="cpu", progress=False)
    theirs = transformers.pipeline(
        "fill-mask", model=transformers.AlbertForMaskedLM.from_pretrained(folder, attn_implementation="sdpa"),
        tokenizer=transformers.AlbertTokenizer.from_pretrained(folder), device="cpu",
    )
    implementations = {"albert pipeline": ours, "transformers pipeline": theirs}
    if args.onnx:  # exported on first use (cached); ONNX Runtime with as many threads as torch
        implementations["albert pipeline (onnx)"] = albert.pipeline(
            "fill-mask", model=str(folder), device="cpu", progress=False, onnx=True
        )
        if args.threads:
            from albert.fast.onnx_encoder import use_onnx

            use_onnx(implementations["albert pipeline (onnx)"].model, threads=args.threads)
    timings = {name: [] for name in implementations}
    with torch.inference_mode():
        for _ in range(2):  # alternate, so that load on a shared machine weighs on both
            for name, call in implementations.items():
                timings[name] += time_calls(call, texts)

    results = {"environment": common.environment(torch.device("cpu")), "model": str(folder),
               "sentences": len(texts), "implementations": {}}
    for name, seconds in timings.items():
        ordered = sorted(seconds)
        figures = {"median_ms": statistics.median(seconds) * 1000,
                   "p90_ms": ordered[int(0.9 * (len(ordered) - 1))] * 1000, "calls": len(seconds)}
        results["implementations"][name] = figures
        print(f"{name:>22}: median {figures['median_ms']:.1f} ms, p90 {figures['p90_ms']:.1f} ms")
    reference = results["implementations"]["transformers pipeline"]["median_ms"]
    results["speedup_vs_transformers"] = {
        name: reference / figures["median_ms"] for name, figures in results["implementations"].items()
    }
    for name, ratio in results["speedup_vs_transformers"].items():
        if name != "transformers pipeline":
            print(f"{name} / transformers: {ratio:.2f}x (median latency)")
    common.write_results(args.name or f"fill_mask_latency-{common.device_tag(torch.device('cpu'))}", results)


if __name__ == "__main__":
    main()
