"""Sentence embeddings worth searching with: the shipped model before and after contrastive
fine-tuning (``albert finetune --task sentence-embeddings``), on retrieval over held-out pairs.

Data: MRPC's training file (``../shared/data/mrpc/msr_paraphrase_train.txt``), its positive pairs
(Quality 1: 2,753 pairs), shuffled with ``--seed``; the first ``--held-out`` (500) are the
retrieval split, never trained on; training uses the next ``--examples`` (1,000 by default, to keep
the run near 15 minutes on 2 busy cores; ``--examples 0`` takes all 2,253). Optionally
``--wordnet N`` adds N generated pairs, the two halves of a WordNet gloss (its definition and its
first quoted example, ``corpus/wordnet_glosses.txt.xz``), and ``--crops N`` N pairs of two
overlapping crops of one sentence (``--crop-source``: MRPC's sentences of either quality outside
the held-out pairs, or CoNLL-2003's news sentences), to the training pairs only.
``--hard-negatives`` gives each training pair a third column: the training positive TF-IDF
(fitted on the training texts) finds most like its anchor, other than its own.
``--weak-positives`` adds MRPC's Quality-0 pairs without a held-out text (1,309: two sentences of
one story that annotators did not call paraphrases) as positives; ``--second-round N`` then
trains the trained model N epochs more on negatives it mines itself (as ANCE does).

Retrieval: each held-out anchor (``#1 String``) against all held-out positives (``#2 String``),
a positive that ends 2 pairs counted once (5 of the 500 do): recall@1, recall@10 and MRR@10
(:func:`albert.training.finetuning.metrics.retrieval_scores`, ties counted against the query), for

  (a) TF-IDF (scikit-learn's ``TfidfVectorizer``, sublinear tf, fitted on the held-out texts:
      a transductive baseline, favourable to it), cosine similarity;
  (b) the shipped model untrained: mean pooling, normalised (the run's step-0 evaluation);
  (c) the same model after ``--epochs`` of contrastive training (its last evaluation, ``final/``:
      the held-out split chooses no checkpoint; symmetric multiple-negatives ranking
      loss with in-batch negatives and, with ``--hard-negatives``, mined ones; ``--scale`` 20, mean
      pooling, Matryoshka over ``--matryoshka``, ``--dropout`` as the model's unless given).

Misses at rank 1: which anchors TF-IDF and the trained model (``final/``) miss, how the two sets
overlap, and TF-IDF's misses in full (an anchor that is itself another pair's positive finds
itself first, for every method: no method can get such a query right). ``--distractors`` also
scores retrieval as search: the same anchors against their positives among every other MRPC
sentence (either quality, ~6,800 more documents from the same news stories), for (a), (b) and (c);
``--wordnet-held-out N`` scores them on a second held-out set, N WordNet (definition, example)
pairs from the other end of the shuffle than ``--wordnet``'s, never trained on (the definition
finds its example among the N examples: little shared wording, so TF-IDF is weak there).

Per Matryoshka dimension: MRR@10 of each prefix before and after, and the 128-dimension prefix's
MRR@10 as a fraction of the full vector's (target >= 0.95). Targets: (c) beats (b) and (a) on
recall@1 and MRR@10; the note says by how much. Training time: the loop's seconds (the run's
``metrics.json``) and pairs/s.

    python bench/sentence_embeddings.py                 # the committed figures (~12 min on 2 busy cores)
    python bench/sentence_embeddings.py --examples 0    # all 2,253 training pairs (~25 min there)
    python bench/sentence_embeddings.py --examples 0 --epochs 2 --hard-negatives   # the best run so far (~13 min)
    python bench/sentence_embeddings.py --examples 0 --epochs 2 --hard-negatives --distractors   # and search (+3 min)
    python bench/sentence_embeddings.py --examples 0 --epochs 2 --hard-negatives --wordnet 2000 --wordnet-held-out 500

Writes ``bench/results/sentence_embeddings-<device>.json`` and ``.png``; ``--name`` to change.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import random
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TARGET_MATRYOSHKA_FRACTION = 0.95
METRICS = ("recall@1", "recall@10", "mrr@10")
FINAL = "final"  # the run's last model, the one its last evaluation scored


# -- data ---------------------------------------------------------------------------------------------

def mrpc_pairs(path: Path, seed: int) -> list[tuple[str, str]]:
    """MRPC's positive pairs (read as ``albert finetune`` reads the file), a seeded shuffle."""
    from albert.training.finetuning.readers import read_sentence_pairs

    pairs = [(pair.anchor, pair.positive) for pair in read_sentence_pairs(path)]
    random.Random(seed).shuffle(pairs)
    return pairs


_EXAMPLE = re.compile(r'"([^"]{12,})"')


def wordnet_pairs(seed: int) -> list[tuple[str, str]]:
    """Generated pairs, a seeded shuffle of all (~29,800): a WordNet gloss's definition and its
    first quoted example."""
    pairs = []
    with lzma.open(common.SHARED_DATA / "corpus" / "wordnet_glosses.txt.xz", "rt", encoding="utf-8") as file:
        for line in file:
            definition, _, rest = line.partition(";")
            example = _EXAMPLE.search(rest)
            if example and len(definition.split()) >= 3:
                pairs.append((definition.strip(), example.group(1).strip()))
    random.Random(seed).shuffle(pairs)
    return pairs


def mrpc_rows(path: Path) -> list[tuple[str, str, str]]:
    """Every row of the MRPC file, either quality: ``(quality, first sentence, second sentence)``."""
    rows = []
    for line in path.read_text(encoding="utf-8-sig").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) == 5:
            rows.append((fields[0], fields[3].strip(), fields[4].strip()))
    return rows


def mrpc_weak_pairs(path: Path, excluded: set[str]) -> list[tuple[str, str]]:
    """MRPC's Quality-0 pairs, none with a held-out text: two sentences of one news story that
    annotators did not call paraphrases, as weak positives (same story, much shared wording)."""
    return [(first, second) for quality, first, second in mrpc_rows(path)
            if quality == "0" and first not in excluded and second not in excluded]


def mrpc_sentences(path: Path, excluded: set[str]) -> list[str]:
    """Every sentence of the MRPC file, either quality, but none in ``excluded`` (the held-out pairs)."""
    sentences = dict.fromkeys(text for _, first, second in mrpc_rows(path) for text in (first, second))
    return [text for text in sentences if text not in excluded]


def conll_sentences() -> list[str]:
    """CoNLL-2003's training sentences (Reuters news), words joined by spaces."""
    sentences, words = [], []
    for line in (common.SHARED_DATA / "conll2003" / "train.txt").read_text(encoding="utf-8").splitlines() + [""]:
        if line.strip() and not line.startswith("-DOCSTART-"):
            words.append(line.split()[0])
        elif words:
            sentences.append(" ".join(words))
            words = []
    return sentences


def crop_pairs(sentences: list[str], count: int, seed: int, shortest: int = 10) -> list[tuple[str, str]]:
    """``count`` generated pairs: two random spans of one sentence (each 50-80% of its words,
    so they overlap), as Contriever's cropping makes positives from unlabeled text."""
    rng = random.Random(seed)
    pool = [text.split() for text in sentences if len(text.split()) >= shortest]
    rng.shuffle(pool)

    def crop(words: list[str]) -> str:
        length = rng.randint(-(-len(words) // 2), -(-len(words) * 4 // 5))
        start = rng.randint(0, len(words) - length)
        return " ".join(words[start:start + length])

    return [(crop(words), crop(words)) for words in pool[:count]]


def hardest_negatives(similarities, pairs: list[tuple[str, str]]) -> list[str]:
    """For each pair (a row of ``similarities``: its anchor against every training positive), the
    most similar training positive that is neither its own positive nor its anchor."""
    positives = [p for _, p in pairs]
    negatives = []
    for row, (anchor, positive) in enumerate(pairs):
        for column in similarities[row].argsort()[::-1]:
            if positives[column] not in (positive, anchor):
                negatives.append(positives[column])
                break
    return negatives


def mined_negatives(pairs: list[tuple[str, str]]) -> list[str]:
    """A hard negative for each training pair, as DPR mines them with BM25: by TF-IDF fitted on
    the training texts only."""
    return hardest_negatives(tfidf_similarities(pairs, [p for _, p in pairs]), pairs)


def model_similarities(model: str | Path, queries: list[str], documents: list[str], max_length: int,
                       batch_size: int = 64):
    """Cosine similarities (queries x documents) of a model's mean-pooled, normalised text vectors,
    each text cut at ``max_length`` tokens: what the run trains and evaluates (set here, as the
    untrained model saves no pooling)."""
    import albert

    embed = albert.pipeline("embeddings", model=str(model), batch_size=batch_size, level="text",
                            sentence_pooling="mean", normalize=True, max_length=max_length)
    return embed(queries, output="numpy") @ embed(documents, output="numpy").T


def model_mined_negatives(model: Path, pairs: list[tuple[str, str]], max_length: int) -> list[str]:
    """A hard negative for each training pair, as ANCE mines them: by the trained model's own
    vectors, a second round's data."""
    return hardest_negatives(model_similarities(model, [a for a, _ in pairs], [p for _, p in pairs], max_length), pairs)


def write_pairs(pairs: list[tuple[str, str]], path: Path, negatives: list[str] | None = None) -> Path:
    records = [{"anchor": a, "positive": p} for a, p in pairs]
    for record, negative in zip(records, negatives or []):
        record["negative"] = negative
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


# -- baselines and the run ---------------------------------------------------------------------------

def tfidf_similarities(pairs: list[tuple[str, str]], documents: list[str], extra: list[str] = ()):
    """Cosine similarities (anchors x documents) of TF-IDF vectors (sublinear tf) fitted on the
    pairs' texts and ``extra`` ones; the vectors are unit length, so the dot product is the cosine."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    anchors = [a for a, _ in pairs]
    vectorizer = TfidfVectorizer(sublinear_tf=True).fit(anchors + [p for _, p in pairs] + list(extra))
    return (vectorizer.transform(anchors) @ vectorizer.transform(documents).T).toarray()


def retrieval_documents(pairs: list[tuple[str, str]], distractors: list[str] = ()) -> tuple[list[str], list[int]]:
    """The documents of a retrieval over ``pairs`` and each anchor's target column: each distinct
    positive once, as the run's evaluation counts them, then the ``distractors``."""
    from albert.training.finetuning.metrics import unique_documents

    positives = [p for _, p in pairs]
    columns, targets = unique_documents(positives)
    return [positives[column] for column in columns] + list(distractors), targets


def miss_audit(pairs: list[tuple[str, str]], tfidf, trained) -> dict[str, Any]:
    """Which held-out anchors each method misses at rank 1 (similarity matrices over the retrieval
    documents), how the two sets of misses overlap, and TF-IDF's misses in full: where TF-IDF
    misses only what no method could get right, nothing beats it on recall@1."""
    import numpy as np

    from albert.training.finetuning.metrics import retrieval_scores, target_ranks

    documents, targets = retrieval_documents(pairs)
    tfidf_miss = target_ranks(tfidf, targets) > 1  # ties count against the query, as in the scores
    trained_miss = target_ranks(trained, targets) > 1
    own_text = np.array([anchor in documents and documents.index(anchor) != targets[row]
                         for row, (anchor, _) in enumerate(pairs)])
    return {
        "TF-IDF": int(tfidf_miss.sum()), "trained": int(trained_miss.sum()),
        "both": int((tfidf_miss & trained_miss).sum()), "TF-IDF only": int((tfidf_miss & ~trained_miss).sum()),
        "trained only": int((trained_miss & ~tfidf_miss).sum()),
        "anchor is itself another pair's positive": int(own_text.sum()),
        "trained scores": retrieval_scores(trained, targets=targets),  # the run's own "after", when it embeds alike
        "TF-IDF misses": [{"anchor": pairs[row][0], "positive": pairs[row][1],
                           "TF-IDF first": documents[int(tfidf[row].argmax())],
                           "trained first": documents[int(trained[row].argmax())]}
                          for row in np.flatnonzero(tfidf_miss)],
    }


def retrieval_table(pairs: list[tuple[str, str]], models: dict[str, str | Path], max_length: int,
                    distractors: list[str] = ()) -> dict[str, Any]:
    """Retrieval of each anchor's positive among all the pairs' positives and ``distractors``, for
    TF-IDF (fitted on all of those texts) and each of ``models``: search over a larger collection,
    or a second held-out set."""
    from albert.training.finetuning.metrics import retrieval_scores

    documents, targets = retrieval_documents(pairs, distractors)
    anchors = [a for a, _ in pairs]
    scores: dict[str, Any] = {"documents": len(documents),
                              "TF-IDF": retrieval_scores(tfidf_similarities(pairs, documents, extra=distractors), targets=targets)}
    for label, model in models.items():
        scores[label] = retrieval_scores(model_similarities(model, anchors, documents, max_length), targets=targets)
    return scores


def train(model: str | Path, train_file: Path, dev_file: Path, out: Path, args: argparse.Namespace,
          epochs: int | None = None) -> dict[str, Any]:
    """One ``finetune`` run: its summary, its dev scores before (step 0: the untrained model) and
    after (the last evaluation, of the model in ``final/``: the held-out split chooses nothing)."""
    from albert.training.finetuning.trainer import FinetuneSettings, finetune

    settings = FinetuneSettings(
        task="sentence-embeddings", epochs=epochs or args.epochs, batch_size=args.batch_size, max_length=args.max_length,
        learning_rate=args.lr, seed=args.seed, pooling="mean", matryoshka=args.matryoshka, threads=args.threads,
        device=args.device, eval_batch_size=64, log_every=10, progress=not args.quiet, dropout=args.dropout,
        scale=args.scale,
    )
    result = finetune(model, train_file, dev_file, out, settings)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    dev = [record for record in records if record.get("split") == "dev"]
    return {"summary": result.summary, "before": dev[0], "after": dev[-1], "best_step": result.best_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.common_arguments(parser)
    parser.add_argument("--model", default="albert-small-en", help="the model to train (default: the shipped one)")
    parser.add_argument("--held-out", type=int, default=500, help="positive pairs kept for retrieval")
    parser.add_argument("--examples", type=int, default=1000, help="training pairs at most (0: all the rest)")
    parser.add_argument("--wordnet", type=int, default=0, help="generated WordNet (definition, example) pairs to add")
    parser.add_argument("--wordnet-held-out", type=int, default=0,
                        help="also score retrieval on this many other WordNet pairs, never trained on")
    parser.add_argument("--crops", type=int, default=0, help="generated pairs: two crops of one sentence (see --crop-source)")
    parser.add_argument("--crop-source", choices=("mrpc", "conll"), default="mrpc",
                        help="sentences cropped: MRPC's, either quality, none of the held-out pairs; or CoNLL-2003's")
    parser.add_argument("--hard-negatives", action="store_true",
                        help="a TF-IDF-mined hard negative per training pair (a third column)")
    parser.add_argument("--weak-positives", action="store_true",
                        help="add MRPC's Quality-0 pairs (same story, not paraphrases) as positives, none held out")
    parser.add_argument("--second-round", type=int, default=0, metavar="EPOCHS",
                        help="then train the trained model EPOCHS more on negatives it mines itself (ANCE)")
    parser.add_argument("--distractors", action="store_true",
                        help="also search the held-out positives among every other MRPC sentence (~6,800 more)")
    parser.add_argument("--dropout", type=float, default=None, help="encoder dropout while training (default: the model's, 0)")
    parser.add_argument("--scale", type=float, default=20.0, help="similarity scale of the loss (1 / temperature)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: by model width)")
    parser.add_argument("--matryoshka", default="384,256,128,64")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--out", type=Path, default=None, help="keep the run folder here (default: a temporary one)")
    args = parser.parse_args()
    counts = {"--examples": args.examples, "--wordnet": args.wordnet, "--wordnet-held-out": args.wordnet_held_out,
              "--crops": args.crops, "--second-round": args.second_round}
    for option, value in counts.items():
        if value < 0:
            parser.error(f"{option} must be 0 or more, got {value}")
    if args.held_out < 1:
        parser.error(f"--held-out must be 1 or more (the retrieval split), got {args.held_out}")
    from albert.training.finetuning.metrics import retrieval_scores

    common.apply_threads(args.threads)
    device = common.resolve_bench_device(args.device)
    mrpc = common.SHARED_DATA / "mrpc" / "msr_paraphrase_train.txt"
    if not mrpc.exists():
        sys.exit(f"MRPC is not at {mrpc}")

    pairs = mrpc_pairs(mrpc, args.seed)
    held_out, training = pairs[:args.held_out], pairs[args.held_out:]
    if args.examples:
        training = training[:args.examples]
    wordnet = wordnet_pairs(args.seed) if args.wordnet or args.wordnet_held_out else []
    if args.wordnet + args.wordnet_held_out > len(wordnet) > 0:
        sys.exit(f"--wordnet and --wordnet-held-out ask for more than the {len(wordnet)} WordNet pairs")
    wordnet_held_out = wordnet[len(wordnet) - args.wordnet_held_out:] if args.wordnet_held_out else []
    wordnet_held_out_texts = {text for pair in wordnet_held_out for text in pair}
    wordnet_training = [pair for pair in wordnet[:args.wordnet] if not wordnet_held_out_texts.intersection(pair)]
    held_out_texts = {text for pair in held_out for text in pair}
    cropped = []
    if args.crops:
        source = mrpc_sentences(mrpc, held_out_texts) if args.crop_source == "mrpc" else conll_sentences()
        cropped = crop_pairs(source, args.crops, args.seed)
    generated = wordnet_training + cropped
    weak = mrpc_weak_pairs(mrpc, held_out_texts) if args.weak_positives else []
    training = training + generated + weak
    random.Random(args.seed + 1).shuffle(training)
    environment = common.environment(device)

    documents, targets = retrieval_documents(held_out)
    tfidf_matrix = tfidf_similarities(held_out, documents)
    tfidf = retrieval_scores(tfidf_matrix, targets=targets)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        negatives = mined_negatives(training) if args.hard_negatives else None
        train_file = write_pairs(training, folder / "train.jsonl", negatives)
        dev_file = write_pairs(held_out, folder / "dev.jsonl")
        out = args.out or folder / "run"
        run = train(args.model, train_file, dev_file, out, args)
        if args.second_round:
            first, second_out = run, out.with_name(out.name + "-round2")
            second_file = write_pairs(training, folder / "train-2.jsonl", model_mined_negatives(out / FINAL, training, args.max_length))
            run = train(out / FINAL, second_file, dev_file, second_out, args, epochs=args.second_round)
            run["before"], run["first_round"] = first["before"], first["after"]
            run["summary"]["seconds"] += first["summary"]["seconds"]
            run["summary"]["steps"] += first["summary"]["steps"]
            out = second_out
        trained = out / FINAL
        audit = miss_audit(held_out, tfidf_matrix,
                           model_similarities(trained, [a for a, _ in held_out], documents, args.max_length))
        models = {"untrained (mean pooling)": args.model, "trained": trained}
        search = retrieval_table(held_out, models, args.max_length, mrpc_sentences(mrpc, held_out_texts)) if args.distractors else None
        wordnet_retrieval = retrieval_table(wordnet_held_out, models, args.max_length) if wordnet_held_out else None
    before, after, summary = run["before"], run["after"], run["summary"]
    dimensions = [int(size) for size in args.matryoshka.split(",")] if args.matryoshka else []
    matryoshka = {
        str(size): {"before_mrr@10": before[f"mrr@10@{size}"], "after_mrr@10": after[f"mrr@10@{size}"],
                    "fraction_of_full_after": after[f"mrr@10@{size}"] / after["mrr@10"]}
        for size in dimensions
    }
    table = {"TF-IDF": tfidf, "untrained (mean pooling)": {m: before[m] for m in METRICS},
             "trained": {m: after[m] for m in METRICS}}
    beats = {f"{m} trained - {other}": after[m] - table[other][m]
             for other in ("TF-IDF", "untrained (mean pooling)") for m in ("recall@1", "mrr@10")}
    fraction_128 = matryoshka.get("128", {}).get("fraction_of_full_after")
    payload = {
        "benchmark": "sentence_embeddings",
        "environment": environment,
        "model": args.model,
        "data": {
            "source": "mrpc/msr_paraphrase_train.txt, positive pairs (Quality 1), shuffled with --seed",
            "held_out_pairs": len(held_out), "training_pairs": len(training), "generated_wordnet_pairs": len(wordnet_training),
            "generated_crop_pairs": len(cropped),
            "crop_source": args.crop_source if args.crops else None,
            "wordnet_held_out_pairs": len(wordnet_held_out),
            "weak_positive_pairs": len(weak),
            "hard_negatives": "TF-IDF-mined from the training positives" if args.hard_negatives else None,
            "second_round": (f"{args.second_round} epoch(s) from the trained model, negatives mined by it"
                             if args.second_round else None),
            "held_out_split": f"the first {len(held_out)} positive pairs after the seeded shuffle (seed {args.seed})",
            "documents": "each distinct held-out positive once (a text that is 2 pairs' positive is one document)",
        },
        "settings": {"epochs": args.epochs, "batch_size": args.batch_size, "max_length": args.max_length,
                     "learning_rate": summary["settings"]["learning_rate"], "matryoshka": args.matryoshka, "dropout": args.dropout,
                     "loss": f"symmetric multiple-negatives ranking, in-batch negatives, scale {args.scale:g}", "pooling": "mean"},
        "retrieval": table,
        "margins": beats,
        "matryoshka": matryoshka,
        "target_matryoshka_128_fraction": TARGET_MATRYOSHKA_FRACTION,
        "matryoshka_128_meets_target": fraction_128 is not None and fraction_128 >= TARGET_MATRYOSHKA_FRACTION,
        "trained_beats_both": all(value > 0 for value in beats.values()),
        "misses_at_rank_1": audit,
        "search_with_distractors": search,
        "wordnet_retrieval": wordnet_retrieval,
        "training": {"seconds": summary["seconds"], "steps": summary["steps"],
                     "pairs_per_second": len(training) * (args.epochs + args.second_round) / summary["seconds"],
                     "best_step": run["best_step"],
                     "after_first_round": {m: run["first_round"][m] for m in METRICS} if args.second_round else None},
        "load_average_at_end": list(os.getloadavg()),
    }
    name = args.name or f"sentence_embeddings-{common.device_tag(device)}"
    common.write_results(name, payload)
    groups = {metric: {label: values[metric] for label, values in table.items()} for metric in METRICS}
    groups.update({f"MRR@10 @{size}": {"untrained (mean pooling)": values["before_mrr@10"],
                                       "trained": values["after_mrr@10"]} for size, values in matryoshka.items()})
    common.bar_chart(
        name, f"{args.model}: retrieval over {len(held_out)} held-out MRPC pairs ({environment['device'][:48]})", groups,
        "score", note=f"{len(training)} training pairs, {args.epochs} epoch(s), {summary['seconds']:.0f} s of training",
    )
    print(json.dumps({"retrieval": table, "matryoshka": matryoshka, "training": payload["training"],
                      "misses_at_rank_1": {k: v for k, v in audit.items() if k not in ("TF-IDF misses", "trained scores")},
                      "search_with_distractors": search, "wordnet_retrieval": wordnet_retrieval}, indent=2))


if __name__ == "__main__":
    main()
