"""How well a model fills masks on text it has not seen: masked-token accuracy (top-1, top-5), MLM
loss, and sentence-order accuracy when the model has that head.

The text goes through exactly the pretraining path (documents -> sentence-order pairs -> n-gram
whole-word masks) with a fixed seed, so two models evaluated on the same file see the same masks.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ...devices import resolve_device
from .trainer import PretrainingObjective, PretrainSettings, batch_maker_for, step_rng, summarize_results

DEFAULT_MAX_EXAMPLES = 2000


@torch.no_grad()
def evaluate_mlm(
    model_name_or_path: str | os.PathLike[str],
    files: Sequence[str | os.PathLike[str]],
    *,
    max_seq_length: int = 128,
    batch_size: int = 32,
    seed: int = 0,
    max_examples: int | None = DEFAULT_MAX_EXAMPLES,
    masked_lm_prob: float = 0.15,
    max_predictions_per_seq: int | None = None,
    device: str | torch.device | None = "auto",
    progress: bool = True,
    split: str = "heldout",
) -> dict[str, float]:
    """Masked-token accuracy (top-1 and top-5), MLM loss and perplexity, and SOP accuracy (when the
    checkpoint has a sentence-order head) of a model on held-out text.

    Args:
        model_name_or_path: a model folder (with its tokenizer files) or a shipped/Hub model.
        files: text files or folders (.txt, .txt.gz, .txt.xz), read as pretraining documents; or
            one folder written by ``prepare-data``, whose ``split`` is evaluated (by default the
            held-out documents the training run never saw; the tokenizer must be the same).
        split: the split of a ``prepare-data`` folder: "heldout" or "train".
        max_seq_length: length of the sentence pairs.
        seed: fixes the pairs and the masks.
        max_examples: evaluate at most this many pairs (None: all).
        max_predictions_per_seq: masked tokens per pair at most (default 15% of max_seq_length).

    Raises:
        CorpusError: unreadable or empty text.
    """
    from ...modeling import AlbertForPreTraining
    from ...tokenization_base import check_tokenizer_fits
    from ...tokenizer import load_tokenizer
    from .instances import epoch_instances
    from .masking import default_max_predictions
    from .shards import MANIFEST_NAME, ShardedCorpus, prepare_shards

    target = resolve_device(device)
    model = AlbertForPreTraining.from_pretrained(model_name_or_path, device=target)
    if any(name.startswith(("sop_classifier.", "albert.pooler.")) for name in model.loading_info.missing_keys):
        # A checkpoint without a trained SOP head: report MLM only (the head is unset, as
        # ``model.sop_classifier = None`` would, through nn.Module's typed way to do it).
        model.add_module("sop_classifier", None)
    tokenizer = load_tokenizer(_tokenizer_folder(model_name_or_path))
    check_tokenizer_fits(tokenizer, model.config.vocab_size, str(model_name_or_path))
    settings = PretrainSettings(
        steps=1, batch_size=batch_size, max_seq_length=max_seq_length, short_seq_prob=0.0,
        masked_lm_prob=masked_lm_prob,
        max_predictions_per_seq=max_predictions_per_seq or default_max_predictions(max_seq_length, masked_lm_prob),
    ).resolved()
    objective = PretrainingObjective(model).eval()
    results = []
    prepared = len(files) == 1 and (Path(files[0]) / MANIFEST_NAME).is_file()
    with tempfile.TemporaryDirectory(prefix="albert-eval-") as data_dir:
        if prepared:
            corpus = ShardedCorpus(files[0], split, tokenizer=tokenizer)
        else:
            prepare_shards(files, tokenizer, data_dir, heldout_fraction=0.0, progress=progress)
            corpus = ShardedCorpus(data_dir, "train")
        instances = epoch_instances(corpus, max_seq_length, 0.0, seed=seed, epoch=0)
        if max_examples is not None:
            instances = instances[:max_examples]
        make_batch = batch_maker_for(corpus, tokenizer, settings)
        for index, start in enumerate(range(0, len(instances), batch_size)):
            batch = make_batch(instances[start:start + batch_size], step_rng(seed, index, 0, 0))
            results.append(objective(**{key: value.to(target) for key, value in batch.items()}))
    summary = summarize_results(results)
    summary["examples"] = float(len(instances))
    return summary


def _tokenizer_folder(model_name_or_path: str | os.PathLike[str]) -> Any:
    from ...hub import local_folder, resolve_file

    folder = local_folder(model_name_or_path)
    if folder is not None:
        return folder
    return resolve_file(model_name_or_path, "spiece.model").parent
