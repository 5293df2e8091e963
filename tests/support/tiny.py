"""Tiny models and vocabularies built in seconds, and paths to the offline data: what tests in
every folder import (the fixtures that wrap them are in ``tests/conftest.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
TINY_CORPUS = Path(__file__).resolve().parents[1] / "data" / "tiny_corpus.txt"


def shared_data(relative: str) -> Path:
    """A path under ``../shared/data``, or skip the test when it is not there."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"offline data not found at {path} (expected ../shared/data beside the repo)")
    return path


def train_tiny_spm(folder: Path, vocab_size: int = 400) -> Path:
    """Train a small unigram SentencePiece model with ALBERT's special ids on the tiny corpus."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / "spiece"
    spm.SentencePieceTrainer.train(
        input=str(TINY_CORPUS),
        model_prefix=str(prefix),
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        user_defined_symbols=["(", ")", '"', "-", ".", ","],
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    (folder / "spiece.vocab").unlink(missing_ok=True)
    return folder / "spiece.model"


#: The tiny model shape: 2 groups of 2 distinct layers (4 steps), E != H. Tests reuse it.
TINY_SHAPE = dict(
    embedding_size=16,
    hidden_size=32,
    num_hidden_layers=4,
    num_hidden_groups=2,
    inner_group_num=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    hidden_act="gelu_new",
)


def tiny_config(vocab_size: int = 400, **overrides):
    """A small ALBERT config that still exercises sharing (see :data:`TINY_SHAPE`)."""
    from albert import AlbertConfig

    values = dict(TINY_SHAPE, vocab_size=vocab_size)
    values.update(overrides)
    return AlbertConfig(**values)


def random_batch(lengths: list[int], vocab: int = 400, seed: int = 0):
    """``(input_ids, attention_mask)``: seeded random ids in ``[5, vocab)`` (no special pieces), one
    row per length, padded with 0 to the longest."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    return torch.randint(5, vocab, (len(lengths), width), generator=generator) * mask, mask
