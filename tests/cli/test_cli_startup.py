"""``albert --help``, every command's ``--help`` and every error in parsing the arguments import
no torch (nor numpy, pandas, pyarrow, matplotlib, the models, the pipelines or the training loops): they
answer in a fraction of a second. What they cost is measured by bench/cli_startup.py (a script,
not a timed test); here, what must hold. And the help shows flags as flags."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from albert.cli import app

#: Modules that must not be loaded before a command runs (each costs from 0.1 s to seconds).
HEAVY = ("torch", "numpy", "pandas", "pyarrow", "matplotlib", "sentencepiece", "safetensors", "tokenizers", "huggingface_hub",
         "fastapi", "uvicorn", "pyspark", "tensorflow", "jax", "onnx", "onnxruntime", "transformers", "scipy",
         "albert.modeling", "albert.pipelines", "albert.training.loop", "albert.training.optim")  # fmt: skip

#: Run in a fresh interpreter: every command's --help and a parse error of each, then the modules loaded.
PROBE = """
import json, sys
import typer.main
from albert.cli import app

root = typer.main.get_command(app)

def commands(command, path=()):
    if hasattr(command, "commands"):
        yield path
        for name, sub in command.commands.items():
            yield from commands(sub, (*path, name))
    else:
        yield path

for path in list(commands(root)):
    for args in ([*path, "--help"], [*path, "--no-such-option"], [*path, "--help", "--no-such-option"]):
        try:
            root.main(args=args, prog_name="albert", standalone_mode=False)
        except BaseException:
            pass
for args in (["fill-mask", "--top-k", "x"], ["embed", "--level", "nope"], ["pretrain", "--steps", "1.5"]):
    try:
        root.main(args=args, prog_name="albert", standalone_mode=False)
    except BaseException:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules(code: str) -> list[str]:
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    return json.loads(process.stdout.splitlines()[-1])


def heavy_among(modules: list[str]) -> list[str]:
    return [name for name in modules if any(name == heavy or name.startswith(heavy + ".") for heavy in HEAVY)]


def test_help_and_parse_errors_of_every_command_import_nothing_heavy():
    modules = loaded_modules(PROBE)
    assert "albert.cli.train_commands" in modules and "typer" in modules  # the probe did run
    assert heavy_among(modules) == []


def test_the_real_albert_help_imports_no_torch():
    process = subprocess.run([sys.executable, "-X", "importtime", "-m", "albert.cli", "--help"], capture_output=True,
                             text=True, timeout=300)  # fmt: skip
    assert process.returncode == 0 and "fill-mask" in process.stdout, process.stderr
    imported = [line.split("|")[-1].strip() for line in process.stderr.splitlines() if line.startswith("import time:")]
    assert "typer" in imported and heavy_among(imported) == []


def test_the_check_sees_heavy_modules():
    # The specification can fail: a loaded torch, or a pipeline module, is seen.
    assert heavy_among(["typer", "torch", "torch.nn", "albert.pipelines.base", "albert.pipes", "torchvision"]) == [
        "torch", "torch.nn", "albert.pipelines.base"
    ]


def help_texts() -> dict[str, str]:
    texts = {}
    root = typer.main.get_command(app)

    def walk(command, path):
        texts[" ".join(path) or "albert"] = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"}).stdout
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(root, ())
    return texts


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    return help_texts()


def test_flags_are_shown_as_flags(helps):
    # typer labels every option with its type; a flag takes no value, so it shows none.
    for name, text in helps.items():
        assert "--help" in text, name
        assert "<bool>" not in text, f"albert {name} --help:\n{text}"
    fill_mask = helps["fill-mask"]
    assert "<int range>" in fill_mask and "<path>" in fill_mask  # valued options keep theirs
    json_line = next(line for line in fill_mask.splitlines() if "--json" in line)
    assert "Print JSON lines" in json_line and "<" not in json_line.split("Print")[0]


def test_choices_are_listed_in_the_help(helps):
    assert "piece|word|token|sentence|document" in helps["embed"]
    assert "softmax|sigmoid|none" in helps["classify"]
