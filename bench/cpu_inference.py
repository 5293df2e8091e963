"""CPU inference: batch-1 latency and batch-32 throughput, albert against transformers.

For each shape (``small``, the shape of the model shipped with the package, and ``base``), the
same weights go into transformers (``AlbertModel``, ``attn_implementation="sdpa"``, fp32) and
into albert's CPU paths: the unpadded torch path (``albert.fast.accelerate``), the exported
ONNX graph in ONNX Runtime (fp32, verified against torch at export), and, separately, its
dynamically quantised int8 copy with its accuracy cost. Inputs are real sentences; batches of 32
come in the order users send them (not sorted by length).

    python bench/cpu_inference.py                        # small and base, all cores
    python bench/cpu_inference.py --threads 1            # steadier on a shared machine
    python bench/cpu_inference.py --model path/to/albert # a trained checkpoint (adds fill-mask top-1 for int8)

Weights are random unless --model is given: speed does not depend on them; agreement between
implementations is checked on them all the same.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402


def onnx_paths(model, scratch: Path) -> tuple[Path, Path, dict]:
    """Export (verified) and quantise; returns both paths and the export's differences."""
    from albert.fast.onnx_export import export_onnx, quantize_int8

    report = export_onnx(model, scratch / "model.onnx")
    return report.path, quantize_int8(report.path, scratch / "model.int8.onnx"), report.max_abs_diff


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
        batch = common.pad_batch(chunk, torch.device("cpu"))
        with torch.no_grad():
            want = reference(**batch)["logits"]
            got = candidate(**batch)["logits"]
        rows_index = torch.arange(len(chunk))
        where = torch.tensor(positions)
        agree += int((want[rows_index, where].argmax(-1) == got[rows_index, where].argmax(-1)).sum())
        total += len(chunk)
    return agree / max(1, total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.common_arguments(parser)
    parser.add_argument("--shapes", default="small,base", help="comma-separated shapes (small, base, large, check)")
    parser.add_argument("--model", default=None, help="a trained checkpoint folder to use instead of random weights")
    parser.add_argument("--latency-sentences", type=int, default=24, help="sentences timed one at a time")
    parser.add_argument("--batches", type=int, default=3, help="batches of 32 timed for throughput")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from albert import AlbertTokenizer
    from albert.fast import accelerate
    from albert.fast.cpu import OnnxModel, compare_outputs

    logging.getLogger("albert").setLevel(logging.ERROR)
    args.threads = args.threads or os.cpu_count()
    common.apply_threads(args.threads)
    device = torch.device("cpu")
    sentences = common.real_sentences(args.latency_sentences + args.batches * args.batch_size, args.seed)
    if args.model:  # the model's own vocabulary, cut to its positions
        from albert import AlbertConfig

        rows = common.tokenize(sentences, AlbertConfig.from_pretrained(args.model).max_position_embeddings, args.model)
    else:
        rows = common.tokenize(sentences)
    latency_rows, throughput_rows = rows[: args.latency_sentences], rows[args.latency_sentences:]
    results: dict = {"environment": common.environment(device), "threads": args.threads, "weights": "random", "shapes": []}
    latency_chart: dict[str, dict[str, float]] = {}
    throughput_chart: dict[str, dict[str, float]] = {}

    shapes = ["model"] if args.model else args.shapes.split(",")
    for shape in shapes:
        with tempfile.TemporaryDirectory() as scratch_name:
            scratch = Path(scratch_name)
            if args.model:
                folder = Path(args.model)
                results["weights"] = str(folder)
            else:
                folder = common.random_checkpoint("AlbertForPreTraining", shape, scratch / "weights", seed=args.seed)
            ours, theirs = common.load_pair("AlbertModel", folder, device, torch.float32)
            fast = accelerate(copy.deepcopy(ours))
            print(f"{shape}: exporting to ONNX (verified against torch) and quantising to int8 ...")
            fp32_path, int8_path, export_diff = onnx_paths(ours, scratch)
            onnx_fp32, onnx_int8 = OnnxModel(fp32_path, args.threads), OnnxModel(int8_path, args.threads)

            contenders = {
                "transformers": theirs, "albert fast (torch)": fast,
                "albert onnx fp32": onnx_fp32, "albert onnx int8": onnx_int8,
            }
            latency_batches = [common.pad_batch([row], device) for row in latency_rows]
            throughput_batches = [common.pad_batch(b, device) for b in common.batches_of(throughput_rows, args.batch_size)]

            # Agreement at equal precision (fp32) and the int8 option's cost, on one padded batch.
            probe = throughput_batches[0]
            with torch.inference_mode():
                want = theirs(**probe)
                accuracy = {
                    name: compare_outputs(want, {"last_hidden_state": model(**probe)["last_hidden_state"]}, probe["attention_mask"])
                    for name, model in contenders.items() if name != "transformers"
                }
            for name in ("albert fast (torch)", "albert onnx fp32"):
                common.check_agreement(name, accuracy[name]["last_hidden_state/max_abs_diff"], torch.float32)
            int8_cost = dict(accuracy["albert onnx int8"])
            if args.model:
                from albert.fast.onnx_export import export_onnx, quantize_int8

                mlm, theirs_mlm = common.load_pair("AlbertForMaskedLM", folder, device, torch.float32)
                mask_id = AlbertTokenizer.from_pretrained(str(folder)).mask_token_id
                mlm_path = export_onnx(mlm, scratch / "mlm.onnx").path
                mlm_int8 = OnnxModel(quantize_int8(mlm_path, scratch / "mlm.int8.onnx"), args.threads)
                int8_cost["fill_mask_top1_agreement"] = fill_mask_agreement(mlm, mlm_int8, throughput_rows, mask_id)
                # issue 7's exactness bar: the fast path picks transformers' top-1 for >= 99% of masks
                masked_rows = common.tokenize(common.real_sentences(1000, args.seed + 1), mlm.config.max_position_embeddings, folder)
                results["fill_mask_top1_agreement_fast_vs_transformers"] = fill_mask_agreement(
                    theirs_mlm, accelerate(copy.deepcopy(mlm)), masked_rows, mask_id
                )
                print(f"  fill-mask top-1, albert fast vs transformers (fp32): "
                      f"{results['fill_mask_top1_agreement_fast_vs_transformers']:.4f} of {len(masked_rows)} masks")
            print(f"  int8 cost: {int8_cost}")

            with torch.inference_mode():
                latency = common.time_interleaved(
                    {name: common.over_batches(model, latency_batches) for name, model in contenders.items()},
                    device, args.repeats,
                )
                throughput = common.time_interleaved(
                    {name: common.over_batches(model, throughput_batches) for name, model in contenders.items()},
                    device, args.repeats,
                )
        real_tokens = sum(int(b["attention_mask"].sum()) for b in throughput_batches)
        padded_tokens = sum(b["input_ids"].numel() for b in throughput_batches)
        entry = {
            "shape": shape, "config": {k: getattr(ours.config, k) for k in common.SMALL_SHAPE},
            "onnx_export_max_abs_diff": export_diff, "accuracy_vs_transformers": accuracy, "int8_cost": int8_cost,
            "latency_sentences": len(latency_batches),
            "mean_latency_tokens": sum(len(r) for r in latency_rows) / len(latency_rows),
            "throughput_batches": len(throughput_batches), "batch_size": args.batch_size,
            "real_tokens": real_tokens, "padded_tokens": padded_tokens, "implementations": {},
        }
        for name in contenders:
            lat, thr = common.summary(latency[name]), common.summary(throughput[name])
            entry["implementations"][name] = {
                "batch1_latency_ms": 1e3 * lat["median_s"] / len(latency_batches),
                "batch1_latency_runs_s": latency[name],
                "batch32_real_tokens_per_s": real_tokens / thr["median_s"],
                "batch32_runs_s": throughput[name],
            }
        hf = entry["implementations"]["transformers"]
        entry["ratios_vs_transformers"] = {
            name: {
                "batch1_latency_speedup": hf["batch1_latency_ms"] / stats["batch1_latency_ms"],
                "batch32_throughput_speedup": stats["batch32_real_tokens_per_s"] / hf["batch32_real_tokens_per_s"],
            }
            for name, stats in entry["implementations"].items()
        }
        results["shapes"].append(entry)
        latency_chart[shape] = {n: s["batch1_latency_ms"] for n, s in entry["implementations"].items()}
        throughput_chart[shape] = {n: s["batch32_real_tokens_per_s"] for n, s in entry["implementations"].items()}
        for name, ratio in entry["ratios_vs_transformers"].items():
            stats = entry["implementations"][name]
            print(f"  {name:22s} batch 1: {stats['batch1_latency_ms']:8.1f} ms ({ratio['batch1_latency_speedup']:.2f}x)   "
                  f"batch {args.batch_size}: {stats['batch32_real_tokens_per_s']:8.0f} real tok/s "
                  f"({ratio['batch32_throughput_speedup']:.2f}x)")

    results["environment"]["load_average_at_end"] = os.getloadavg()
    name = args.name or f"cpu_inference-{common.device_tag(device)}-t{args.threads}"
    common.write_results(name, results)
    device_words = results["environment"]["device"]
    common.bar_chart(f"{name}-latency", f"Batch-1 latency (ms, lower is better), {device_words}", latency_chart, "ms per sentence",
                     note=f"{args.threads} threads; {results['weights']} weights")
    common.bar_chart(f"{name}-throughput", f"Batch-{args.batch_size} throughput, {device_words}", throughput_chart,
                     "real tokens / s", note=f"{args.threads} threads; batches in user order; {results['weights']} weights")


if __name__ == "__main__":
    main()
