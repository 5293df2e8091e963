"""Shared fixtures: paths to the offline data, a tiny SentencePiece vocabulary and tiny models.

Tests that need ``../shared/data`` (ALBERT's real vocabulary, the corpora) skip with a clear
message when it is absent; everything else builds what it needs here, in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

# The suite runs in parallel processes (pytest -n 2): one thread each keeps them from stalling
# each other on a 2-core machine.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TINY_CORPUS = Path(__file__).resolve().parent / "data" / "tiny_corpus.txt"


def shared_data(relative: str) -> Path:
    """A path under ``../shared/data``, or skip the test when it is not there."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"offline data not found at {path} (expected ../shared/data beside the repo)")
    return path


@pytest.fixture(scope="session")
def albert_vocab() -> Path:
    """ALBERT's real 30k SentencePiece model (30k-clean.model)."""
    return shared_data("albert-vocab/spiece.model")


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


@pytest.fixture(scope="session")
def tiny_spm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny spiece.model (pad=0 unk=1 [CLS]=2 [SEP]=3 [MASK]=4)."""
    return train_tiny_spm(tmp_path_factory.mktemp("tiny_spm"))


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


@pytest.fixture(scope="session")
def make_tiny_model(tmp_path_factory: pytest.TempPathFactory, tiny_spm: Path):
    """Factory: ``make_tiny_model(cls, seed=0, **config_overrides) -> folder`` with a random tiny
    model of that class and the tiny tokenizer files, as ``save_pretrained`` writes them."""
    import sentencepiece as spm

    vocab_size = spm.SentencePieceProcessor(model_file=str(tiny_spm)).get_piece_size()

    def make(cls=None, seed: int = 0, **overrides) -> Path:
        from albert import AlbertForMaskedLM

        cls = cls or AlbertForMaskedLM
        torch.manual_seed(seed)
        model = cls(tiny_config(vocab_size=vocab_size, **overrides)).eval()
        folder = tmp_path_factory.mktemp(cls.__name__)
        model.save_pretrained(folder)
        (folder / "spiece.model").write_bytes(tiny_spm.read_bytes())
        (folder / "tokenizer_config.json").write_text(
            json.dumps({"tokenizer_class": "AlbertTokenizer", "do_lower_case": True, "model_max_length": 64})
        )
        return folder

    return make
