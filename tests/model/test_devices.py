"""Devices and dtypes are named one way everywhere (albert.devices): a bad name is one
OptionError with one wording, from the Python API and from every command, before a model loads."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from albert.cli import app
from albert.devices import check_device, check_dtype, resolve_device, resolve_dtype
from albert.errors import ModelNotFoundError, OptionError

BAD_DEVICE = "unknown device 'foo' (--device): use cpu, cuda, cuda:N, mps or auto"


@pytest.mark.parametrize(
    ("given", "expected"),
    [("cpu", "cpu"), (" CPU ", "cpu"), ("cuda", "cuda"), ("cuda:1", "cuda:1"), ("mps", "mps"), ("auto", "auto"),
     (None, None), (0, 0), (-1, -1)],
)  # fmt: skip
def test_device_names_are_checked_without_torch(given, expected):
    assert check_device(given) == expected


@pytest.mark.parametrize("given", ["foo", "", "cuda:", "cuda:x", "cuda:-1", "gpu", "cpu:0:1", "meta", True, 1.5, []])
def test_a_bad_device_is_one_option_error(given):
    with pytest.raises(OptionError, match=r"unknown device .*: use cpu, cuda, cuda:N, mps or auto"):
        resolve_device(given)


def test_a_device_the_machine_lacks_is_named():
    if torch.cuda.is_available():
        with pytest.raises(OptionError, match="cuda:99"):
            resolve_device("cuda:99")
    else:
        with pytest.raises(OptionError, match="torch sees no CUDA GPU"):
            resolve_device("cuda")
    assert resolve_device("cpu") == torch.device("cpu") and resolve_device(torch.device("cpu")).type == "cpu"
    assert resolve_device(-1) == torch.device("cpu")


@pytest.mark.parametrize(("given", "expected"), [("bf16", torch.bfloat16), ("float32", torch.float32),
                                                 ("torch.float16", torch.float16), ("half", torch.float16),
                                                 (torch.bfloat16, torch.bfloat16), ("auto", "auto"), (None, None)])  # fmt: skip
def test_dtypes_by_any_of_their_names(given, expected):
    assert resolve_dtype(given) == expected


@pytest.mark.parametrize("given", ["int8", "", "float64", 3])
def test_a_bad_dtype_is_one_option_error(given):
    with pytest.raises(OptionError, match=r"unknown dtype .*: use float32, bfloat16, float16 or auto"):
        check_dtype(given)


def test_the_python_api_refuses_a_bad_device_before_it_loads_the_model():
    from albert.pipelines import pipeline

    # The model does not exist: the device is checked first, so the error is about the device.
    with pytest.raises(OptionError, match="unknown device 'foo'"):
        pipeline("fill-mask", model="/no/such/model", device="foo")
    with pytest.raises(ModelNotFoundError):
        pipeline("fill-mask", model="/no/such/model", device="cpu")


@pytest.mark.parametrize(
    "args",
    [
        ["fill-mask", "a [MASK]."],
        ["embed", "some text"],
        ["tag", "John lives here."],
        ["evaluate-mlm", "{model}", "{model}"],
        ["finetune", "--task", "regression", "--model", "{model}", "--train", "x.tsv", "--out", "out"],
    ],
    ids=lambda args: args[0],
)
def test_every_command_refuses_a_bad_device_in_one_line(args, tmp_path, monkeypatch):
    # The commands gave a 53-line torch traceback; now one line, before any model loads
    # (the model here does not even exist).
    monkeypatch.chdir(tmp_path)
    argv = [arg.format(model=tmp_path / "no-model") for arg in args]
    result = CliRunner().invoke(app, [*argv, "--device", "foo"])
    assert result.exit_code == 1, result.stderr
    assert result.stderr == f"error: {BAD_DEVICE}\n"
