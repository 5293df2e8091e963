"""Each task learns a small synthetic data set well above chance, and its saved best model reads
its inputs the same way in the pipelines, in ``evaluate`` and in transformers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from support.finetune import (  # noqa: F401  (one_thread is an autouse fixture)
    choice_records,
    classification_records,
    one_thread,
    regression_records,
    squad_records,
    tagging_records,
    write_jsonl,
)

from albert.training.finetuning.evaluate import evaluate
from albert.training.finetuning.trainer import FinetuneSettings, finetune

# task -> (data, metric, chance level, required): chance is what a model that learnt nothing scores.
CASES = {
    "text-classification": (classification_records, "accuracy", 0.5, 0.9),
    "regression": (regression_records, "pearson", 0.0, 0.8),
    "token-classification": (tagging_records, "f1", 0.0, 0.9),
    "question-answering": (squad_records, "exact_match", 100 / 7, 80.0),  # 7 words, one answer
    "multiple-choice": (choice_records, "accuracy", 0.25, 0.8),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, make_tiny_model):
    """Fine-tune each task once for the whole module: ``trained(task) -> (result, dev file)``."""
    runs = {}

    def run(task: str):
        if task not in runs:
            folder = tmp_path_factory.mktemp(task)
            make_records = CASES[task][0]
            train = write_jsonl(folder / "train.jsonl", make_records(320, seed=1))
            dev = write_jsonl(folder / "dev.jsonl", make_records(60, seed=2))
            settings = FinetuneSettings(task=task, epochs=2, learning_rate=3e-3, batch_size=16, max_length=64, seed=0,
                                        threads=1, progress=False)
            runs[task] = finetune(make_tiny_model(), train, dev, folder / "run", settings), dev
        return runs[task]

    return run


@pytest.mark.parametrize("task", list(CASES))
def test_each_task_learns_well_above_chance(trained, task):
    _, metric, chance, required = CASES[task]
    result, dev = trained(task)
    assert result.best_metrics[metric] >= required > chance
    best = result.best_model
    assert (best / "model.safetensors").is_file() and (best / "spiece.model").is_file()
    assert (result.run_dir / "metrics.json").is_file() and (result.run_dir / "curves.png").stat().st_size > 1000
    # Evaluating the saved folder on the dev file gives the numbers training recorded.
    scores = evaluate(best, dev, device="cpu", progress=False)
    for name, value in result.best_metrics.items():
        assert scores[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name


PIPELINE_TASK = {
    "text-classification": "text-classification", "regression": "text-classification",
    "token-classification": "token-classification", "question-answering": "question-answering",
    "multiple-choice": "multiple-choice",
}


@pytest.mark.parametrize("task", list(CASES))
def test_the_best_model_works_in_the_pipelines(trained, task):
    pipelines = pytest.importorskip("albert.pipelines")
    result, _ = trained(task)
    records = CASES[task][0](20, seed=3)
    pipe = pipelines.pipeline(PIPELINE_TASK[task], model=result.best_model, device="cpu")
    if task == "text-classification":
        predicted = [scores[0]["label"] for scores in pipe([r["sentence"] for r in records])]
        assert np.mean([p == r["label"] for p, r in zip(predicted, records)]) >= 0.9
    elif task == "regression":
        outputs = pipe([{"text": r["sentence1"], "text_pair": r["sentence2"]} for r in records], function_to_apply="none")
        assert np.corrcoef([o[0]["score"] for o in outputs], [r["score"] for r in records])[0, 1] >= 0.8
    elif task == "token-classification":
        outputs = pipe([" ".join(r["words"]) for r in records], aggregation_strategy="first")
        for record, entities in zip(records, outputs):
            expected = {(word, tag[2:]) for word, tag in zip(record["words"], record["tags"]) if tag != "O"}
            assert {(entity["word"], entity["entity_group"]) for entity in entities} == expected
    elif task == "question-answering":
        answers = pipe([{"question": r["question"], "context": r["context"]} for r in records])
        assert np.mean([a["answer"] == r["answers"]["text"][0] for a, r in zip(answers, records)]) >= 0.9
    else:
        outputs = pipe([{"prompt": r["sent1"], "choices": [f"{r['sent2']} {r[f'ending{i}']}" for i in range(4)]}
                        for r in records])
        chosen = [max(scores, key=lambda s: s["score"])["index"] for scores in outputs]
        assert np.mean([c == r["label"] for c, r in zip(chosen, records)]) >= 0.9


def test_the_best_model_loads_in_transformers_with_its_labels(trained):
    transformers = pytest.importorskip("transformers")
    from albert import AlbertForSequenceClassification

    result, _ = trained("text-classification")
    theirs = transformers.AlbertForSequenceClassification.from_pretrained(result.best_model).eval()
    ours = AlbertForSequenceClassification.from_pretrained(result.best_model)
    assert theirs.config.id2label == {0: "neg", 1: "pos"}
    inputs = {"input_ids": torch.tensor([[2, 40, 41, 42, 3]]), "attention_mask": torch.ones(1, 5, dtype=torch.long)}
    with torch.no_grad():
        torch.testing.assert_close(theirs(**inputs).logits, ours(**inputs).logits, atol=1e-5, rtol=1e-5)

