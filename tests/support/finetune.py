"""Synthetic data sets for the fine-tuning tests: each is learnable by a tiny model in a few dozen
steps, and a model that learnt nothing scores at chance on it.

Words come from the tiny test vocabulary (tests/data/tiny_corpus.txt), so each is one or two
pieces and inputs stay short.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

WORDS = "city river bridge car night winter station storm kitchen morning monday dinner word hours".split()
ENTITY_WORDS = {"paint": "B-ACT", "watch": "B-ACT", "visit": "B-LOC", "open": "B-LOC"}
CLASS_KEYWORDS = {"pos": "paint", "neg": "watch"}
# A randomly initialised tiny model learns from which words occur long before it learns
# attention patterns, so each task's signal is lexical (its machinery is what is under test).


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def classification_records(count: int, seed: int) -> list[dict]:
    """The label is the keyword beside a filler word."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        label = rng.choice(sorted(CLASS_KEYWORDS))
        words = [rng.choice(WORDS)]
        words.insert(rng.randint(0, 1), CLASS_KEYWORDS[label])
        records.append({"sentence": " ".join(words), "label": label})
    return records


def regression_records(count: int, seed: int) -> list[dict]:
    """The score is how many of the first text's four words are "storm" (0..3)."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        storms = rng.randint(0, 3)
        words = rng.sample([w for w in WORDS if w != "storm"], 4 - storms) + ["storm"] * storms
        rng.shuffle(words)
        records.append({"sentence1": " ".join(words), "sentence2": "city night", "score": float(storms)})
    return records


def tagging_records(count: int, seed: int) -> list[dict]:
    """Tags follow word identity: the entity words are B-ACT/B-LOC, the rest O."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        words = rng.sample(WORDS, 4) + rng.sample(sorted(ENTITY_WORDS), 2)
        rng.shuffle(words)
        records.append({"words": words, "tags": [ENTITY_WORDS.get(word, "O") for word in words]})
    return records


TIME_WORDS = ("monday", "morning", "winter", "night", "dinner", "hours")
FILLER_WORDS = tuple(word for word in WORDS if word not in TIME_WORDS)


def squad_records(count: int, seed: int, context_words: int = 6) -> list[dict]:
    """"when" questions whose answer is the one time word of the context (flat SQuAD records);
    the answer's place varies, so spans must be found, not remembered."""
    rng = random.Random(seed)
    records = []
    for index in range(count):
        words = [rng.choice(FILLER_WORDS) for _ in range(context_words)]
        answer = rng.choice(TIME_WORDS)
        position = rng.randint(0, context_words)
        words.insert(position, answer)
        context = " ".join(words)
        start = len(" ".join(words[:position])) + (1 if position else 0)
        assert context[start:start + len(answer)] == answer
        records.append({"id": f"q{seed}-{index}", "question": "when", "context": context,
                        "answers": {"text": [answer], "answer_start": [start]}})
    return records


def choice_records(count: int, seed: int) -> list[dict]:
    """The right ending holds the keyword "paint"; the others only filler words (SWAG layout)."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        label = rng.randint(0, 3)
        endings = [f"{rng.choice(WORDS)} {rng.choice(WORDS)}" for _ in range(4)]
        endings[label] = f"{rng.choice(WORDS)} paint"
        record = {"sent1": " ".join(rng.sample(WORDS, 3)), "sent2": "the", "label": label}
        record.update({f"ending{index}": ending for index, ending in enumerate(endings)})
        records.append(record)
    return records


def assert_runs_agree(reference: Path, run: Path, keys: tuple[str, ...]) -> None:
    """Two run folders trained the same best model (to float summation order) and logged the same
    records: the same steps, and the same ``keys`` values where the reference has them."""
    from safetensors.torch import load_file

    expected, trained = (load_file(folder / "best" / "model.safetensors") for folder in (reference, run))
    assert expected.keys() == trained.keys()
    for name, tensor in expected.items():
        torch.testing.assert_close(trained[name], tensor, atol=1e-5, rtol=1e-4, msg=name)
    records, wanted = ([json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
                       for folder in (run, reference))
    assert [(r["step"], r.get("split")) for r in records] == [(r["step"], r.get("split")) for r in wanted]
    for got, want in zip(records, wanted):
        for key in keys:
            if key in want:
                assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), (key, got, want)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread: on a busy 2-core machine, two threads spend most
    of each tiny operation waiting for each other (measured: 26 s against 1.6 s for one run)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
