"""The `albert` pipeline commands on tiny random models.

The main paths run the real command in a subprocess (stdin, tables, JSON lines, files, exit
status). Each subprocess pays for importing torch (seconds on a busy 2-core machine), so the
many variations (file kinds, every task, every error) run the same typer app in-process.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from albert import (
    AlbertForMaskedLM,
    AlbertForMultipleChoice,
    AlbertForQuestionAnswering,
    AlbertForSequenceClassification,
    AlbertForTokenClassification,
)
from albert.pipelines import pipeline

TEXT = "The children carried the mountain at night. My friend was dangerous."


def albert(*args, stdin=None, cwd=None):
    """Run ``python -m albert.cli ARGS`` and return the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "albert.cli", *map(str, args)],
        input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd,
    )  # fmt: skip


def albert_in_process(*args, stdin=""):
    """The same command through typer's test runner, in this process (no torch import to pay)."""
    from typer.testing import CliRunner

    from albert.cli import app

    result = CliRunner().invoke(app, [str(arg) for arg in args], input=stdin)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def json_lines(process):
    assert process.returncode == 0, process.stderr
    return [json.loads(line) for line in process.stdout.splitlines()]


@pytest.fixture(scope="module")
def mlm(make_tiny_model):
    return make_tiny_model(AlbertForMaskedLM, seed=21)


def test_fill_mask_prints_a_table_and_json_lines(mlm):
    table = albert_in_process("fill-mask", "the man worked as a [MASK].", "--model", mlm, "--top-k", "3")
    assert table.returncode == 0, table.stderr
    assert "token_str" in table.stdout and "score" in table.stdout

    records = json_lines(
        albert("fill-mask", "the man worked as a [MASK].", "--model", mlm, "-k", "3", "--json")
    )
    expected = pipeline("fill-mask", model=mlm)("the man worked as a [MASK].", top_k=3)
    assert [r["token"] for r in records] == [r["token"] for r in expected]
    assert [r["score"] for r in records] == pytest.approx([r["score"] for r in expected], abs=1e-6)
    assert [r["rank"] for r in records] == [1, 2, 3]


def test_texts_come_from_stdin_and_from_every_file_kind(mlm, tmp_path):
    texts = ["a [MASK] dog.", "the [MASK] river at night."]
    from_stdin = json_lines(
        albert("fill-mask", "-m", mlm, "-k", "1", "--json", stdin="\n".join(texts) + "\n")
    )
    assert [r["text"] for r in from_stdin] == texts

    import pandas as pd

    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n\n")
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"sentence": t, "id": i}) + "\n" for i, t in enumerate(texts))
    )
    pd.DataFrame({"sentence": texts}).to_csv(tmp_path / "in.csv", index=False)
    pd.DataFrame({"sentence": texts}).to_parquet(tmp_path / "in.parquet")
    for name in ("in.txt", "in.jsonl", "in.csv", "in.parquet"):
        column = [] if name.endswith(".txt") else ["--column", "sentence"]
        records = json_lines(
            albert_in_process(
                "fill-mask", "-m", mlm, "-k", "1", "--json", "--input", tmp_path / name, *column
            )
        )
        assert [r["text"] for r in records] == texts, name
        assert [r["token"] for r in records] == [r["token"] for r in from_stdin], name


def test_warnings_are_one_line_each(make_tiny_model):
    classifier = make_tiny_model(AlbertForSequenceClassification, seed=22, num_labels=3)
    process = albert_in_process("classify", "a dog at night " * 30, "-m", classifier, "--json")
    assert process.returncode == 0, process.stderr
    assert process.stderr.strip().startswith("warning: inputs[0] is longer than the model's window of 64 tokens")
    assert len(process.stderr.strip().splitlines()) == 1


def test_outputs_are_written_whole_as_jsonl_and_parquet(mlm, tmp_path):
    import pandas as pd

    for name in ("out.jsonl", "out.parquet"):
        path = tmp_path / name
        process = albert_in_process("fill-mask", "a [MASK] dog.", "-m", mlm, "-k", "2", "--output", path)
        assert process.returncode == 0, process.stderr
        frame = pd.read_json(path, lines=True) if name.endswith(".jsonl") else pd.read_parquet(path)
        assert list(frame["rank"]) == [1, 2] and {"token", "score", "sequence"} <= set(frame.columns)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out.jsonl",
        "out.parquet",
    ]  # no temporary files left


def test_embed_writes_vectors_equal_to_the_pipeline(mlm, tmp_path):
    path = tmp_path / "vectors.npy"
    process = albert("embed", TEXT, "-m", mlm, "--level", "word", "--output", path)
    assert process.returncode == 0, process.stderr
    expected = pipeline("embeddings", model=mlm)(TEXT, level="word", output="numpy")
    np.testing.assert_allclose(np.load(path), expected, atol=1e-6)

    records = json_lines(
        albert_in_process(
            "embed", TEXT, "-m", mlm, "--level", "sentence", "--json", "--sentence-pooling", "cls"
        )
    )
    assert [r["text"] for r in records] == [
        "The children carried the mountain at night.",
        "My friend was dangerous.",
    ]
    assert len(records[0]["embedding"]) == 32

    table = albert_in_process("embed", TEXT, "-m", mlm)
    assert table.returncode == 0 and "norm" in table.stdout


def test_classify_tag_answer_and_choose(make_tiny_model, tmp_path):
    classifier = make_tiny_model(AlbertForSequenceClassification, seed=22, num_labels=3)
    labels = json_lines(albert_in_process("classify", "a dog at night.", "-m", classifier, "--json"))
    assert sorted(r["label"] for r in labels) == ["LABEL_0", "LABEL_1", "LABEL_2"]
    assert sum(r["score"] for r in labels) == pytest.approx(1.0, abs=1e-5)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"text": "a dog.", "other": "an apple."}) + "\n")
    paired = json_lines(
        albert_in_process(
            "classify", "-m", classifier, "--json", "-i", pairs, "--pair-column", "other", "-k", "1"
        )
    )
    expected = pipeline("text-classification", model=classifier)({"text": "a dog.", "text_pair": "an apple."})
    assert paired[0]["label"] == expected[0]["label"]

    label_names = {0: "O", 1: "B-PER", 2: "I-PER"}
    tagger = make_tiny_model(AlbertForTokenClassification, seed=23, id2label=label_names,
                             label2id={v: k for k, v in label_names.items()})  # fmt: skip
    entities = json_lines(
        albert_in_process("tag", TEXT, "-m", tagger, "--json", "--aggregation", "first", "--keep-all")
    )
    assert all(TEXT[e["start"] : e["end"]] == e["word"] for e in entities)
    assert {e["entity"] for e in entities} <= {"O", "PER"}

    reader = make_tiny_model(AlbertForQuestionAnswering, seed=24)
    answers = json_lines(
        albert_in_process("answer", "-m", reader, "-q", "who carried it?", "-c", TEXT, "--json", "-k", "2")
    )
    assert len(answers) == 2 and all(TEXT[a["start"] : a["end"]] == a["answer"] for a in answers)

    chooser = make_tiny_model(AlbertForMultipleChoice, seed=25)
    scored = json_lines(
        albert_in_process(
            "choose", "The man", "--choice", "ran.", "--choice", "read a book.", "-m", chooser, "--json"
        )
    )
    assert [r["choice"] for r in scored] == ["ran.", "read a book."]
    assert sum(r["score"] for r in scored) == pytest.approx(1.0) and sum(r["best"] for r in scored) == 1


def test_info_describes_parameters_sharing_and_memory(mlm):
    facts = json_lines(albert_in_process("info", mlm, "--json"))[0]
    model = AlbertForMaskedLM.from_pretrained(mlm)
    assert facts["parameters"]["total"] == model.num_parameters()
    assert facts["distinct_layers"] == 2 * 2 and facts["layers"] == 4
    assert facts["memory_bytes"]["float32"] == 4 * model.num_parameters()
    assert facts["memory_bytes"]["bfloat16"] == 2 * model.num_parameters()
    assert facts["special_tokens"]["[MASK]"] == 4 and facts["vocab_size"] == model.config.vocab_size
    table = albert_in_process("info", mlm)
    assert table.returncode == 0 and "distinct layers" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fill-mask", "a [MASK].", "--model", "./no/such/model"], "no model folder"),
        (["fill-mask", "--input", "missing.txt", "--model", "{mlm}"], "no such file"),
        (["fill-mask", "--input", "{empty}", "--model", "{mlm}"], "no texts"),
        (["fill-mask", "--input", "{jsonl}", "--column", "body", "--model", "{mlm}"], "no column 'body'"),
        (["fill-mask", "no mask here", "--model", "{mlm}"], "[MASK]"),
        (["fill-mask", "a [MASK].", "--model", "{mlm}", "--output", "out.csv"], "cannot write"),
        (["answer", "--question", "who?", "--model", "{mlm}"], "--context"),
    ],
)
def test_errors_are_one_line_and_a_nonzero_exit(mlm, tmp_path, monkeypatch, args, message):
    (tmp_path / "empty.txt").write_text("\n\n")
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": "a [MASK]."}) + "\n")
    values = {"mlm": mlm, "empty": tmp_path / "empty.txt", "jsonl": tmp_path / "in.jsonl"}
    monkeypatch.chdir(tmp_path)
    process = albert_in_process(*[arg.format(**values) for arg in args])
    assert process.returncode != 0
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], process.stderr
    assert "Traceback" not in process.stderr
    assert not list(tmp_path.glob("out*")) and not list(tmp_path.glob(".*tmp"))


def test_a_failure_in_a_real_process_is_one_line_and_leaves_no_output(mlm, tmp_path):
    path = tmp_path / "out.jsonl"
    process = albert("fill-mask", "a [MASK].", "no mask", "-m", mlm, "--output", path)
    assert process.returncode == 1
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: inputs[1] has no [MASK]"), process.stderr
    assert list(tmp_path.iterdir()) == []


# -- text that is not UTF-8 (issue 16, item 6) ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["embed", "fine", "caf\udce9"], b"", "inputs[1] is not valid UTF-8: it holds a lone surrogate U+DCE9 at "
                                              "character 3 (the byte 0xE9, which is not UTF-8)"),
        (["answer", "--question", "wh\udce9re?", "--context", "here"], b"", "--question is not valid UTF-8"),
        (["fill-mask", "a [MASK].", "--target", "ok", "--target", "b\udce9d"], b"", "--target is not valid UTF-8"),
        (["embed"], b"fine\n\ncaf\xe9 au lait\n", "stdin, line 3 is not valid UTF-8 (the byte 0xE9 at byte 3 of the line)"),
        (["embed", "--input", "{latin1}"], b"", "latin1.txt, line 2 is not valid UTF-8 (the byte 0xE9 at byte 3"),
    ],
)
def test_input_that_is_not_utf8_is_named_with_where_it_is(mlm, tmp_path, args, stdin, message):
    """Python reads undecodable argument bytes as lone surrogates (surrogateescape): they used to
    reach SentencePiece and come back as "List elements must be str or bytes"."""
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("fine\ncafé\n".encode("latin-1"))
    process = albert_in_process(*[arg.format(latin1=latin1) for arg in args], "--model", mlm, stdin=stdin)
    assert process.returncode == 1
    assert process.stderr.count("\n") == 1 and process.stderr.startswith("error: ") and message in process.stderr, (
        process.stderr
    )


def test_undecodable_argument_bytes_in_a_real_process(mlm):
    process = subprocess.run([sys.executable, "-m", "albert.cli", "embed", b"caf\xe9", "--model", str(mlm)],
                             capture_output=True, timeout=120)
    assert process.returncode == 1
    assert process.stderr.decode() == (
        "error: inputs[0] is not valid UTF-8: it holds a lone surrogate U+DCE9 at character 3 "
        "(the byte 0xE9, which is not UTF-8)\n"
    )
