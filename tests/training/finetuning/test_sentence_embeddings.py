"""``albert finetune --task sentence-embeddings``: the contrastive losses against hand computations,
retrieval metrics on known ranks, the readers (MRPC, scored pairs, hard negatives), a tiny run end
to end (step-0 baseline, sentence-transformers files, ``albert evaluate``), exact resume, the errors
a user meets, and two processes training what one trains."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from support.finetune import WORDS, assert_runs_agree, one_thread, write_jsonl  # noqa: F401  (autouse fixture)

from albert.errors import InputError, OptionError
from albert.training.finetuning.contrastive import (
    contrastive_loss,
    cosent_loss,
    multiple_negatives_ranking_loss,
)
from albert.training.finetuning.metrics import retrieval_scores, target_ranks, unique_documents
from albert.training.finetuning.readers import DataFormatError, ReadOptions, SentencePair, read_sentence_pairs
from albert.training.finetuning.tasks import EncodeOptions, SentenceEmbeddingsTask
from albert.training.finetuning.trainer import FinetuneSettings, finetune


def pair_records(count: int, seed: int, negatives: bool = False) -> list[dict]:
    """An anchor of three words and its positive, the same words in another order (a hard
    negative: three other words)."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        words = rng.sample(WORDS, 3)
        shuffled = words[:]
        rng.shuffle(shuffled)
        record = {"anchor": " ".join(words), "positive": " ".join(shuffled)}
        if negatives:
            record["negative"] = " ".join(rng.sample([w for w in WORDS if w not in words], 3))
        records.append(record)
    return records


#: Each word's partner: a positive says its anchor's words with their partners, so an untrained
#: model (whose vectors follow the words) cannot match them, and a trained one must learn the pairs.
PARTNER = dict(zip(WORDS, WORDS[7:] + WORDS[:7]))


def partner_records(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        words = rng.sample(WORDS, 2)
        records.append({"anchor": " ".join(words), "positive": " ".join(PARTNER[word] for word in reversed(words))})
    return records


def scored_records(count: int, seed: int) -> list[dict]:
    """The score (0..5) is how many words of the first text the second shares."""
    rng = random.Random(seed)
    records = []
    for _ in range(count):
        words = rng.sample(WORDS, 5)
        shared = rng.randint(0, 5)
        other = words[:shared] + rng.sample([w for w in WORDS if w not in words], 5 - shared)
        records.append({"sentence1": " ".join(words), "sentence2": " ".join(other), "score": float(shared)})
    return records


def settings(**overrides) -> FinetuneSettings:
    values = dict(task="sentence-embeddings", epochs=1, learning_rate=3e-3, batch_size=8, max_length=16, seed=0,
                  threads=1, progress=False)
    values.update(overrides)
    return FinetuneSettings(**values)


# -- the losses by hand ------------------------------------------------------------------------------


def unit(rows: list[list[float]]) -> torch.Tensor:
    return F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)


def cross_entropy_by_hand(logits: list[float], target: int) -> float:
    return -logits[target] + math.log(sum(math.exp(value) for value in logits))


def dot(first: torch.Tensor, second: torch.Tensor) -> float:
    return float(sum(a * b for a, b in zip(first.tolist(), second.tolist())))


def test_multiple_negatives_ranking_loss_is_the_mean_of_both_directions():
    anchors = unit([[1, 0, 0], [0, 1, 0.5], [0.3, 0.2, 1]])
    positives = unit([[0.9, 0.1, 0], [0.1, 1, 0], [0, 0.5, 1]])
    negatives = unit([[0, 0, 1], [1, 1, 1], [1, -1, 0]])
    scale = 20.0
    forward = backward = with_negatives = 0.0
    for i in range(3):
        forward += cross_entropy_by_hand([scale * dot(anchors[i], positives[j]) for j in range(3)], i)
        backward += cross_entropy_by_hand([scale * dot(positives[i], anchors[j]) for j in range(3)], i)
        candidates = [*positives, *negatives]
        with_negatives += cross_entropy_by_hand([scale * dot(anchors[i], c) for c in candidates], i)
    expected = (forward / 3 + backward / 3) / 2
    assert float(multiple_negatives_ranking_loss(anchors, positives, scale=scale)) == pytest.approx(expected, rel=1e-5)
    expected_negatives = (with_negatives / 3 + backward / 3) / 2
    got = float(multiple_negatives_ranking_loss(anchors, positives, negatives, scale=scale))
    assert got == pytest.approx(expected_negatives, rel=1e-5)
    assert got > float(multiple_negatives_ranking_loss(anchors, positives, scale=scale))  # more to beat


def test_cosent_penalises_pairs_whose_cosines_are_out_of_the_scores_order():
    first = unit([[1, 0], [1, 0], [1, 0]])
    second = unit([[1, 1], [1, 0.1], [0, 1]])  # pair 1 is closer than pair 0: out of order
    scores = torch.tensor([5.0, 2.0, 2.0])
    cosines = [dot(a, b) for a, b in zip(first, second)]
    scale = 20.0
    # ordered pairs (i, j) with score_i > score_j: (0, 1) and (0, 2); ties give no term
    terms = [math.exp(scale * (cosines[j] - cosines[i])) for i, j in ((0, 1), (0, 2))]
    expected = math.log(1 + sum(terms))
    assert float(cosent_loss(first, second, scores, scale)) == pytest.approx(expected, rel=1e-4)
    assert expected > 5
    # only the order of the scores counts: a 0..1 scale gives the same loss
    assert float(cosent_loss(first, second, scores / 5, scale)) == pytest.approx(expected, rel=1e-4)
    # scores that agree with the cosines everywhere cost almost nothing
    assert float(cosent_loss(first, second, torch.tensor(cosines), scale)) < 0.01


def test_matryoshka_sums_the_loss_of_each_prefix_normalised_alone():
    generator = torch.Generator().manual_seed(0)
    embeddings = torch.randn(4, 2, 6, generator=generator)  # (B, anchor/positive, H)
    expected = 0.0
    for dimension in (6, 4, 2):
        prefix = F.normalize(embeddings[..., :dimension], dim=-1)
        expected += float(multiple_negatives_ranking_loss(prefix[:, 0], prefix[:, 1]))
    assert float(contrastive_loss(embeddings, None, [6, 4, 2])) == pytest.approx(expected, rel=1e-5)
    whole = F.normalize(embeddings, dim=-1)
    assert float(contrastive_loss(embeddings, None, [None])) == pytest.approx(
        float(multiple_negatives_ranking_loss(whole[:, 0], whole[:, 1])), rel=1e-6)


# -- retrieval metrics on known ranks ----------------------------------------------------------------


def test_retrieval_metrics_from_known_ranks():
    # 12 documents; the own documents of queries 0, 1, 2 rank 1st, 3rd and 12th.
    similarities = np.zeros((3, 12))
    similarities[0] = np.linspace(0, -1, 12)  # its own document (0) is the most similar
    similarities[1] = -np.arange(12) - 1.0
    similarities[1, 1], similarities[1, 5], similarities[1, 7] = -0.5, 0.0, -0.1  # 5 and 7 before 1
    similarities[2] = np.arange(12)
    similarities[2, 2] = -1.0  # last
    assert target_ranks(similarities).tolist() == [1, 3, 12]
    scores = retrieval_scores(similarities)
    assert scores["recall@1"] == pytest.approx(1 / 3)
    assert scores["recall@10"] == pytest.approx(2 / 3)
    assert scores["mrr@10"] == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_ties_count_against_the_query():
    # vectors that cannot tell texts apart find nothing, however the tie would be broken
    scores = retrieval_scores(np.ones((4, 4)))
    assert scores["recall@1"] == 0.0 and scores["mrr@10"] == pytest.approx(1 / 4)


def test_targets_name_each_querys_document_column():
    similarities = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])  # queries 0 and 2 share document 0
    assert target_ranks(similarities, targets=[0, 1, 0]).tolist() == [1, 1, 1]
    assert retrieval_scores(similarities, targets=[0, 1, 0])["recall@1"] == 1.0
    with pytest.raises(InputError, match="one document column"):
        target_ranks(similarities, targets=[0, 2, 0])


def test_a_repeated_positive_is_one_document():
    # MRPC pairs one sentence with two anchors; as two columns the copies would tie and both queries miss
    assert unique_documents(["b", "c", "b", "d"]) == ([0, 1, 3], [0, 1, 0, 2])
    task = SentenceEmbeddingsTask()
    examples = [SentencePair("a1", "same"), SentencePair("a2", "other"), SentencePair("a3", "same")]
    vectors = {"a1": [1.0, 0.1], "a2": [0.0, 1.0], "a3": [1.0, -0.1], "same": [1.0, 0.0], "other": [0.1, 1.0]}
    outputs = [{"embeddings": np.array([vectors[example.anchor], vectors[example.positive]], dtype=np.float32)}
               for example in examples]
    scores, predictions = task.score(examples, [{}] * 3, outputs, None, EncodeOptions())
    assert scores["recall@1"] == 1.0 and scores["mrr@10"] == 1.0
    assert [round(prediction["cosine"], 4) for prediction in predictions] == [0.995, 0.9950, 0.995]


# -- readers -----------------------------------------------------------------------------------------


MRPC = (
    "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
    '1\t1\t2\tAmrozi accused his brother, whom he called "the witness".\tReferring to him as "the witness", Amrozi accused his brother.\n'
    "0\t3\t4\tYucaipa owned Dominick's.\tYucaipa bought Dominick's in 1995.\n"
    "1\t5\t6\tThey had published an advertisement.\tOn June 10, they had published an advertisement.\n"
)


def test_mrpc_reads_as_its_positive_pairs(tmp_path):
    path = tmp_path / "msr_paraphrase_train.txt"
    path.write_text(MRPC, encoding="utf-8")
    pairs = read_sentence_pairs(path)
    assert [(pair.anchor, pair.score) for pair in pairs] == [
        ('Amrozi accused his brother, whom he called "the witness".', None),
        ("They had published an advertisement.", None),
    ]
    assert pairs[0].positive == 'Referring to him as "the witness", Amrozi accused his brother.'


def test_scored_pairs_and_hard_negatives_are_found_by_name(tmp_path):
    scored = read_sentence_pairs(write_jsonl(tmp_path / "sts.jsonl", scored_records(5, seed=0)))
    assert all(pair.score is not None for pair in scored) and scored[0].score == scored_records(5, 0)[0]["score"]
    triples = read_sentence_pairs(write_jsonl(tmp_path / "nli.jsonl", pair_records(3, seed=0, negatives=True)))
    assert triples[0].negative == pair_records(3, seed=0, negatives=True)[0]["negative"]
    renamed = [{"q": r["anchor"], "d": r["positive"], "bad": r["negative"]} for r in pair_records(3, 0, negatives=True)]
    options = ReadOptions(text_column="q", pair_column="d", negative_column="bad")
    assert read_sentence_pairs(write_jsonl(tmp_path / "renamed.jsonl", renamed), options) == triples


def test_the_stsb_sample_reads_as_scored_pairs():
    from support.tiny import shared_data

    pairs = read_sentence_pairs(shared_data("samples/stsb_sample.tsv"))
    assert len(pairs) == 9 and pairs[0].score == 5.0 and pairs[0].anchor == "A plane is taking off."


def test_bad_files_are_refused_with_the_line(tmp_path):
    with pytest.raises(DataFormatError, match="has no column 'negative'"):
        read_sentence_pairs(write_jsonl(tmp_path / "a.jsonl", pair_records(2, 0)),
                            ReadOptions(text_column="anchor", pair_column="positive", negative_column="negative"))
    records = scored_records(3, 0)
    records[1]["score"] = 7.5
    with pytest.raises(DataFormatError, match=r"line 2: the score 7.5 is not a number in 0..5"):
        read_sentence_pairs(write_jsonl(tmp_path / "b.jsonl", records))
    with pytest.raises(DataFormatError, match="cannot tell which columns hold the two texts"):
        read_sentence_pairs(write_jsonl(tmp_path / "c.jsonl", [{"sentence": "city"}]))


def test_bad_settings_are_refused():
    with pytest.raises(OptionError, match="matryoshka must list whole numbers"):
        settings(matryoshka="128,sixty-four")
    with pytest.raises(OptionError, match="matryoshka applies to the sentence-embeddings task"):
        settings(task="text-classification", matryoshka="64")
    assert settings(matryoshka="64, 256,128").matryoshka_dimensions() == (256, 128, 64)


# -- runs ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pairs")
    return (write_jsonl(folder / "train.jsonl", pair_records(48, seed=1, negatives=True)),
            write_jsonl(folder / "dev.jsonl", pair_records(24, seed=2)))


def dev_records(run: Path) -> list[dict]:
    return [record for record in map(json.loads, (run / "metrics.jsonl").open()) if record.get("split") == "dev"]


def test_a_tiny_run_saves_a_sentence_folder_and_evaluates_before_and_after(tmp_path, data, make_tiny_model):
    from albert.sentence_folder import read_sentence_config
    from albert.training.finetuning.evaluate import evaluate

    model = make_tiny_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    result = finetune(model, *data, tmp_path / "run", settings(epochs=2, matryoshka="32,16", pooling="mean"))
    records = dev_records(result.run_dir)
    assert [record["step"] for record in records] == [0, 6, 12]  # the untrained model first
    for name in ("mrr@10", "recall@1", "recall@10", "mrr@10@32", "mrr@10@16", "recall@1@16"):
        assert all(0.0 <= record[name] <= 1.0 for record in records), name
    assert result.metric == "mrr@10"
    config = read_sentence_config(result.best_model)
    assert config is not None
    assert (config.pooling, config.normalize, config.max_length, config.matryoshka_dimensions) == ("mean", True, 16, (32, 16))
    final = result.run_dir / "final"  # the last model, beside the best
    assert read_sentence_config(final) == config
    assert json.loads((final / "eval_results.json").read_text())["mrr@10"] == records[-1]["mrr@10"]
    # albert evaluate reads the pooling and dimensions from the folder and scores as the run did
    metrics = evaluate(result.best_model, data[1], progress=False)
    best = next(record for record in records if record["step"] == result.best_step)
    for name in ("mrr@10", "recall@1", "mrr@10@16"):
        assert metrics[name] == pytest.approx(best[name], abs=1e-6), name
    # and so does the command
    from typer.testing import CliRunner

    from albert.cli import app

    output = tmp_path / "metrics.json"
    shown = CliRunner().invoke(app, ["evaluate", str(result.best_model), str(data[1]), "--task", "sentence-embeddings",
                                     "--output", str(output)])
    assert shown.exit_code == 0, shown.output
    assert "mrr@10@32" in shown.output
    assert json.loads(output.read_text())["recall@10"] == pytest.approx(best["recall@10"], abs=1e-6)


def test_pairs_are_learnt_well_above_the_untrained_model(tmp_path, make_tiny_model):
    train = write_jsonl(tmp_path / "train.jsonl", partner_records(320, seed=1))
    dev = write_jsonl(tmp_path / "dev.jsonl", partner_records(40, seed=2))
    result = finetune(make_tiny_model(), train, dev, tmp_path / "run", settings(epochs=2, batch_size=16))
    before, after = result.summary["history"][0], result.summary["history"][-1]
    assert before["step"] == 0 and before["mrr@10"] < 0.15  # about chance: 1/40 at rank 1
    assert after["mrr@10"] > 0.4 and after["recall@10"] > 0.8


def test_scored_pairs_train_with_cosent_and_report_spearman(tmp_path, make_tiny_model):
    train = write_jsonl(tmp_path / "train.jsonl", scored_records(32, seed=1))
    dev = write_jsonl(tmp_path / "dev.jsonl", scored_records(16, seed=2))
    result = finetune(make_tiny_model(), train, dev, tmp_path / "run", settings(pooling="max"))
    assert result.metric == "spearman"
    records = dev_records(result.run_dir)
    assert [record["step"] for record in records] == [0, 4] and all(-1 <= r["spearman"] <= 1 for r in records)
    assert math.isfinite(json.loads((result.run_dir / "metrics.json").read_text())["history"][-1]["spearman"])


def test_a_dimension_above_the_hidden_size_is_refused(tmp_path, data, make_tiny_model):
    with pytest.raises(OptionError, match=r"larger than the model's hidden size 32"):
        finetune(make_tiny_model(), *data, tmp_path / "run", settings(matryoshka="64,16"))


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, data, make_tiny_model):
    model = make_tiny_model()
    chosen = settings(epochs=2, checkpoint_every=4, keep_checkpoints=3, learning_rate=1e-3)
    whole = finetune(model, data[0], None, tmp_path / "whole", chosen)
    # cut the run back to its checkpoint at step 8 (of 12) and resume from there
    cut = finetune(model, data[0], None, tmp_path / "cut", chosen)
    for checkpoint in (cut.run_dir / "checkpoints").iterdir():
        if checkpoint.name > "step-00000008":
            checkpoint.unlink()
    resumed = finetune(model, data[0], None, tmp_path / "cut", chosen, resume=True)
    assert resumed.steps == whole.steps == 12
    ours, theirs = (load_file(run.best_model / "model.safetensors") for run in (resumed, whole))
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name


def test_two_processes_train_the_weights_one_process_trains(tmp_path, make_tiny_model):
    from test_finetune_ddp import run_torchrun

    model = make_tiny_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    # 21 pairs in batches of 8: the last batch of each epoch (5) splits 3/2; in-batch negatives span both
    train = write_jsonl(tmp_path / "train.jsonl", pair_records(21, seed=1, negatives=True))
    dev = write_jsonl(tmp_path / "dev.jsonl", pair_records(12, seed=2))
    one = finetune(model, train, dev, tmp_path / "one",
                   settings(epochs=2, learning_rate=3e-3, seed=3, eval_every=3, checkpoint_every=3, matryoshka="32,8"))
    result = run_torchrun([
        "finetune", "--task", "sentence-embeddings", "--model", str(model), "--train", str(train), "--dev", str(dev),
        "--out", str(tmp_path / "two"), "--epochs", "2", "--lr", "3e-3", "--batch-size", "8", "--max-length", "16",
        "--seed", "3", "--threads", "1", "--no-progress", "--eval-every", "3", "--checkpoint-every", "3",
        "--matryoshka", "32,8",
    ])
    assert result.returncode == 0, result.stderr[-3000:]
    assert_runs_agree(one.run_dir, tmp_path / "two", ("loss", "grad_norm", "mrr@10", "mrr@10@8"))


def test_the_trained_folder_gives_sentence_transformers_the_vectors_it_was_scored_with(tmp_path, data, make_tiny_model):
    from test_sentence_export import (
        sentence_transformers,  # imported as the export tests import it (or skipped)
    )

    from albert.modeling import AlbertModel
    from albert.tokenizer import AlbertTokenizer
    from albert.training.finetuning.contrastive import SentenceEncoder
    from albert.training.finetuning.readers import SentencePair
    from albert.training.finetuning.tasks import EncodeOptions, collate, get_task

    result = finetune(make_tiny_model(), data[0], None, tmp_path / "run", settings(pooling="max", matryoshka="32,8"))
    texts = ["city river bridge", "a storm in winter", "monday morning at the station"]
    theirs = sentence_transformers.SentenceTransformer(str(result.best_model), device="cpu").encode(texts)
    # the vectors training and evaluation compute: the task's inputs, the encoder and its pooling
    features = get_task("sentence-embeddings").encode(
        [SentencePair(text, text) for text in texts], AlbertTokenizer.from_pretrained(result.best_model), None,
        EncodeOptions(max_length=16, pooling="max"),
    )
    encoder = SentenceEncoder(AlbertModel.from_pretrained(result.best_model).eval(), "max")
    with torch.no_grad():
        ours = F.normalize(encoder(**collate(features, 0)).embeddings[:, 0], dim=-1).numpy()
    assert np.abs(ours - theirs).max() <= 1e-5


def test_a_run_checkpointed_before_the_sentence_settings_existed_still_resumes(tmp_path, data, make_tiny_model):
    from albert.training.checkpoints import CheckpointManager

    chosen = settings(task="text-classification", batch_size=8, checkpoint_every=2, epochs=1)
    train = write_jsonl(tmp_path / "train.jsonl", [{"sentence": f"city {w}", "label": w[0] < "m"} for w in WORDS * 2])
    model = make_tiny_model()
    finetune(model, train, None, tmp_path / "run", chosen)
    manager = CheckpointManager(tmp_path / "run")
    path = manager.latest()
    saved = manager.load(path)
    for name in ("pooling", "matryoshka", "scale"):  # as a checkpoint of an earlier version holds them
        del saved["settings"][name]
    del saved["settings"]["read_options"]["negative_column"]
    manager.save(int(saved["step"]), saved)
    finetune(model, train, None, tmp_path / "run", chosen, resume=True)  # no "settings differ"
