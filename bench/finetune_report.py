"""Fine-tuning results on real data, each next to a simple baseline measured in the same run.

* SST-2 (``../shared/data/sst2``): dev accuracy; baseline TF-IDF (word 1-2 grams) + logistic
  regression.
* CoNLL-2003 (``../shared/data/conll2003``): validation entity F1 (conlleval rules); baseline the
  most frequent tag of each word in train (unseen words: O).
* MRPC (``../shared/data/mrpc/msr_paraphrase_train.txt``): F1 of "paraphrase" on a fixed, seeded
  10% of train held out as dev (the model never trains on it); baseline logistic regression on
  TF-IDF features of both sentences, their absolute difference and product, cosine and word
  overlap.

Dev data is used for evaluation and to pick the best checkpoint, never for training; the
baselines use fixed settings (nothing tuned on dev). Baselines train on the same examples as the
model; when the model's training set is capped, the baseline on the full training set is also
reported.

Cost is predictable: before training, one training step of the model is timed at the data's
typical length and the run's steps are counted, and the estimate is printed (and recorded).
``--budget-minutes`` caps the training examples of each task so the estimate fits, and after each
task the plan for the rest is corrected by the pace actually measured. Results are
written after each task, so a run in the background (``nohup python bench/finetune_report.py
--model M --budget-minutes 90 --log run.log &``) leaves what it finished if stopped; running the
same command again resumes unfinished fine-tuning runs from their checkpoints.

Writes ``bench/results/finetune_<model>_<device>.json`` and ``.md`` (a markdown table).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from common import RESULTS, SHARED_DATA, device_name, device_tag  # noqa: E402

from albert.training import metrics  # noqa: E402
from albert.training.finetuning.tasks import (  # noqa: E402
    ReadOptions,
    TaggedSentence,
    TextExample,
    read_tagged_sentences,
    read_text_examples,
)
from albert.training.finetuning.trainer import FinetuneSettings, finetune  # noqa: E402

TASKS = ("sst2", "conll2003", "mrpc")


class Tee:
    """Copies what is written to stderr into a log file too (line by line, flushed)."""

    def __init__(self, stream: Any, path: Path) -> None:
        self.stream, self.log = stream, open(path, "a", encoding="utf-8", buffering=1)

    def write(self, text: str) -> int:
        self.log.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.log.flush()
        self.stream.flush()

    def isatty(self) -> bool:
        return False  # plain status lines, no progress bar, when a log is kept

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- data -------------------------------------------------------------------------------------------


def write_text_examples(path: Path, examples: list[TextExample]) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for example in examples:
            record = {"sentence1": example.text, "sentence2": example.text_pair, "label": example.label}
            handle.write(json.dumps(record) + "\n")
    return path


def mrpc_split(work: Path, seed: int) -> tuple[Path, Path]:
    """MRPC's train file split into 90% train and a fixed, seeded 10% dev (JSON lines)."""
    examples = read_text_examples(SHARED_DATA / "mrpc" / "msr_paraphrase_train.txt")
    order = np.random.default_rng(seed).permutation(len(examples))
    dev_count = round(0.1 * len(examples))
    dev = [examples[index] for index in sorted(order[:dev_count])]
    train = [examples[index] for index in sorted(order[dev_count:])]
    work.mkdir(parents=True, exist_ok=True)
    return write_text_examples(work / "mrpc_train.jsonl", train), write_text_examples(work / "mrpc_dev.jsonl", dev)


def task_files(task: str, work: Path, seed: int) -> tuple[str, Path, Path, str]:
    """(albert task, train file, dev file, metric) of a report task."""
    if task == "sst2":
        return "text-classification", SHARED_DATA / "sst2" / "train.tsv", SHARED_DATA / "sst2" / "dev.tsv", "accuracy"
    if task == "conll2003":
        folder = SHARED_DATA / "conll2003"
        return "token-classification", folder / "train.txt", folder / "valid.txt", "f1"
    train, dev = mrpc_split(work, seed)
    return "text-classification", train, dev, "f1"


def capped(examples: list[Any], limit: int | None, seed: int) -> list[Any]:
    """The same seeded sample the fine-tuning run takes (``finetune``'s ``max_train_examples``)."""
    if limit is None or len(examples) <= limit:
        return examples
    chosen = np.sort(np.random.default_rng(seed).choice(len(examples), size=limit, replace=False))
    return [examples[index] for index in chosen]


# -- baselines --------------------------------------------------------------------------------------


def tfidf_baseline(train: list[TextExample], dev: list[TextExample], pairs: bool, positive: str = "1") -> dict[str, float]:
    """Logistic regression on TF-IDF features: of the text, or for pairs of both texts, their
    absolute difference and product, and their cosine similarity and word overlap."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    if pairs:
        vectorizer.fit([e.text for e in train] + [e.text_pair for e in train])

        def features(examples: list[TextExample]):
            first = vectorizer.transform([e.text for e in examples])
            second = vectorizer.transform([e.text_pair for e in examples])
            cosine = np.asarray(first.multiply(second).sum(axis=1))
            overlap = np.array([_overlap(e.text, e.text_pair) for e in examples])
            return sparse.hstack([first, second, abs(first - second), first.multiply(second),
                                  sparse.csr_matrix(np.hstack([cosine, overlap]))]).tocsr()
    else:
        vectorizer.fit([e.text for e in train])

        def features(examples: list[TextExample]):
            return vectorizer.transform([e.text for e in examples])

    classifier = LogisticRegression(C=1.0, max_iter=2000)
    classifier.fit(features(train), [e.label for e in train])
    predicted = list(classifier.predict(features(dev)))
    gold = [e.label for e in dev]
    # The floor both must clear: always answering the most frequent training label.
    majority = [Counter(e.label for e in train).most_common(1)[0][0]] * len(dev)
    return {
        "accuracy": metrics.accuracy(predicted, gold),
        "f1": metrics.f1_score(predicted, gold, positive_label=positive),
        "mcc": metrics.matthews_corrcoef(predicted, gold),
        "majority_class": {"accuracy": metrics.accuracy(majority, gold),
                           "f1": metrics.f1_score(majority, gold, positive_label=positive)},
        "train_examples": len(train),
        "seconds": time.perf_counter() - started,
    }


def _overlap(first: str, second: str) -> list[float]:
    a, b = set(first.lower().split()), set(second.lower().split())
    shared = len(a & b)
    return [shared / max(len(a), 1), shared / max(len(b), 1), shared / max(len(a | b), 1)]


def frequent_tag_baseline(train: list[TaggedSentence], dev: list[TaggedSentence]) -> dict[str, float]:
    """Each word gets its most frequent tag in train (ties: the first seen); unseen words get O."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for sentence in train:
        for word, tag in zip(sentence.words, sentence.tags or []):
            counts[word][tag] += 1
    best = {word: tags.most_common(1)[0][0] for word, tags in counts.items()}
    predicted = [[best.get(word, "O") for word in sentence.words] for sentence in dev]
    gold = [sentence.tags for sentence in dev]
    scores = metrics.entity_scores(predicted, gold)
    return {"f1": scores["f1"], "precision": scores["precision"], "recall": scores["recall"], "train_examples": len(train)}


def baseline(task: str, train_file: Path, dev_file: Path, limit: int | None, seed: int) -> dict[str, Any]:
    if task == "conll2003":
        train, dev = read_tagged_sentences(train_file), read_tagged_sentences(dev_file)
        result = {"name": "most frequent tag per word", **frequent_tag_baseline(capped(train, limit, seed), dev)}
        if limit is not None and len(train) > limit:
            result["full_train"] = frequent_tag_baseline(train, dev)
        return result
    train, dev = read_text_examples(train_file), read_text_examples(dev_file)
    pairs = task == "mrpc"
    name = "TF-IDF pair features + logistic regression" if pairs else "TF-IDF 1-2 grams + logistic regression"
    result = {"name": name, **tfidf_baseline(capped(train, limit, seed), dev, pairs)}
    if limit is not None and len(train) > limit:
        result["full_train"] = tfidf_baseline(train, dev, pairs)
    return result


# -- cost -------------------------------------------------------------------------------------------


def typical_length(task: str, train_file: Path, model: str, max_length: int) -> int:
    """The 90th percentile of input lengths (pieces) over a sample of the training file."""
    from albert.tokenizer import AlbertTokenizer

    tokenizer = AlbertTokenizer.from_pretrained(model)
    if task == "conll2003":
        sample = read_tagged_sentences(train_file)[:500]
        encoding = tokenizer([s.words for s in sample], is_split_into_words=True, truncation=True, max_length=max_length)
    else:
        sample = read_text_examples(train_file)[:500]
        pairs = [e.text_pair for e in sample]
        encoding = tokenizer([e.text for e in sample], pairs if pairs[0] is not None else None, truncation=True,
                             max_length=max_length)
    return int(np.percentile([len(ids) for ids in encoding["input_ids"]], 90))


def seconds_per_step(model: str, batch_size: int, length: int, device: torch.device) -> float:
    """Wall time of one training step (forward, backward, AdamW) at ``batch_size x length``."""
    from albert import AlbertForSequenceClassification

    network = AlbertForSequenceClassification.from_pretrained(model, device=device).train()
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-5)
    ids = torch.randint(5, network.config.vocab_size, (batch_size, length), device=device)
    labels = torch.zeros(batch_size, dtype=torch.long, device=device)
    timings = []
    for _ in range(6):  # the first warms up; the median of the rest resists a busy machine's noise
        started = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = network(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if device.type == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - started)
    return float(np.median(timings[1:]))


def plan(args: argparse.Namespace, device: torch.device, work: Path) -> dict[str, dict[str, Any]]:
    """Per task: files, training examples (capped by --max-train-examples or the budget), steps
    and the estimated minutes."""
    plans = {}
    for task in args.tasks:
        albert_task, train_file, dev_file, metric = task_files(task, work, args.seed)
        reader = read_tagged_sentences if task == "conll2003" else read_text_examples
        train_count, dev_count = len(reader(train_file)), len(reader(dev_file))
        if args.max_dev_examples:
            dev_count = min(dev_count, args.max_dev_examples)
        length = typical_length(task, train_file, args.model, args.max_length)
        step = seconds_per_step(args.model, args.batch_size, length, device)
        plans[task] = dict(task=albert_task, train_file=train_file, dev_file=dev_file, metric=metric,
                           train_available=train_count, dev_examples=dev_count, typical_length=length,
                           seconds_per_step=step, limit=args.max_train_examples)
    if args.budget_minutes:
        fit_to_budget(plans, args.budget_minutes * 60, args)
    else:
        for item in plans.values():
            count_steps(item, args)
    return plans


def evaluation_seconds(item: dict[str, Any], args: argparse.Namespace) -> float:
    """About a third of a step's time per batch of dev examples, once per epoch."""
    return args.epochs * math.ceil(item["dev_examples"] / args.batch_size) * item["seconds_per_step"] / 3


def count_steps(item: dict[str, Any], args: argparse.Namespace) -> None:
    train = min(item["train_available"], item["limit"] or item["train_available"])
    steps = args.epochs * math.ceil(train / args.batch_size)
    item.update(train_examples=train, steps=steps,
                estimated_minutes=(steps * item["seconds_per_step"] + evaluation_seconds(item, args)) / 60)


def fit_to_budget(plans: dict[str, dict[str, Any]], seconds: float, args: argparse.Namespace) -> None:
    """Cap each task's training examples so the tasks share ``seconds`` equally."""
    share = seconds / max(1, len(plans))
    for item in plans.values():
        steps = max(1, int((share - evaluation_seconds(item, args)) / item["seconds_per_step"]))
        fitting = max(args.batch_size, steps // args.epochs * args.batch_size)
        item["limit"] = min(fitting, args.max_train_examples or fitting)
        count_steps(item, args)


def replan(plans: dict[str, dict[str, Any]], done: dict[str, dict[str, Any]], seconds_left: float,
           args: argparse.Namespace) -> None:
    """After a task: correct the step-time estimate of the tasks still to run by how far off it was
    for the finished ones (a step timed on a busy machine misleads the whole plan), then share
    the time that is left among them."""
    predicted = sum(item["estimated_minutes"] for item in done.values())
    measured = sum(item["measured_minutes"] for item in done.values())
    if predicted <= 0 or measured <= 0 or not plans:
        return
    scale = measured / predicted
    for item in plans.values():
        item["seconds_per_step"] *= scale
    fit_to_budget(plans, max(seconds_left, 0.0), args)


# -- the report -------------------------------------------------------------------------------------


def model_tag(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(model).name or str(model)).strip("-") or "model"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Fine-tuning `{report['model']}` on {report['device']}",
        "",
        "| task | metric | albert (fine-tuned) | baseline | baseline score | majority class | train examples | steps | minutes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task, result in report["tasks"].items():
        metric = result["metric"]
        model_score = result.get("model", {}).get(metric)
        base = result["baseline"]
        base_score = base.get(metric)
        full = f" (full train: {base['full_train'][metric]:.4f})" if "full_train" in base else ""
        majority = f"{base['majority_class'][metric]:.4f}" if "majority_class" in base else "—"
        lines.append(
            f"| {task} | {metric} | {'—' if model_score is None else f'{model_score:.4f}'} | {base['name']} | "
            f"{base_score:.4f}{full} | {majority} | {result['plan']['train_examples']:,} | {result.get('steps', '—')} | "
            f"{result.get('minutes', float('nan')):.1f} |"
        )
    lines += ["", f"Settings: {json.dumps(report['settings'])}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="Model folder or shipped model to fine-tune from.")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"Comma-separated subset of {', '.join(TASKS)}.")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: one per core).")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=None, help="Peak learning rate (default: by model width).")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-train-examples", type=int, default=None, help="Cap each task's training examples.")
    parser.add_argument("--max-dev-examples", type=int, default=None, help="Evaluate on the first N dev examples.")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="Cap training examples so that the estimated total fits this many minutes.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="Where the runs go (checkpoints, best models); default: a folder in the temp dir.")
    parser.add_argument("--name", default=None, help="Results file name (default: finetune_<model>_<device>).")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="Where the .json and .md go (bench/results).")
    parser.add_argument("--log", type=Path, default=None, help="Also write progress lines to this file.")
    parser.add_argument("--estimate-only", action="store_true", help="Print the plan and its cost, then stop.")
    args = parser.parse_args(argv)
    args.tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    unknown = [task for task in args.tasks if task not in TASKS]
    if unknown:
        parser.error(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    if not (SHARED_DATA / "sst2").is_dir():
        sys.exit(f"the offline data is not at {SHARED_DATA}")
    if args.log is not None:
        sys.stderr = Tee(sys.stderr, args.log)
    if args.threads:
        torch.set_num_threads(args.threads)

    from albert.devices import resolve_device

    device = resolve_device(args.device)
    name = args.name or f"finetune_{model_tag(args.model)}_{device_tag(device)}"
    work = args.work_dir or Path(tempfile.gettempdir()) / "albert_finetune_report" / name
    say(f"planning on {device_name(device)}: timing a training step of {args.model} ...")
    plans = plan(args, device, work)
    total = sum(item["estimated_minutes"] for item in plans.values())
    for task, item in plans.items():
        say(f"{task}: {item['train_examples']:,} of {item['train_available']:,} training examples, {item['steps']:,} steps "
            f"of {args.batch_size} at ~{item['typical_length']} pieces, {item['seconds_per_step']:.2f} s/step -> "
            f"~{item['estimated_minutes']:.0f} min")
    say(f"estimated total: ~{total:.0f} min (baselines take seconds); runs in {work}")
    if args.estimate_only:
        return 0

    report: dict[str, Any] = {
        "model": args.model, "device": device_name(device), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "settings": {k: v for k, v in vars(args).items() if k not in ("log", "results_dir")},
        "estimated_minutes": total, "tasks": {},
    }
    report["settings"]["work_dir"] = str(work)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    started_all = time.perf_counter()
    done: dict[str, dict[str, Any]] = {}
    for position, (task, item) in enumerate(plans.items()):
        resuming = (work / task / "checkpoints").is_dir()  # a resumed run keeps the plan it started with
        if done and args.budget_minutes and not resuming:
            remaining = dict(list(plans.items())[position:])
            replan(remaining, done, args.budget_minutes * 60 - (time.perf_counter() - started_all), args)
            say(f"{task}: re-planned with the measured pace: {item['train_examples']:,} training examples, "
                f"~{item['estimated_minutes']:.0f} min")
        say(f"{task}: baseline")
        result: dict[str, Any] = {"metric": item["metric"], "plan": _plain(item),
                                  "baseline": baseline(task, item["train_file"], item["dev_file"], item["limit"], args.seed)}
        say(f"{task}: baseline {result['baseline']['name']}: {item['metric']} {result['baseline'][item['metric']]:.4f}")
        run_dir = work / task
        settings = FinetuneSettings(
            task=item["task"], epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
            max_length=args.max_length, metric=item["metric"], seed=args.seed, max_train_examples=item["limit"],
            max_dev_examples=args.max_dev_examples, device=str(device), threads=args.threads,
            read_options=ReadOptions(),
        )
        started = time.perf_counter()
        outcome = finetune(args.model, item["train_file"], item["dev_file"], run_dir, settings,
                           resume=(run_dir / "checkpoints").is_dir())
        result.update(model=outcome.best_metrics, best_step=outcome.best_step, steps=outcome.steps,
                      minutes=(time.perf_counter() - started) / 60, best_model=str(outcome.best_model),
                      learning_rate=outcome.summary["settings"]["learning_rate"])
        say(f"{task}: albert {item['metric']} {outcome.best_value:.4f} (baseline {result['baseline'][item['metric']]:.4f}) "
            f"in {result['minutes']:.1f} min")
        report["tasks"][task] = result
        done[task] = dict(item, measured_minutes=result["minutes"])
        _write(args.results_dir, name, report)  # after each task, so a stopped run keeps what it finished
    return 0


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {key: str(value) if isinstance(value, Path) else value for key, value in item.items()}


def _write(folder: Path, name: str, report: dict[str, Any]) -> None:
    path = folder / f"{name}.json"
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    (folder / f"{name}.md").write_text(markdown(report), encoding="utf-8")
    say(f"wrote {path} and {name}.md")


if __name__ == "__main__":
    raise SystemExit(main())
