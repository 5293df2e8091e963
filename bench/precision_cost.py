"""What reduced precision costs: ``precision="fast"`` (bf16) and ``"int8"`` against float32.

Three measures, each printed and written to ``results/precision_cost-<device>.json``:

- **embeddings**: cosine of every real token's final state (and of each sentence's mean-pooled
  vector) against float32, on real sentences, for albert-base's shape (random weights) and the
  shipped model;
- **fill-mask**: the share of masked positions (one per sentence) whose top-1 piece is float32's,
  on the shipped model (its masked-LM head is trained: random logits would be near-ties);
- **classification**: agreement of the predicted label with float32's, and each precision's
  accuracy, on SST-2 dev (872 sentences), with the shipped model fine-tuned here for one short
  epoch (``--train-examples``; or pass a fine-tuned folder with ``--classifier``).

    python bench/precision_cost.py --threads 2
    python bench/precision_cost.py --classifier runs/sst2/best   # reuse a fine-tuned folder

Speed is measured by ``bench/cpu_inference.py``; this script measures only what the speed costs.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

PRECISIONS = ("fast", "int8")


def token_and_sentence_cosines(reference, candidate, batches: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    """Mean and minimum cosine of real tokens' states, and of mean-pooled sentence vectors."""
    tokens, sentences = [], []
    with torch.inference_mode():
        for batch in batches:
            want = reference(**batch).last_hidden_state.float()
            got = candidate(**batch).last_hidden_state.float()
            real = batch["attention_mask"].bool()
            tokens.append(torch.nn.functional.cosine_similarity(want[real], got[real], dim=-1))
            weights = batch["attention_mask"].unsqueeze(-1).float()
            pooled_want, pooled_got = (want * weights).sum(1) / weights.sum(1), (got * weights).sum(1) / weights.sum(1)
            sentences.append(torch.nn.functional.cosine_similarity(pooled_want, pooled_got, dim=-1))
    token, sentence = torch.cat(tokens), torch.cat(sentences)
    return {"token_cosine_mean": float(token.mean()), "token_cosine_min": float(token.min()),
            "sentence_cosine_mean": float(sentence.mean()), "sentence_cosine_min": float(sentence.min()),
            "tokens": int(token.numel()), "sentences": int(sentence.numel())}  # fmt: skip


def embeddings_cost(folder: Path, rows: list[list[int]]) -> dict[str, dict[str, float]]:
    from albert import AlbertModel

    batches = [common.pad_batch(chunk, torch.device("cpu")) for chunk in common.batches_of(rows, 32)]
    exact = AlbertModel.from_pretrained(folder, fast=True)
    return {precision: token_and_sentence_cosines(exact, AlbertModel.from_pretrained(folder, fast=True, precision=precision), batches)
            for precision in PRECISIONS}  # fmt: skip


def fill_mask_cost(folder: Path, rows: list[list[int]]) -> dict[str, float]:
    from albert import AlbertForMaskedLM, AlbertTokenizer

    mask_id = AlbertTokenizer.from_pretrained(str(folder)).mask_token_id
    exact = AlbertForMaskedLM.from_pretrained(folder, fast=True)
    return {precision: common.fill_mask_agreement(exact, AlbertForMaskedLM.from_pretrained(folder, fast=True, precision=precision),
                                                  rows, mask_id)
            for precision in PRECISIONS}  # fmt: skip


def fine_tuned_classifier(model: str, work: Path, examples: int, threads: int) -> Path:
    """The shipped model fine-tuned on SST-2 for one epoch over ``examples`` training sentences
    (kept in ``work`` and reused by a later run)."""
    from albert.training.finetuning.settings import FinetuneSettings
    from albert.training.finetuning.trainer import finetune

    best = work / "sst2" / "best"
    if (best / "config.json").is_file():
        return best
    settings = FinetuneSettings(task="text-classification", epochs=1, max_train_examples=examples, max_length=64,
                                device="cpu", threads=threads, progress=False)  # fmt: skip
    started = time.perf_counter()
    outcome = finetune(model, common.SHARED_DATA / "sst2" / "train.tsv", None, work / "sst2", settings)
    print(f"  fine-tuned {model} on {examples} SST-2 sentences in {time.perf_counter() - started:.0f} s")
    return Path(outcome.best_model)


def classification_cost(folder: Path) -> dict[str, dict[str, float]]:
    from albert import pipeline

    with (common.SHARED_DATA / "sst2" / "dev.tsv").open(newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    texts, gold = [row[0] for row in rows], [row[1] for row in rows]
    labels = {}
    for precision in ("exact", *PRECISIONS):
        classify = pipeline("text-classification", model=str(folder), precision=precision, onnx=False, progress=False)
        top = [record[0] if isinstance(record, list) else record for record in classify(texts, top_k=1)]
        labels[precision] = [record["label"] for record in top]
    report = {}
    for precision, predicted in labels.items():
        report[precision] = {
            "accuracy": sum(p == g for p, g in zip(predicted, gold)) / len(gold),
            "agreement_with_fp32": sum(p == e for p, e in zip(predicted, labels["exact"])) / len(gold),
            "sentences": len(gold),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common.common_arguments(parser)
    parser.add_argument("--model", default=str(common.REPO / "src" / "albert" / "models" / "albert-small-en"),
                        help="the trained model (masked-LM head) to measure fill-mask on and fine-tune")
    parser.add_argument("--classifier", default=None, help="a folder fine-tuned on SST-2 (default: fine-tune one here)")
    parser.add_argument("--train-examples", type=int, default=6000, help="SST-2 sentences for the quick fine-tune")
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()) / "albert_precision_cost")
    parser.add_argument("--sentences", type=int, default=512, help="real sentences for embeddings and fill-mask")
    args = parser.parse_args()

    logging.getLogger("albert").setLevel(logging.ERROR)
    from albert.precision import cpu_has_bf16_dot, cpu_has_vnni

    threads = args.threads or 1
    common.apply_threads(threads)
    device = torch.device("cpu")
    results: dict = {"environment": common.environment(device), "threads": threads,
                     "cpu_bf16_dot_products": cpu_has_bf16_dot(), "cpu_vnni": cpu_has_vnni()}  # fmt: skip
    sentences = common.real_sentences(args.sentences, args.seed + 2)
    with tempfile.TemporaryDirectory() as scratch:
        base = common.random_checkpoint("AlbertModel", "base", Path(scratch) / "base", seed=args.seed)
        print("embeddings, albert-base shape (random weights) ...")
        results["embeddings_base_random"] = embeddings_cost(base, common.tokenize(sentences))
    model = Path(args.model)
    model_rows = common.tokenize(sentences, 128, model)
    print("embeddings and fill-mask, shipped model ...")
    results["embeddings_shipped"] = embeddings_cost(model, model_rows)
    results["fill_mask_top1_agreement_shipped"] = fill_mask_cost(model, model_rows)
    classifier = Path(args.classifier) if args.classifier else fine_tuned_classifier(
        args.model, args.work_dir, args.train_examples, threads
    )
    print(f"classification on SST-2 dev with {classifier} ...")
    results["classifier"] = str(classifier)
    results["sst2_dev"] = classification_cost(classifier)
    results["environment"]["load_average_at_end"] = __import__("os").getloadavg()

    for precision in PRECISIONS:
        base_cost, shipped = results["embeddings_base_random"][precision], results["embeddings_shipped"][precision]
        sst2 = results["sst2_dev"][precision]
        print(f"  {precision:5s} token cosine base {base_cost['token_cosine_mean']:.6f} (min {base_cost['token_cosine_min']:.4f}), "
              f"shipped {shipped['token_cosine_mean']:.6f} (min {shipped['token_cosine_min']:.4f}); "
              f"fill-mask top-1 {results['fill_mask_top1_agreement_shipped'][precision]:.4f}; "
              f"SST-2 dev agreement {sst2['agreement_with_fp32']:.4f}, accuracy {sst2['accuracy']:.4f} "
              f"(fp32 {results['sst2_dev']['exact']['accuracy']:.4f})")
    common.write_results(args.name or f"precision_cost-{common.device_tag(device)}", results)


if __name__ == "__main__":
    main()
