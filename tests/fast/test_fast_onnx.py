"""The CPU deployment path: `albert export onnx` writes a graph that computes what torch computes
(checked, not assumed), at batch sizes and lengths it was not traced with; the int8 option runs
and reports its accuracy cost; fill-mask answers agree with torch."""

from __future__ import annotations

import json

import pytest
import torch
from support.tiny import TINY_CORPUS, tiny_config

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from typer.testing import CliRunner  # noqa: E402

from albert import AlbertForMaskedLM, AlbertForMultipleChoice, AlbertModel  # noqa: E402
from albert.cli import app  # noqa: E402
from albert.fast import accelerate  # noqa: E402
from albert.fast.cpu import OnnxModel, compare_outputs  # noqa: E402
from albert.fast.onnx_export import (  # noqa: E402
    ExportMismatchError,
    ExportReport,
    export_onnx,
    sample_batch,
    verify_onnx,
)


@pytest.fixture(scope="module")
def exported_mlm(make_tiny_model, tmp_path_factory):
    """A tiny masked-LM checkpoint exported through the command line, with its int8 copy."""
    folder = make_tiny_model(AlbertForMaskedLM, seed=7)
    out = tmp_path_factory.mktemp("onnx") / "model.onnx"
    result = CliRunner().invoke(app, ["export", "onnx", str(folder), str(out), "--int8"])
    assert result.exit_code == 0, result.output
    return folder, out, result.output


def test_cli_export_writes_a_verified_graph_and_an_int8_copy(exported_mlm):
    _, out, output = exported_mlm
    assert out.is_file() and out.with_suffix(".int8.onnx").is_file()
    assert "AlbertForMaskedLM" in output and "verified against torch" in output
    assert "logits/top1_agreement" in output  # the int8 accuracy cost is printed


def test_graph_matches_torch_on_new_batch_sizes_and_lengths(exported_mlm):
    folder, out, _ = exported_mlm
    model = AlbertForMaskedLM.from_pretrained(folder)
    session = OnnxModel(out, threads=1)
    for batch_size, seq_len in [(1, 3), (6, 29), (2, 64)]:
        inputs = sample_batch(model.config.vocab_size, batch_size, seq_len, seed=batch_size)
        with torch.no_grad():
            expected = model(**inputs).logits
        got = session(**inputs)["logits"]
        real = inputs["attention_mask"].bool()
        assert got.shape == expected.shape
        torch.testing.assert_close(got[real], expected[real], atol=1e-4, rtol=0)


def test_int8_graph_runs_and_stays_close_to_float32(exported_mlm):
    folder, out, _ = exported_mlm
    model = AlbertForMaskedLM.from_pretrained(folder)
    inputs = sample_batch(model.config.vocab_size, 4, 20, seed=3)
    with torch.no_grad():
        expected = model(**inputs)
    cost = compare_outputs(expected, OnnxModel(out.with_suffix(".int8.onnx"))(**inputs), inputs["attention_mask"])
    assert 0.0 < cost["logits/max_abs_diff"] < 1.0  # quantised: close, but not the same numbers
    assert cost["logits/top1_agreement"] >= 0.8


def test_a_graph_that_computes_something_else_is_refused(exported_mlm, make_tiny_model):
    _, out, _ = exported_mlm
    other = AlbertForMaskedLM.from_pretrained(make_tiny_model(AlbertForMaskedLM, seed=8))
    report = ExportReport(path=out, output_names=("logits",), opset=18)
    with pytest.raises(ExportMismatchError, match="does not match torch"):
        verify_onnx(other, out, report, atol=1e-4)


def test_fill_mask_top1_of_fast_and_onnx_paths_agrees_with_torch(exported_mlm, tiny_spm):
    """On real sentences with one piece masked each, the best guess is the same piece on the
    unpadded torch path and in the exported graph as on the reference, for at least 99% of masks."""
    import sentencepiece as spm

    folder, out, _ = exported_mlm
    reference = AlbertForMaskedLM.from_pretrained(folder)
    fast = accelerate(AlbertForMaskedLM.from_pretrained(folder))
    session = OnnxModel(out)
    pieces = spm.SentencePieceProcessor(model_file=str(tiny_spm))
    sentences = [line.strip().lower() for line in TINY_CORPUS.read_text().splitlines() if len(line.split()) > 3][:40]
    rows = [[2, *pieces.encode(sentence)[:40], 3] for sentence in sentences]
    width = max(len(row) for row in rows)
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    masked_at = []
    for index, row in enumerate(rows):
        input_ids[index, : len(row)] = torch.tensor(row)
        mask[index, : len(row)] = 1
        position = 1 + index % (len(row) - 2)
        input_ids[index, position] = 4  # [MASK]
        masked_at.append(position)
    rows_index = torch.arange(len(rows))
    positions = torch.tensor(masked_at)
    with torch.no_grad():
        want = reference(input_ids=input_ids, attention_mask=mask).logits[rows_index, positions].argmax(-1)
        got_fast = fast(input_ids=input_ids, attention_mask=mask).logits[rows_index, positions].argmax(-1)
    got_onnx = session(input_ids, mask)["logits"][rows_index, positions].argmax(-1)
    assert (got_fast == want).float().mean() >= 0.99
    assert (got_onnx == want).float().mean() >= 0.99


def test_classes_without_a_graph_form_are_refused_before_any_work(tmp_path):
    with pytest.raises(TypeError, match="AlbertForMultipleChoice"):
        export_onnx(AlbertForMultipleChoice(tiny_config()), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_cli_reports_an_unknown_class_in_one_line(exported_mlm, tmp_path):
    folder, _, _ = exported_mlm
    result = CliRunner().invoke(app, ["export", "onnx", str(folder), str(tmp_path / "m.onnx"), "--class", "Nope"])
    assert result.exit_code == 1
    assert "unknown --class 'Nope'" in result.output


@pytest.mark.slow
def test_base_model_export_keeps_the_pooler_exact(tmp_path):
    torch.manual_seed(0)
    model = AlbertModel(tiny_config()).eval()
    report = export_onnx(model, tmp_path / "base.onnx")
    assert set(report.max_abs_diff) == {"last_hidden_state", "pooler_output"}
    assert max(report.max_abs_diff.values()) <= 1e-4
    assert json.loads(json.dumps(report.checked_shapes))  # shapes were actually checked
