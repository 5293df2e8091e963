"""Inference never runs a task head the checkpoint does not hold (its answers would be random).

The pipelines, the command line and the Spark stages refuse such a model with UntrainedHeadError,
whose message says how to fine-tune one or which model to pass, unless the caller says
``allow_untrained_head=True`` / ``--allow-untrained-head`` / ``allowUntrainedHead``. Fine-tuning
creates a fresh head on purpose and keeps doing so (tests/training/finetuning/).
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest
import torch

import albert
from albert import UntrainedHeadError
from albert.pipelines import pipeline

#: Each refusing task, its CLI command and arguments, and a model class that holds its head.
TASKS = {
    "text-classification": (["classify", "a fine day."], albert.AlbertForSequenceClassification),
    "token-classification": (["tag", "Ann lives in Paris."], albert.AlbertForTokenClassification),
    "question-answering": (["answer", "-q", "Who?", "-c", "Ann lives here."], albert.AlbertForQuestionAnswering),
    "multiple-choice": (["choose", "The man", "--choice", "ran.", "--choice", "sat."], albert.AlbertForMultipleChoice),
}


def cli(*args: str) -> subprocess.CompletedProcess:
    """An ``albert`` command in this process (typer's runner)."""
    from typer.testing import CliRunner

    from albert.cli import app

    result = CliRunner().invoke(app, list(args))
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize("task", list(TASKS))
def test_the_shipped_model_is_refused_for_tasks_it_has_no_head_for(task):
    with pytest.raises(UntrainedHeadError) as error:
        pipeline(task, device="cpu")  # the README's examples: no model given, the shipped one
    message = str(error.value)
    assert message.startswith(f"the model albert-small-en has no trained {task} head")
    assert f"albert finetune --task {task} --model albert-small-en --train TRAIN_FILE --out RUN" in message
    assert "--allow-untrained-head (allow_untrained_head=True)" in message


@pytest.mark.parametrize("task", list(TASKS))
def test_the_cli_refuses_in_one_line_and_runs_when_allowed(task):
    command, _ = TASKS[task]
    refused = cli(*command)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 1 and len(lines) == 1, refused.stderr
    assert lines[0].startswith("error: the model albert-small-en has no trained") and "albert finetune" in lines[0]
    allowed = cli(*command, "--allow-untrained-head")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr.strip().splitlines() == [
        line for line in allowed.stderr.strip().splitlines() if line.startswith("warning: the ")
    ] and "untrained" in allowed.stderr  # one warning says so, no loading report besides


def test_allowing_an_untrained_head_warns_and_runs():
    with pytest.warns(UserWarning, match="text-classification head is untrained .*its answers are random"):
        classify = pipeline("text-classification", device="cpu", allow_untrained_head=True)
    assert len(classify("a fine day.")) == 2


def test_fill_mask_refuses_a_checkpoint_without_its_masked_lm_head(make_tiny_model):
    folder = make_tiny_model(albert.AlbertForSequenceClassification, seed=1)
    with pytest.raises(UntrainedHeadError, match=r"no trained fill-mask head: predictions\..* masked-LM head"):
        pipeline("fill-mask", model=folder, device="cpu")
    process = cli("fill-mask", "a [MASK] day.", "--model", str(folder))
    assert process.returncode == 1 and process.stderr.startswith("error: the model ")
    assert cli("fill-mask", "a [MASK] day.", "--model", str(folder), "--allow-untrained-head").returncode == 0


def test_fine_tuned_heads_run_without_a_word(make_tiny_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for task, (_, head) in TASKS.items():
            pipeline(task, model=make_tiny_model(head, seed=2), device="cpu")
        pipeline("fill-mask", model=make_tiny_model(albert.AlbertForMaskedLM, seed=2), device="cpu")


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_embeddings_need_no_head_and_no_pooler(make_tiny_model, pooling):
    folder = make_tiny_model(albert.AlbertForMaskedLM, seed=3)  # no pooler, as transformers' MLM
    vectors = pipeline("embeddings", model=folder, device="cpu")("a fine day.", level="sentence",
                                                                 sentence_pooling=pooling, output="numpy")  # fmt: skip
    assert vectors.shape[-1] == 32 and torch.isfinite(torch.from_numpy(vectors)).all()


def test_a_model_passed_in_is_judged_by_its_loading_info(make_tiny_model):
    from albert import AlbertTokenizer

    folder = make_tiny_model(albert.AlbertForMaskedLM, seed=4)
    loaded = albert.AlbertForSequenceClassification.from_pretrained(folder)  # a new classifier
    with pytest.raises(UntrainedHeadError, match=f"the model {folder} has no trained"):
        pipeline("text-classification", model=loaded)
    del loaded.name_or_path
    with pytest.raises(UntrainedHeadError, match="this AlbertForSequenceClassification has no trained"):
        pipeline("text-classification", model=loaded, tokenizer=AlbertTokenizer.from_pretrained(folder))
    with pytest.warns(UserWarning, match="untrained"):
        pipeline("text-classification", model=loaded, tokenizer=AlbertTokenizer.from_pretrained(folder),
                 allow_untrained_head=True)  # fmt: skip
    built = albert.AlbertForSequenceClassification(loaded.config)  # built in code: the caller's own
    pipeline("text-classification", model=built, tokenizer=AlbertTokenizer.from_pretrained(folder))


def test_spark_stages_refuse_unless_allowed(make_tiny_model):
    pytest.importorskip("pyspark")
    from albert.spark import AlbertClassifier, AlbertTokenClassifier
    from albert.spark.worker import WorkerSpec, load_pipeline

    for stage in (AlbertClassifier, AlbertTokenClassifier):
        assert stage(model="albert-small-en").getAllowUntrainedHead() is False
        with pytest.raises(UntrainedHeadError, match="setAllowUntrainedHead"):
            stage(model="albert-small-en").worker_spec()  # on the driver, before any job
        assert stage(model="albert-small-en", allowUntrainedHead=True).worker_spec().allow_untrained_head
    # A folder that names the head but lacks its weights: refused where the workers load it.
    spec = WorkerSpec(task="text-classification", model=str(make_tiny_model(albert.AlbertForMaskedLM, seed=5)),
                      device="cpu")  # fmt: skip
    with pytest.raises(UntrainedHeadError):
        load_pipeline(spec)
    with pytest.warns(UserWarning, match="untrained"):
        load_pipeline(WorkerSpec(**{**spec.__dict__, "allow_untrained_head": True}))


def test_finetuning_still_starts_from_a_checkpoint_without_the_head(make_tiny_model):
    """The fresh head of fine-tuning: from_pretrained lets it be new, and says so in loading_info."""
    folder = make_tiny_model(albert.AlbertForMaskedLM, seed=6)
    model, info = albert.AlbertForQuestionAnswering.from_pretrained(folder, output_loading_info=True)
    assert info.missing_keys == ["qa_outputs.weight", "qa_outputs.bias"]


@pytest.mark.slow
def test_the_readme_example_in_a_real_process():
    process = subprocess.run([sys.executable, "-m", "albert.cli", "classify", "a fine day."],
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    assert process.returncode == 1 and process.stderr.count("\n") == 1, process.stderr
    assert "albert finetune --task text-classification" in process.stderr and "Traceback" not in process.stderr
