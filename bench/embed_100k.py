"""End to end: embed 100k real sentences, tokenization included, albert against transformers.

albert: ``albert.pipeline("embeddings", ...)`` on the fast path (length-bucketed batches, the
unpadded encoder), one mean-pooled vector per sentence. transformers: its
``pipeline("feature-extraction", ...)`` with the same weights and ``batch_size``, token vectors
mean-pooled per sentence the same way (over the sentence's pieces, without [CLS]/[SEP]).
Both start from the same list of Python strings and end with one vector per sentence.

    python bench/embed_100k.py                              # GPU: base shape, 100,000 sentences
    python bench/embed_100k.py --device cpu                 # CPU: small shape, 2,000 sentences
    python bench/embed_100k.py --device cpu --count 5000    # and say so: figures scale linearly

On a CPU the count is reduced by default; the results file records the count used and the
time 100k sentences would take at the measured rate, labelled as an extrapolation.
"""

from __future__ import annotations

import argparse
import copy
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def pooled_transformers_vectors(outputs: list, rows: list[list[int]]) -> np.ndarray:
    """Mean over each sentence's pieces (rows 1..n-2) of transformers' per-token outputs."""
    vectors = []
    for output, row in zip(outputs, rows, strict=True):
        states = output[0] if output.dim() == 3 else output  # (S, H); padded rows may trail
        vectors.append(states[1: len(row) - 1].float().mean(dim=0).numpy())
    return np.stack(vectors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.common_arguments(parser)
    parser.add_argument("--count", type=int, default=None, help="sentences (default 100000 on GPU, 2000 on CPU)")
    parser.add_argument("--shape", default=None, help="base (default on GPU) or small (default on CPU), ...")
    parser.add_argument("--batch-size", type=int, default=None, help="default 256 on GPU, 32 on CPU")
    parser.add_argument("--dtype", default="bf16", help="bf16 on GPU; CPU runs fp32")
    parser.add_argument("--onnx", action="store_true", help="CPU: also albert's pipeline with onnx=True")
    args = parser.parse_args()

    import transformers

    from albert import AlbertModel
    from albert.devices import resolve_dtype
    from albert.fast import accelerate
    from albert.pipelines import pipeline

    logging.getLogger("albert").setLevel(logging.ERROR)
    transformers.logging.set_verbosity_error()
    device = common.resolve_bench_device(args.device)
    common.apply_threads(args.threads)
    on_gpu = device.type == "cuda"
    dtype = resolve_dtype(args.dtype) if on_gpu else torch.float32
    count = args.count or (100_000 if on_gpu else 2_000)
    shape = args.shape or ("base" if on_gpu else "small")
    batch_size = args.batch_size or (256 if on_gpu else 32)
    sentences = common.real_sentences(count, args.seed)
    print(f"{count} sentences, shape {shape}, batch {batch_size}, {dtype} on {common.device_name(device)}")

    with tempfile.TemporaryDirectory() as scratch:
        folder = common.random_checkpoint("AlbertModel", shape, Path(scratch), seed=args.seed)
        ours = accelerate(AlbertModel.from_pretrained(folder, dtype=dtype, device=device))
        embed = pipeline(
            "embeddings", model=ours, tokenizer=str(folder), device=device, batch_size=batch_size,
            level="document", split_sentences=False, sentence_pooling="mean", output="numpy", progress=False,
        )
        theirs_model = transformers.AlbertModel.from_pretrained(folder, attn_implementation="sdpa", dtype=dtype).to(device)
        theirs_tokenizer = transformers.AlbertTokenizerFast.from_pretrained(folder)
        extract = transformers.pipeline(
            "feature-extraction", model=theirs_model.eval(), tokenizer=theirs_tokenizer, device=device,
            batch_size=batch_size, return_tensors=True, truncation=True,
        )

        # Agreement on a sample, where both tokenizers give the same pieces.
        sample = sentences[:200]
        our_vectors = embed(sample)
        their_outputs = extract(sample)
        rows = [theirs_tokenizer(s, truncation=True)["input_ids"] for s in sample]
        our_rows = common.tokenize(sample)
        same = [i for i in range(len(sample)) if rows[i] == our_rows[i]]
        theirs_vectors = pooled_transformers_vectors(their_outputs, rows)
        a, b = our_vectors[same], theirs_vectors[same]
        cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
        agreement = {
            "sentences_compared": len(same), "same_tokenization": len(same) / len(sample),
            "max_abs_diff": float(np.abs(a - b).max()), "min_cosine": float(cosine.min()),
        }
        print(f"  agreement on {len(same)} sentences tokenized alike: max abs diff {agreement['max_abs_diff']:.3g}, "
              f"min cosine {agreement['min_cosine']:.6f}")

        contenders = [("albert pipeline (fast)", lambda: embed(sentences))]
        if args.onnx and not on_gpu:
            embed_onnx = pipeline(  # on its own copy: use_onnx changes the model it is given
                "embeddings", model=copy.deepcopy(ours), tokenizer=str(folder), device=device, batch_size=batch_size, onnx=True,
                level="document", split_sentences=False, sentence_pooling="mean", output="numpy", progress=False,
            )
            if args.threads:  # ONNX Runtime gets as many threads as torch
                from albert.fast.onnx_encoder import use_onnx

                use_onnx(embed_onnx.model, threads=args.threads)
            onnx_vectors = embed_onnx(sample)
            agreement["onnx_max_abs_diff_vs_fast"] = float(np.abs(onnx_vectors - our_vectors).max())
            print(f"  onnx vs fast: max abs diff {agreement['onnx_max_abs_diff_vs_fast']:.3g}")
            contenders.append(("albert pipeline (onnx)", lambda: embed_onnx(sentences)))
        timings = {}
        for name, run in (
            *contenders,
            ("transformers feature-extraction", lambda: pooled_transformers_vectors(
                extract(sentences), [theirs_tokenizer(s, truncation=True)["input_ids"] for s in sentences])),
        ):
            common.synchronize(device)
            start = time.perf_counter()
            vectors = run()
            common.synchronize(device)
            timings[name] = time.perf_counter() - start
            assert len(vectors) == count
            print(f"  {name}: {timings[name]:.1f} s = {count / timings[name]:.0f} sentences/s")

    base = timings["transformers feature-extraction"]
    results = {
        "environment": common.environment(device), "dtype": str(dtype), "shape": shape, "weights": "random",
        "batch_size": batch_size, "sentences": count, "agreement": agreement,
        "implementations": {
            name: {"seconds": s, "sentences_per_s": count / s, "extrapolated_seconds_for_100k": s * 100_000 / count}
            for name, s in timings.items()
        },
        "speedup_vs_transformers": {name: base / s for name, s in timings.items()},
        "note": "extrapolated_seconds_for_100k is a linear extrapolation" if count != 100_000 else "measured on 100k",
    }
    print(f"  albert / transformers = {results['speedup_vs_transformers']['albert pipeline (fast)']:.2f}x")
    name = args.name or f"embed_100k-{common.device_tag(device)}-{shape}-{count}"
    common.write_results(name, results)
    common.bar_chart(
        name, f"Embedding {count} sentences end to end, {common.device_name(device)}",
        {f"{shape}, batch {batch_size}": {n: v["sentences_per_s"] for n, v in results["implementations"].items()}},
        "sentences / s", note="tokenization included; random weights; " + results["note"],
    )


if __name__ == "__main__":
    main()
