"""A folder albert saves runs in KerasHub's ``AlbertBackbone`` on TensorFlow and on JAX, with
albert's outputs: the path docs/keras_hub.md gives TensorFlow and JAX users.

Keras fixes its backend when it is first imported, so each backend runs in a child process
(``KERAS_BACKEND=...``) that reads the folders and writes its outputs; the comparisons are here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from support.tiny import tiny_config

import albert
from albert import text_normalization

# Checked without importing: importing keras_hub here would import TensorFlow into the worker.
if importlib.util.find_spec("keras_hub") is None:
    pytest.skip("keras_hub is not installed (pip install keras-hub)", allow_module_level=True)

pytestmark = pytest.mark.tf

#: albert's tokenizer gets these as they are; KerasHub's gets them normalized as albert does
#: (lowercased, accents stripped, spaces collapsed), since it runs SentencePiece alone.
TEXTS = [
    "Hello, world!",
    "The Quick Brown Fox jumped over the lazy dog.",
    "ALBERT shares parameters across layers.",
    "Café naïve résumé ``quoted''",
    "  multiple   spaces\tand\nnewlines  ",
]
PAIR = ("The first sentence.", "And the second one")
PAIR_LENGTH = 16

CHILD = r"""
import json, sys
from pathlib import Path

import keras
import keras_hub
import numpy as np

work = Path(sys.argv[1])
spec = json.loads((work / "spec.json").read_text())
inputs = {name: array for name, array in np.load(work / "inputs.npz").items()}
backend = keras.backend.backend()
report = {"backend": backend, "models": {}}
arrays = {}
for name in spec["models"]:
    backbone = keras_hub.models.AlbertBackbone.from_preset(str(work / name))
    # Called directly: predict() would first trace a graph, for one batch.
    for key, value in backbone(inputs).items():
        arrays[f"{name}/{key}"] = keras.ops.convert_to_numpy(value)
    report["models"][name] = {
        "num_layers": backbone.num_layers,
        "num_groups": backbone.num_groups,
        "num_inner_repetitions": backbone.num_inner_repetitions,
    }

folder = str(work / spec["tokenizer"])
tokenizer = keras_hub.models.AlbertTokenizer.from_preset(folder)
report["token_ids"] = [keras.ops.convert_to_numpy(tokenizer(text)).tolist() for text in spec["texts"]]
preprocessor = keras_hub.models.AlbertTextClassifierPreprocessor.from_preset(
    folder, sequence_length=spec["pair_length"]
)
first, second = spec["pair"]
packed = preprocessor(x=([first], [second]))
report["packed"] = {
    key: keras.ops.convert_to_numpy(value)[0].astype(int).tolist() for key, value in packed.items()
}

np.savez(work / f"outputs-{backend}.npz", **arrays)
(work / f"report-{backend}.json").write_text(json.dumps(report))
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two saved folders (the shipped model; a tiny one with 2 groups of 2 layers), the inputs,
    and albert's own outputs and ids for them."""
    work = tmp_path_factory.mktemp("keras_hub")
    albert.AlbertForPreTraining.from_pretrained("albert-small-en").save_pretrained(work / "small")
    torch.manual_seed(0)
    albert.AlbertForPreTraining(tiny_config()).eval().save_pretrained(work / "tiny")

    # A two-segment row and a padded row; ids below the tiny model's vocabulary of 400.
    token_ids = np.array([[2, 10, 200, 300, 45, 3, 99, 5, 3], [2, 17, 18, 3, 0, 0, 0, 0, 0]], dtype="int32")
    segment_ids = np.array([[0, 0, 0, 0, 0, 0, 1, 1, 1], [0] * 9], dtype="int32")
    padding_mask = (token_ids != 0).astype("int32")
    np.savez(work / "inputs.npz", token_ids=token_ids, segment_ids=segment_ids, padding_mask=padding_mask)
    for name in ("small", "tiny"):
        model = albert.AlbertModel.from_pretrained(work / name).eval()
        with torch.no_grad():
            output = model(
                input_ids=torch.from_numpy(token_ids).long(),
                attention_mask=torch.from_numpy(padding_mask).long(),
                token_type_ids=torch.from_numpy(segment_ids).long(),
            )
        np.savez(work / f"{name}-albert.npz", sequence_output=output.last_hidden_state.numpy(),
                 pooled_output=output.pooler_output.numpy())

    spec = {
        "models": ["small", "tiny"],
        "tokenizer": "small",
        "texts": [text_normalization.normalize(text) for text in TEXTS],
        "pair": [text_normalization.normalize(text) for text in PAIR],
        "pair_length": PAIR_LENGTH,
    }
    (work / "spec.json").write_text(json.dumps(spec))
    return work


def run_child(backend: str, work: Path) -> tuple[dict, dict]:
    """Run the child on one Keras backend; returns (its report, its output arrays)."""
    # On CPU: GPUs compute float32 matmuls in TF32 by default, which is not what is compared here.
    env = dict(os.environ, KERAS_BACKEND=backend, CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS="cpu",
               TF_CPP_MIN_LOG_LEVEL="3")
    finished = subprocess.run(
        [sys.executable, "-c", CHILD, str(work)], env=env, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, f"KerasHub on {backend} failed:\n{finished.stderr[-4000:]}"
    report = json.loads((work / f"report-{backend}.json").read_text())
    assert report["backend"] == backend
    return report, dict(np.load(work / f"outputs-{backend}.npz"))


# One test per backend, so that each backend's child (mostly the import of its framework) runs
# once, and the two run side by side under pytest -n 2.
@pytest.mark.parametrize("backend", ["tensorflow", pytest.param("jax", marks=pytest.mark.jax)])
def test_a_saved_folder_runs_in_keras_hub_as_in_albert(backend: str, work: Path):
    """On each Keras backend, KerasHub reads albert's folders and gives:
    - AlbertModel's last_hidden_state and pooler_output as sequence_output and pooled_output
      (fp32, to 1e-5, at every real token), for the shipped model and for shared groups;
    - the config's layer sharing (num_hidden_groups, inner_group_num);
    - albert.AlbertTokenizer's ids on normalized text, and its packing of a text pair."""
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"Keras backend {backend} is not installed")
    report, outputs = run_child(backend, work)
    real = np.load(work / "inputs.npz")["padding_mask"].astype(bool)

    for name in ("small", "tiny"):
        expected = np.load(work / f"{name}-albert.npz")
        for key, rows in (("sequence_output", real), ("pooled_output", slice(None))):
            np.testing.assert_allclose(outputs[f"{name}/{key}"][rows], expected[key][rows], rtol=0, atol=1e-5,
                                       err_msg=f"{name}: {key}")

        config = albert.AlbertConfig.from_pretrained(work / name)
        assert report["models"][name] == {
            "num_layers": config.num_hidden_layers,
            "num_groups": config.num_hidden_groups,
            "num_inner_repetitions": config.inner_group_num,
        }
    tiny = report["models"]["tiny"]
    assert (tiny["num_groups"], tiny["num_inner_repetitions"]) == (2, 2)  # sharing really exercised

    tokenizer = albert.AlbertTokenizer.from_pretrained(work / "small")
    assert report["token_ids"] == [tokenizer(text, add_special_tokens=False)["input_ids"] for text in TEXTS]
    pair = tokenizer(*PAIR, padding="max_length", max_length=PAIR_LENGTH)
    assert report["packed"] == {
        "token_ids": pair["input_ids"],
        "segment_ids": pair["token_type_ids"],
        "padding_mask": pair["attention_mask"],
    }
