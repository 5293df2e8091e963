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

from support.tiny import TINY_CORPUS, TINY_SHAPE, shared_data, tiny_config, train_tiny_spm  # noqa: E402, F401


@pytest.fixture(scope="session")
def albert_vocab() -> Path:
    """ALBERT's real 30k SentencePiece model (30k-clean.model)."""
    return shared_data("albert-vocab/spiece.model")


@pytest.fixture(scope="session")
def tiny_spm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a tiny spiece.model (pad=0 unk=1 [CLS]=2 [SEP]=3 [MASK]=4)."""
    return train_tiny_spm(tmp_path_factory.mktemp("tiny_spm"))


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
