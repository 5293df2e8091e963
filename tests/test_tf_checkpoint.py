"""The original TF checkpoint names map onto transformers' names and back, for every weight."""

from __future__ import annotations

import torch
from conftest import tiny_config

import albert
from albert.tf_checkpoint import convert_tf_variables, tf_to_torch_name, torch_to_tf_name


def test_every_pretraining_weight_round_trips_through_tf_names():
    model = albert.AlbertForPreTraining(tiny_config(vocab_size=50, num_hidden_groups=2, inner_group_num=2))
    names = [n for n in model.state_dict() if not n.startswith("predictions.decoder.")]
    for name in names:
        tf_name = torch_to_tf_name(name)
        assert tf_name is not None, name
        assert tf_to_torch_name(tf_name) == name
    assert torch_to_tf_name("albert.encoder.albert_layer_groups.1.albert_layers.0.attention.query.weight") == (
        "bert/encoder/transformer/group_1/inner_group_0/attention_1/self/query/kernel"
    )


def test_a_tf_style_checkpoint_converts_into_the_same_model():
    """Export a model's weights under TF names and layouts, convert back, and get equal outputs."""
    torch.manual_seed(0)
    model = albert.AlbertForPreTraining(tiny_config(vocab_size=50)).eval()
    variables = {}
    for name, tensor in model.state_dict().items():
        tf_name = torch_to_tf_name(name)
        if tf_name is None:
            continue
        array = tensor.numpy()
        variables[tf_name] = array.T.copy() if tf_name.endswith("/kernel") else array
    variables["bert/embeddings/word_embeddings/adam_m"] = variables["bert/embeddings/word_embeddings"]
    variables["global_step"] = 1000
    state = convert_tf_variables(variables)
    converted = albert.AlbertForPreTraining(tiny_config(vocab_size=50)).eval()
    info = converted._load_state(state, ignore_mismatched_sizes=False)
    assert info.missing_keys == [] and info.unexpected_keys == []
    ids = torch.tensor([[2, 7, 8, 9, 3]])
    with torch.no_grad():
        torch.testing.assert_close(converted(ids).prediction_logits, model(ids).prediction_logits)
    assert tf_to_torch_name("cls/squad/output_weights") is None
