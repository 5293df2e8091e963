"""``--precision`` and ``--threads`` on the pipeline commands: applied, and bad values in one line."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from albert import AlbertForMaskedLM


def _run(*args: object):
    from albert.cli import app

    return CliRunner().invoke(app, [str(arg) for arg in args])


def test_fill_mask_runs_in_int8_on_the_threads_given(make_tiny_model):
    folder = make_tiny_model(AlbertForMaskedLM)
    before = torch.get_num_threads()
    try:
        exact = _run("fill-mask", "--model", folder, "--json", "--no-onnx", "a [MASK] b")
        int8 = _run("fill-mask", "--model", folder, "--json", "--precision", "int8", "--threads", "1", "a [MASK] b")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert exact.exit_code == 0 and int8.exit_code == 0, int8.stderr
    rows = [json.loads(line) for line in int8.stdout.splitlines()]
    assert len(rows) == len(exact.stdout.splitlines()) and all("token_str" in row for row in rows)


def test_an_unknown_precision_is_refused_by_the_parser_naming_the_choices(make_tiny_model):
    result = _run("fill-mask", "--model", make_tiny_model(AlbertForMaskedLM), "--precision", "int4", "a [MASK]")
    assert result.exit_code == 2  # a usage error, as every choice option's
    words = " ".join(result.output.replace("│", " ").split())
    assert "--precision" in words and "'int4' is not one of 'exact', 'fast', 'int8'" in words, result.output
