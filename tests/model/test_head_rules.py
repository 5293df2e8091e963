"""The rules every task head follows, in torch and in Flax alike (albert.head_rules): one table of
heads, the problem type chosen per call without touching the config, and no framework imported."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest
import torch
from support.tiny import tiny_config

import albert
from albert import ConfigError, InputError
from albert.head_rules import HEADS, ModelInputs, attention_mask_index, count_choices, resolve_problem_type
from albert.modeling import AlbertHeadModel


@pytest.mark.parametrize(("problem_type", "num_labels", "integer_labels", "expected"), [
    (None, 1, False, "regression"),
    (None, 1, True, "regression"),
    (None, 3, True, "single_label_classification"),
    (None, 3, False, "multi_label_classification"),
    ("regression", 3, True, "regression"),
    ("multi_label_classification", 3, True, "multi_label_classification"),
])
def test_problem_type_is_transformers_choice(problem_type, num_labels, integer_labels, expected):
    assert resolve_problem_type(problem_type, num_labels, integer_labels) == expected


def test_an_unknown_problem_type_is_a_config_error():
    with pytest.raises(ConfigError, match="'ranking'"):
        resolve_problem_type("ranking", 2, True)


@pytest.mark.parametrize("labels", [torch.tensor([0, 2]), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])])
def test_a_forward_with_labels_leaves_the_config_and_its_saved_file_as_they_were(tmp_path, labels):
    torch.manual_seed(0)
    model = albert.AlbertForSequenceClassification(tiny_config(num_labels=3)).eval()
    model.save_pretrained(tmp_path / "before")
    loss = model(input_ids=torch.tensor([[2, 5, 3], [2, 6, 3]]), labels=labels).loss
    assert torch.isfinite(loss)
    model.save_pretrained(tmp_path / "after")
    assert model.config.problem_type is None
    before, after = (json.loads((tmp_path / name / "config.json").read_text()) for name in ("before", "after"))
    assert after == before


def test_every_torch_head_takes_its_targets_and_returns_its_output():
    for name in ("AlbertForPreTraining", "AlbertForMaskedLM", "AlbertForSequenceClassification",
                 "AlbertForTokenClassification", "AlbertForQuestionAnswering", "AlbertForMultipleChoice"):
        cls = getattr(albert, name)
        assert issubclass(cls, AlbertHeadModel) and cls.spec in HEADS.values(), name
        parameters = list(inspect.signature(cls.forward).parameters)
        assert parameters[1:6] == list(ModelInputs._fields), name  # transformers' positional order
        assert set(cls.spec.targets) <= set(parameters), name


def test_shape_rules_name_what_was_wrong():
    with pytest.raises(InputError, match=r"\(2, 1, 1, 1, 3\)"):
        attention_mask_index(torch.ones(2, 1, 1, 1, 3))
    assert torch.ones(2, 3)[attention_mask_index(torch.ones(2, 3))].shape == (2, 1, 1, 3)
    with pytest.raises(InputError, match="num_choices"):
        count_choices(ModelInputs(input_ids=torch.ones(2, 3, dtype=torch.long)))


def test_the_rules_import_no_framework():
    code = "import sys, albert.head_rules; print(sorted({'torch', 'jax', 'flax'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
