"""The model shipped in the package: present, within its budget, the default, loadable by
transformers with the same outputs, and actually pretrained (its predictions mean something)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from support.tiny import shared_data

import albert
from albert import AlbertConfig, AlbertForMaskedLM, AlbertTokenizer
from albert.hub import shipped_models
from albert.pipelines.base import default_model

NAME = "albert-small-en"


@pytest.fixture(scope="module")
def folder() -> Path:
    models = shipped_models()
    assert NAME in models, f"{NAME} is not among the shipped models: {sorted(models)}"
    return models[NAME]


@pytest.fixture(scope="module")
def unmasker():
    return albert.pipeline("fill-mask", device="cpu", progress=False)  # no model given: the default


def test_it_is_the_default_and_fits_its_budget(folder: Path) -> None:
    assert default_model() == folder
    files = {path.name: path.stat().st_size for path in folder.iterdir()}
    assert {"config.json", "model.safetensors", "spiece.model", "tokenizer_config.json", "README.md"} <= set(files)
    assert sum(files.values()) <= 25_000_000
    config = AlbertConfig.from_pretrained(folder)
    assert (config.embedding_size, config.hidden_size, config.num_hidden_layers, config.num_hidden_groups) == (
        128, 384, 12, 1)
    tokenizer = AlbertTokenizer.from_pretrained(str(folder))
    assert tokenizer.model_max_length == config.max_position_embeddings == 128
    assert len(tokenizer.get_vocab()) == config.vocab_size == 30000
    assert [tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id,
            tokenizer.mask_token_id] == [0, 1, 2, 3, 4]


def test_the_model_card_has_what_the_issue_asks_for(folder: Path) -> None:
    card = (folder / "README.md").read_text(encoding="utf-8").lower()
    for needed in ("licen", "vocabulary", "parameters", "steps", "tokens seen", "h200", "albert pretrain",
                   "albert train-tokenizer", "top-1", "top-5", "sentence-order", "fill-mask", "not good at"):
        assert needed in card, needed


@pytest.mark.parametrize(("text", "expected"), [
    ("In the beginning God created the heaven and the [MASK].", "earth"),
    ("The function returns a [MASK] of strings.", "list"),
    ("And God said, Let there be [MASK]: and there was light.", "light"),
])
def test_fill_mask_on_text_like_its_corpus_finds_the_word(unmasker, text: str, expected: str) -> None:
    assert expected in [result["token_str"] for result in unmasker(text, top_k=5)]


def test_masked_token_accuracy_is_far_above_chance() -> None:
    from albert.training.pretraining.held_out import evaluate_mlm

    text = Path(__file__).resolve().parents[1] / "data" / "tiny_corpus.txt"
    results = evaluate_mlm(NAME, [text], max_examples=60, progress=False, device="cpu")
    assert results["mlm_accuracy"] > 0.2 and results["mlm_top5_accuracy"] > 0.35  # measured: 0.27 / 0.44


def test_out_of_domain_wikipedia_text_is_still_predicted() -> None:
    from albert.training.pretraining.held_out import evaluate_mlm

    results = evaluate_mlm(NAME, [shared_data("samples/wiki_00.txt")], max_examples=60, progress=False, device="cpu")
    assert results["mlm_accuracy"] > 0.15  # measured: 0.21 on 131 pairs (a random model: ~0)


def test_transformers_loads_it_and_gives_the_same_logits(folder: Path) -> None:
    transformers = pytest.importorskip("transformers")
    tokenizer = AlbertTokenizer.from_pretrained(str(folder))
    batch = tokenizer(["the kernel allocates [MASK] for each process.", "a [MASK] is kept as a pet."],
                      padding=True, return_tensors="pt")
    ours = AlbertForMaskedLM.from_pretrained(folder).eval()
    theirs = transformers.AlbertForMaskedLM.from_pretrained(folder).eval()
    with torch.no_grad():
        want = theirs(**batch).logits
        got = ours(**batch).logits
        fast = AlbertForMaskedLM.from_pretrained(folder, fast=True).eval()(**batch).logits
    real = batch["attention_mask"].bool()
    assert (got - want)[real].abs().max() < 1e-4
    assert (fast - want)[real].abs().max() < 1e-4


def test_the_command_uses_it_offline_without_being_told(tmp_path: Path) -> None:
    environment = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    process = subprocess.run(
        [sys.executable, "-m", "albert.cli", "fill-mask", "The function returns a [MASK] of strings.", "--json"],
        capture_output=True, text=True, timeout=120, env=environment, cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr
    results = [json.loads(line) for line in process.stdout.splitlines()]
    assert len(results) == 5 and all(0 < r["score"] <= 1 for r in results)
    embedded = subprocess.run(
        [sys.executable, "-m", "albert.cli", "embed", "ALBERT shares one layer. It is small.", "--level", "sentence",
         "--output", str(tmp_path / "vectors.npy")],
        capture_output=True, text=True, timeout=120, env=environment, cwd=tmp_path,
    )
    assert embedded.returncode == 0, embedded.stderr
    import numpy as np

    vectors = np.load(tmp_path / "vectors.npy")
    assert vectors.shape == (2, 384) and np.isfinite(vectors).all()
