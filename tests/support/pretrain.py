"""Fixtures and helpers shared by the pretraining tests (tests/training/pretraining/ and the tests of files and faults).

Import the fixtures into a test module with ``from support.pretrain import *  # noqa: F403``:
a tiny tokenizer folder, a prepared data folder from tests/data/tiny_corpus.txt, the tiny model
shape as ``--set`` options, and a runner for the real ``albert`` command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.tiny import TINY_SHAPE

TESTS = Path(__file__).resolve().parents[1]
TINY_CORPUS = TESTS / "data" / "tiny_corpus.txt"



def tiny_set_options(**extra: object) -> list[str]:
    """``--set key=value`` options for the tiny shape (plus ``extra``) on the command line."""
    options = []
    for key, value in {**TINY_SHAPE, **extra}.items():
        options += ["--set", f"{key}={value}"]
    return options


def run_albert(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real ``albert`` command (as ``python -m albert.cli``) and return its result."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "albert.cli", *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"albert {' '.join(map(str, args))} failed ({result.returncode}):\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory, tiny_spm: Path) -> Path:
    """A tokenizer folder (spiece.model + tokenizer_config.json) with the tiny vocabulary."""
    from albert.tokenizer import AlbertTokenizer

    folder = tmp_path_factory.mktemp("tiny_tokenizer")
    AlbertTokenizer(tiny_spm, model_max_length=64).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_tokenizer_dir: Path):
    from albert.tokenizer import AlbertTokenizer

    return AlbertTokenizer.from_pretrained(tiny_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer) -> Path:
    """The tiny corpus prepared into shards: documents of 8 lines, 10% held out."""
    from albert.training.pretraining.shards import prepare_shards

    folder = tmp_path_factory.mktemp("tiny_data")
    prepare_shards([TINY_CORPUS], tiny_tokenizer, folder, heldout_fraction=0.1, max_document_lines=8,
                   min_document_chars=0, progress=False)
    return folder
