"""Sentence-order pairs: lengths, balance, the reference's trimming, and exact reproducibility."""

from __future__ import annotations

import random

import numpy as np
import pytest
from support.pretrain import tiny_data_dir, tiny_tokenizer, tiny_tokenizer_dir  # noqa: F401

from albert.training.pretraining.instances import (
    InstanceStream,
    collate_pairs,
    document_pairs,
    epoch_instances,
    pair_budget,
    trimmed_lengths,
)
from albert.training.pretraining.shards import ShardedCorpus


def _reference_trim(length_a: int, length_b: int, budget: int) -> tuple[int, int]:
    """google-research/albert's truncate_seq_pair, one token at a time (lengths only)."""
    while length_a + length_b > budget:
        if length_a > length_b:
            length_a -= 1
        else:
            length_b -= 1
    return length_a, length_b


def _document(rng: random.Random, sentences: int, low: int = 3, high: int = 30, start: int = 0) -> list[int]:
    offsets = [start]
    for _ in range(sentences):
        offsets.append(offsets[-1] + rng.randint(low, high))
    return offsets


def test_trimming_matches_the_reference_loop() -> None:
    for length_a in range(1, 40):
        for length_b in range(1, 40):
            for budget in (2, 5, 17, 40, 100):
                assert trimmed_lengths(length_a, length_b, budget) == _reference_trim(length_a, length_b, budget)


def test_pairs_fit_the_budget_and_stay_inside_their_document() -> None:
    rng = random.Random(0)
    budget = pair_budget(64)
    for _ in range(500):
        offsets = _document(rng, rng.randint(1, 12), start=rng.randint(0, 1000))
        for _, a_start, a_end, b_start, b_end, label in document_pairs(offsets, budget, 0.1, rng):
            assert a_end - a_start >= 1 and b_end - b_start >= 1
            assert (a_end - a_start) + (b_end - b_start) <= budget
            assert offsets[0] <= min(a_start, b_start) and max(a_end, b_end) <= offsets[-1]
            # the two segments are consecutive text: in order (label 0) or swapped (label 1)
            assert (a_end <= b_start) if label == 0 else (b_end <= a_start)


def test_sentence_order_labels_are_balanced() -> None:
    rng = random.Random(1)
    labels = [
        pair[-1]
        for _ in range(3000)
        for pair in document_pairs(_document(rng, 10), pair_budget(128), 0.1, rng)
    ]
    assert len(labels) > 5000
    assert np.mean(labels) == pytest.approx(0.5, abs=0.02)


def test_short_seq_prob_makes_about_that_share_of_documents_short() -> None:
    rng = random.Random(2)
    budget = pair_budget(128)
    shares = {}
    for probability in (0.0, 0.1, 1.0):
        short = 0
        for _ in range(3000):
            first = document_pairs(_document(rng, 60, 10, 10), budget, probability, rng)[0]
            short += (first[2] - first[1]) + (first[4] - first[3]) < budget
        shares[probability] = short / 3000
    assert shares[0.0] == 0
    # a short target is uniform in [2, budget]; sentences of 10 tokens reach the budget when
    # the target is within 10 tokens of it
    assert shares[0.1] == pytest.approx(0.1 * (budget - 11) / (budget - 1), abs=0.025)
    assert shares[1.0] > 0.85


def test_a_long_sentence_gives_several_pairs_not_one_truncated_pair() -> None:
    pairs = document_pairs([0, 1000], pair_budget(64), 0.0, random.Random(0))
    assert len(pairs) >= 15
    covered = sum((p[2] - p[1]) + (p[4] - p[3]) for p in pairs)
    assert covered > 900


def test_epoch_instances_are_reproducible_and_differ_between_epochs(tiny_data_dir) -> None:  # noqa: F811
    corpus = ShardedCorpus(tiny_data_dir)
    first = epoch_instances(corpus, 64, 0.1, seed=3, epoch=0)
    again = epoch_instances(corpus, 64, 0.1, seed=3, epoch=0)
    other = epoch_instances(corpus, 64, 0.1, seed=3, epoch=1)
    assert (first == again).all()
    assert len(first) != len(other) or (first != other).any()
    assert ((first["a_end"] - first["a_start"]) + (first["b_end"] - first["b_start"]) <= pair_budget(64)).all()


def test_stream_resumes_exactly_from_its_state(tiny_data_dir) -> None:  # noqa: F811
    corpus = ShardedCorpus(tiny_data_dir)
    stream = InstanceStream(corpus, 64, 0.1, seed=0)
    epoch_size = stream.epoch_size
    stream.take(epoch_size - 5)  # the next take crosses into epoch 1
    state = stream.state()
    crossing = stream.take(12)
    assert stream.state() == {"epoch": 1, "position": 7}
    resumed = InstanceStream(corpus, 64, 0.1, seed=0, **state)
    assert (resumed.take(12) == crossing).all()


def test_collated_rows_are_cls_a_sep_b_sep(tiny_data_dir, tiny_tokenizer) -> None:  # noqa: F811
    corpus = ShardedCorpus(tiny_data_dir)
    instances = epoch_instances(corpus, 64, 0.1, seed=0, epoch=0)[:16]
    cls_id, sep_id, pad_id = tiny_tokenizer.cls_token_id, tiny_tokenizer.sep_token_id, tiny_tokenizer.pad_token_id
    rows = collate_pairs(corpus, instances, cls_id, sep_id, pad_id)
    assert rows["input_ids"].shape[1] <= 64 and rows["input_ids"].shape[1] % 8 == 0
    for row, instance in enumerate(instances):
        tokens = corpus.shards[instance["shard"]].tokens
        a = tokens[instance["a_start"]:instance["a_end"]].tolist()
        b = tokens[instance["b_start"]:instance["b_end"]].tolist()
        length = len(a) + len(b) + 3
        assert rows["input_ids"][row, :length].tolist() == [cls_id, *a, sep_id, *b, sep_id]
        assert (rows["input_ids"][row, length:] == pad_id).all()
        assert rows["token_type_ids"][row, :length].tolist() == [0] * (len(a) + 2) + [1] * (len(b) + 1)
        assert rows["attention_mask"][row].sum() == length
        special = np.flatnonzero(rows["special_tokens_mask"][row, :length]).tolist()
        assert special == [0, len(a) + 1, length - 1]
    assert rows["sentence_order_label"].tolist() == instances["sentence_order_label"].tolist()
