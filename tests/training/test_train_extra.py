"""matplotlib is the ``train`` extra's (it only draws curves.png): an inference install lacks it,
and a training run without it still finishes, saying once that the curves are not drawn."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from albert.training import run_log

REPO = Path(__file__).resolve().parents[2]


def test_matplotlib_is_not_a_dependency_of_inference():
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11 reads TOML")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(requirement.startswith("matplotlib") for requirement in project["dependencies"])
    extras = project["optional-dependencies"]
    assert any(requirement.startswith("matplotlib") for requirement in extras["train"])
    assert any(requirement.startswith("matplotlib") for requirement in extras["test"])


def test_without_matplotlib_the_curves_are_skipped_with_one_warning(tmp_path, monkeypatch, caplog):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": step, "loss": 1.0 / step}) + "\n" for step in (1, 2, 3)))
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib... raises ImportError
    run_log._say_matplotlib_is_missing.cache_clear()
    with caplog.at_level(logging.WARNING, logger="albert.training"):
        for _ in range(3):  # redrawn at every checkpoint: said once
            assert run_log.plot_curves(metrics, tmp_path / "curves.png", [("loss", "loss")], ("dev", "dev")) is None
    assert not (tmp_path / "curves.png").exists()
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and "pip install 'albert-lm[train]'" in warnings[0]
