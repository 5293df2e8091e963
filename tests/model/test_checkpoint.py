"""from_pretrained / save_pretrained: folders, the Hub cache, safety, and clear errors."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys

import pytest
import torch
import transformers
from safetensors.torch import load_file
from support.tiny import tiny_config

import albert
from albert import CheckpointError, ModelNotFoundError

VOCAB = 120


@pytest.fixture
def saved_mlm(tmp_path):
    torch.manual_seed(0)
    model = albert.AlbertForMaskedLM(tiny_config(vocab_size=VOCAB)).eval()
    folder = tmp_path / "mlm"
    model.save_pretrained(folder)
    return model, folder


def logits(model, ids=None):
    ids = ids if ids is not None else torch.tensor([[2, 10, 20, 30, 3]])
    with torch.no_grad():
        return model(ids).logits


def test_save_writes_hf_layout_without_duplicated_tied_weights(saved_mlm):
    model, folder = saved_mlm
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["AlbertForMaskedLM"] and config["model_type"] == "albert"
    tensors = load_file(folder / "model.safetensors")
    assert "predictions.decoder.weight" not in tensors and "predictions.bias" in tensors
    assert "albert.embeddings.word_embeddings.weight" in tensors
    reloaded = albert.AlbertForMaskedLM.from_pretrained(folder)
    torch.testing.assert_close(logits(reloaded), logits(model), atol=0, rtol=0)
    assert not reloaded.training


def test_sharded_save_loads_here_and_in_transformers(saved_mlm, tmp_path):
    model, _ = saved_mlm
    folder = tmp_path / "sharded"
    model.save_pretrained(folder, max_shard_size="20KB")
    shards = sorted(folder.glob("model-*-of-*.safetensors"))
    assert len(shards) > 1 and (folder / "model.safetensors.index.json").is_file()
    assert not (folder / "model.safetensors").exists()
    torch.testing.assert_close(logits(albert.AlbertForMaskedLM.from_pretrained(folder)), logits(model))
    theirs = transformers.AlbertForMaskedLM.from_pretrained(folder).eval()
    torch.testing.assert_close(logits(theirs), logits(model), atol=1e-5, rtol=0)
    # saving again unsharded removes the stale shards
    model.save_pretrained(folder)
    assert not list(folder.glob("model-*-of-*.safetensors")) and (folder / "model.safetensors").is_file()


def test_base_checkpoint_into_head_reports_new_weights(saved_mlm, caplog):
    _, folder = saved_mlm
    with caplog.at_level(logging.WARNING, logger="albert"):
        model, info = albert.AlbertForSequenceClassification.from_pretrained(
            folder, num_labels=3, output_loading_info=True
        )
    assert set(info.missing_keys) == {"albert.pooler.weight", "albert.pooler.bias", "classifier.weight", "classifier.bias"}
    assert "predictions.bias" in info.unexpected_keys
    assert "newly initialised" in caplog.text and "classifier.weight" in caplog.text
    assert model.classifier.weight.shape == (3, 32)
    assert model.classifier.weight.std() > 0  # initialised, not left empty
    assert torch.all(model.classifier.bias == 0)


def test_head_checkpoint_into_base_model_strips_the_prefix(saved_mlm):
    mlm, folder = saved_mlm
    base, info = albert.AlbertModel.from_pretrained(folder, output_loading_info=True)
    assert set(info.missing_keys) == {"pooler.weight", "pooler.bias"}
    torch.testing.assert_close(base.embeddings.word_embeddings.weight, mlm.albert.embeddings.word_embeddings.weight)


def test_wrong_shape_names_the_tensor_and_both_shapes(saved_mlm):
    _, folder = saved_mlm
    config = json.loads((folder / "config.json").read_text())
    config["intermediate_size"] = 40
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"ffn.weight' has shape \(37, 32\) in the checkpoint but AlbertForMaskedLM expects \(40, 32\)"):
        albert.AlbertForMaskedLM.from_pretrained(folder)


def test_ignore_mismatched_sizes_reinitialises_a_classifier(tmp_path):
    torch.manual_seed(1)
    albert.AlbertForSequenceClassification(tiny_config(vocab_size=VOCAB, num_labels=2)).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="classifier.weight"):
        albert.AlbertForSequenceClassification.from_pretrained(tmp_path, num_labels=5)
    model, info = albert.AlbertForSequenceClassification.from_pretrained(
        tmp_path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True
    )
    assert model.classifier.out_features == 5
    assert ("classifier.weight", (2, 32), (5, 32)) in info.mismatched_keys


def test_missing_folder_and_files_are_explained(tmp_path, saved_mlm):
    with pytest.raises(ModelNotFoundError, match="no model folder at"):
        albert.AlbertModel.from_pretrained(tmp_path / "nope" / "deeper")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="has no config.json"):
        albert.AlbertModel.from_pretrained(empty)
    _, folder = saved_mlm
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelNotFoundError, match="found no weights"):
        albert.AlbertModel.from_pretrained(folder)


def test_corrupt_safetensors_is_reported(saved_mlm):
    _, folder = saved_mlm
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        albert.AlbertForMaskedLM.from_pretrained(folder)
    path.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        albert.AlbertForMaskedLM.from_pretrained(folder)


def test_pytorch_bin_loads_through_weights_only(saved_mlm, tmp_path):
    model, folder = saved_mlm
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    shutil.copy(folder / "config.json", legacy)
    torch.save(model.state_dict(), legacy / "pytorch_model.bin")  # with the tied alias, as old checkpoints do
    torch.testing.assert_close(logits(albert.AlbertForMaskedLM.from_pretrained(legacy)), logits(model))


class _RunsCode:
    """Unpickling this calls os.system: the attack a malicious pytorch_model.bin carries."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused_and_never_executed(saved_mlm, tmp_path):
    _, folder = saved_mlm
    evil = tmp_path / "evil"
    evil.mkdir()
    shutil.copy(folder / "config.json", evil)
    marker = tmp_path / "pwned"
    torch.save({"albert.embeddings.word_embeddings.weight": _RunsCode(marker)}, evil / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="refusing to load"):
        albert.AlbertForMaskedLM.from_pretrained(evil)
    assert not marker.exists()


def test_safetensors_is_preferred_over_bin(saved_mlm):
    model, folder = saved_mlm
    torch.save({"garbage": torch.zeros(1)}, folder / "pytorch_model.bin")
    torch.testing.assert_close(logits(albert.AlbertForMaskedLM.from_pretrained(folder)), logits(model))


def make_hub_cache(cache, repo_id, source):
    """Lay out ``source``'s files as huggingface_hub caches a downloaded repo."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    for path in source.iterdir():
        shutil.copy(path, snapshot / path.name)


def test_hub_id_loads_from_the_cache_offline(saved_mlm, tmp_path):
    model, folder = saved_mlm
    cache = tmp_path / "hub"
    make_hub_cache(cache, "someone/tiny-albert", folder)
    loaded = albert.AlbertForMaskedLM.from_pretrained("someone/tiny-albert", cache_dir=cache, local_files_only=True)
    torch.testing.assert_close(logits(loaded), logits(model))


def test_hub_id_not_cached_offline_says_where_it_looked(tmp_path):
    cache = tmp_path / "hub"
    with pytest.raises(ModelNotFoundError) as error:
        albert.AlbertModel.from_pretrained("albert-base-v2", cache_dir=cache, local_files_only=True)
    message = str(error.value)
    assert "albert/albert-base-v2" in message and str(cache) in message and "local folder" in message


def test_hub_unreachable_gives_one_clear_error(tmp_path):
    """With the network off (HF_HUB_OFFLINE), a Hub id fails with our message, not a traceback."""
    code = (
        "import albert\n"
        "try:\n"
        "    albert.AlbertModel.from_pretrained('albert/albert-base-v2')\n"
        "except albert.ModelNotFoundError as e:\n"
        "    print('ERROR:', e)\n"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "ERROR: 'albert/albert-base-v2' is not a folder, not a shipped model" in out.stdout, out.stderr


def test_save_copies_tokenizer_files_of_the_source(saved_mlm, tmp_path, tiny_spm):
    _, folder = saved_mlm
    shutil.copy(tiny_spm, folder / "spiece.model")
    model = albert.AlbertForMaskedLM.from_pretrained(folder)
    out = tmp_path / "copy"
    model.save_pretrained(out)
    assert (out / "spiece.model").read_bytes() == tiny_spm.read_bytes()
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*tmp"))


def test_config_overrides_and_unknown_arguments(saved_mlm):
    _, folder = saved_mlm
    model = albert.AlbertForTokenClassification.from_pretrained(folder, num_labels=7, classifier_dropout_prob=0.0)
    assert model.classifier.out_features == 7 and model.config.classifier_dropout_prob == 0.0
    with pytest.raises(TypeError, match="unexpected argument 'hiden_size'"):
        albert.AlbertModel.from_pretrained(folder, hiden_size=3)
    with pytest.raises(TypeError, match="unexpected argument 'save_pretrained' \\(a method or property"):
        albert.AlbertModel.from_pretrained(folder, save_pretrained=3)


def test_num_parameters_counts_shared_weights_once():
    config = albert.AlbertConfig.preset("albert-base-v2")
    with torch.device("meta"):
        model = albert.AlbertModel(config)
    # 11.7M: the paper's "12M" for ALBERT-base (Table 1)
    assert 11_000_000 < model.num_parameters() < 12_500_000


def test_a_saved_model_brings_its_own_tokenizer_into_a_reused_folder(saved_mlm, tmp_path):
    """Saving a model with a WordPiece vocabulary (a Chinese release) into a folder that holds an
    earlier save's SentencePiece files: the folder loads the model's own tokenizer after."""
    from albert.pipelines import default_model
    from albert.wordpiece import AlbertWordPieceTokenizer

    model, source = saved_mlm
    (source / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "你", "好"]) + "\n")
    reused = tmp_path / "reused"
    albert.AlbertTokenizer.from_pretrained(default_model()).save_pretrained(reused)
    albert.AlbertForMaskedLM.from_pretrained(source).save_pretrained(reused)
    assert not (reused / "spiece.model").exists() and not (reused / "tokenizer_config.json").exists()
    tokenizer = albert.AlbertTokenizer.from_pretrained(reused)
    assert isinstance(tokenizer, AlbertWordPieceTokenizer) and tokenizer.tokenize("你好") == ["你", "好"]
    # Saved again into its own folder: nothing of its own is removed.
    albert.AlbertForMaskedLM.from_pretrained(reused).save_pretrained(reused)
    assert (reused / "vocab.txt").is_file()
