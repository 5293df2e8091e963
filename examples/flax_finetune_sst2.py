"""Fine-tune the shipped ALBERT on a slice of SST-2 in JAX: Flax NNX model, optax AdamW, jit.

    python examples/flax_finetune_sst2.py                          # 1,024 examples of ../shared/data/sst2, 3 epochs
    python examples/flax_finetune_sst2.py --train my.tsv --dev my_dev.tsv --examples 2000 --out runs/flax-sst2

The TSV files are GLUE's (a ``sentence`` and a ``label`` column, as albert's readers take
them; any text-classification file they read works). The loop is the whole of the method: a
jitted step that takes the gradient of the head's own loss and lets optax update the weights;
dropout is on while training (``model.train()``) and off for the dev accuracy (``model.eval()``).
Batches group rows of similar length, padded to 16, 32 or 64 pieces, so the training step
compiles three times at most. ``--out`` saves a folder that albert's torch models and
transformers load as well.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from albert.flax import FlaxAlbertForSequenceClassification
from albert.tokenizer import AlbertTokenizer
from albert.training.finetuning.readers import TextExample, read_text_examples

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"


#: Batches are padded to the smallest of these lengths that fits their longest row: few shapes
#: to compile (one each), and SST-2's short phrases (median 11 pieces) do not pay for 64.
BUCKETS = (16, 32, 64)


def read_slice(path: Path, count: int, seed: int) -> list[TextExample]:
    """``count`` labelled examples of ``path``, shuffled with ``seed``."""
    examples = [example for example in read_text_examples(path) if example.label is not None]
    random.Random(seed).shuffle(examples)
    return examples[:count]


def encode(tokenizer: AlbertTokenizer, examples: list[TextExample], max_length: int,
           label2id: dict[str, int]) -> list[tuple[list[int], int]]:
    """(ids, label id) pairs, ids with [CLS] and [SEP], cut to ``max_length``."""
    ids = tokenizer([example.text for example in examples], truncation=True, max_length=max_length)["input_ids"]
    return [(row, label2id[str(example.label)]) for row, example in zip(ids, examples)]


def batches(examples: list[tuple[list[int], int]], batch_size: int, rng: np.random.Generator | None = None):
    """Batches of rows of similar length, each padded to its bucket. For training (``rng``
    given) in random order and full only (a bucket's last rows wait for another epoch), so the
    step sees one shape per bucket."""
    buckets: dict[int, list[tuple[list[int], int]]] = {}
    for row, label in examples:
        width = next((size for size in BUCKETS if len(row) <= size), len(row))
        buckets.setdefault(width, []).append((row, label))
    chunks = []
    for width, rows in sorted(buckets.items()):
        order = np.arange(len(rows)) if rng is None else rng.permutation(len(rows))
        chunks += [(width, [rows[i] for i in order[start:start + batch_size]])
                   for start in range(0, len(rows), batch_size)
                   if rng is None or start + batch_size <= len(rows)]
    for index in (range(len(chunks)) if rng is None else rng.permutation(len(chunks))):
        width, rows = chunks[index]
        input_ids, attention_mask = np.zeros((2, len(rows), width), np.int32)
        for row_index, (row, _) in enumerate(rows):
            input_ids[row_index, : len(row)], attention_mask[row_index, : len(row)] = row, 1
        yield {"input_ids": jnp.asarray(input_ids), "attention_mask": jnp.asarray(attention_mask),
               "labels": jnp.array([label for _, label in rows], jnp.int32)}


@nnx.jit
def train_step(model: FlaxAlbertForSequenceClassification, optimizer: nnx.Optimizer, batch: dict) -> jax.Array:
    """One AdamW step on the head's cross-entropy; returns the batch's loss (before the step)."""
    loss, grads = nnx.value_and_grad(lambda model: model(**batch).loss)(model)
    optimizer.update(model, grads)
    return loss


@nnx.jit
def predict(model: FlaxAlbertForSequenceClassification, batch: dict) -> jax.Array:
    inputs = {name: value for name, value in batch.items() if name != "labels"}
    return model(**inputs).logits.argmax(-1)


def accuracy(model: FlaxAlbertForSequenceClassification, examples: list, batch_size: int) -> float:
    model.eval()
    right = total = 0
    for batch in batches(examples, batch_size):
        right += int((predict(model, batch) == batch["labels"]).sum())
        total += len(batch["labels"])
    return right / max(1, total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, default=SST2 / "train.tsv", help="training TSV (sentence, label)")
    parser.add_argument("--dev", type=Path, default=SST2 / "dev.tsv", help="dev TSV for the accuracy")
    parser.add_argument("--model", default="albert-small-en", help="folder, shipped model or Hub id")
    parser.add_argument("--examples", type=int, default=1024, help="training examples taken (shuffled)")
    parser.add_argument("--dev-examples", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="save the fine-tuned model here")
    args = parser.parse_args()
    for path in (args.train, args.dev):
        if not path.exists():
            parser.error(f"{path} does not exist; pass --train/--dev TSV files with 'sentence' and 'label' columns")

    tokenizer = AlbertTokenizer.from_pretrained(args.model)
    train_examples = read_slice(args.train, args.examples, args.seed)
    labels = sorted({str(example.label) for example in train_examples})  # SST-2: "0" negative, "1" positive
    label2id = {label: index for index, label in enumerate(labels)}
    train = encode(tokenizer, train_examples, args.max_length, label2id)
    dev_examples = [e for e in read_slice(args.dev, args.dev_examples, args.seed) if str(e.label) in label2id]
    dev = encode(tokenizer, dev_examples, args.max_length, label2id)
    model = FlaxAlbertForSequenceClassification.from_pretrained(
        args.model, id2label=dict(enumerate(labels)), label2id=label2id,
        rngs=nnx.Rngs(params=args.seed, dropout=args.seed + 1),
    )
    steps_per_epoch = sum(1 for _ in batches(train, args.batch_size, np.random.default_rng(0)))
    steps = args.epochs * steps_per_epoch
    # As albert's torch fine-tuning: warmup over 10% of the steps, then linear decay; AdamW with
    # eps 1e-6 (the reference's), gradients clipped to norm 1.
    schedule = optax.join_schedules([
        optax.linear_schedule(0.0, args.learning_rate, max(1, steps // 10)),
        optax.linear_schedule(args.learning_rate, 0.0, steps - max(1, steps // 10)),
    ], [max(1, steps // 10)])
    transform = optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, eps=1e-6, weight_decay=0.01))
    optimizer = nnx.Optimizer(model, transform, wrt=nnx.Param)
    print(f"{jax.devices()[0].platform}: {len(train)} training examples, {steps} steps of up to {args.batch_size}; "
          f"dev accuracy before: {accuracy(model, dev, args.batch_size):.3f}")

    rng, epoch_losses, started = np.random.default_rng(args.seed), [], time.perf_counter()
    for epoch in range(args.epochs):
        model.train()  # dropout on
        losses = [float(train_step(model, optimizer, batch)) for batch in batches(train, args.batch_size, rng)]
        epoch_losses.append(float(np.mean(losses)))
        print(f"epoch {epoch + 1}: mean loss {epoch_losses[-1]:.4f}, dev accuracy "
              f"{accuracy(model, dev, args.batch_size):.3f}, {time.perf_counter() - started:.0f} s")
    verdict = "down" if epoch_losses[-1] < epoch_losses[0] else "NOT down"
    print(f"mean training loss: epoch 1 {epoch_losses[0]:.4f} -> epoch {args.epochs} {epoch_losses[-1]:.4f} ({verdict})")
    if args.out:
        model.save_pretrained(args.out, tokenizer=tokenizer)
        print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
