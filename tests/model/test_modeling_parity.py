"""Every head gives transformers' outputs on the same weights, in both directions (fp32, <= 1e-5)."""

from __future__ import annotations

import pytest
import torch
import transformers
from support.tiny import tiny_config

import albert
from albert import AlbertConfig
from albert.head_rules import resolve_problem_type

HEADS = [
    "AlbertModel",
    "AlbertForPreTraining",
    "AlbertForMaskedLM",
    "AlbertForSequenceClassification",
    "AlbertForTokenClassification",
    "AlbertForQuestionAnswering",
    "AlbertForMultipleChoice",
]

VOCAB = 120
TRANSFORMERS_5 = int(transformers.__version__.split(".")[0]) >= 5

CONFIGS = {
    # factorized embeddings (E != H), 2 groups each with 2 distinct layers, tanh GELU (v2)
    "groups-inner-E<H": dict(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2),
    # E == H, every layer shares one group, exact GELU (v1), dropout set (inactive in eval)
    "shared-E=H-gelu": dict(embedding_size=32, num_hidden_layers=3, num_hidden_groups=1, inner_group_num=1,
                            hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1),
    # no sharing at all, relu (as the Chinese ALBERT checkpoints use)
    "unshared-relu": dict(num_hidden_layers=3, num_hidden_groups=3, inner_group_num=1, hidden_act="relu"),
    "relative_key": dict(num_hidden_layers=2, num_hidden_groups=1, position_embedding_type="relative_key"),
    "relative_key_query": dict(num_hidden_layers=2, num_hidden_groups=2, inner_group_num=1,
                               position_embedding_type="relative_key_query"),
}


def make_inputs(head: str, num_labels: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A padded batch with two segments, and the labels of the head."""
    generator = torch.Generator().manual_seed(seed)
    batch, length = 3, 11
    input_ids = torch.randint(5, VOCAB, (batch, length), generator=generator)
    attention_mask = torch.ones(batch, length, dtype=torch.long)
    attention_mask[1, 7:] = 0
    attention_mask[2, 4:] = 0
    input_ids[attention_mask == 0] = 0
    token_type_ids = torch.zeros_like(input_ids)
    token_type_ids[:, 5:] = 1
    inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
    if head in ("AlbertForPreTraining", "AlbertForMaskedLM"):
        labels = torch.full_like(input_ids, -100)
        labels[:, 2] = input_ids[:, 2]
        labels[0, 8] = 17
        inputs["labels"] = labels
        if head == "AlbertForPreTraining":
            inputs["sentence_order_label"] = torch.tensor([0, 1, 1])
    elif head == "AlbertForSequenceClassification":
        inputs["labels"] = torch.randint(0, num_labels, (batch,), generator=generator)
    elif head == "AlbertForTokenClassification":
        labels = torch.randint(0, num_labels, (batch, length), generator=generator)
        inputs["labels"] = labels.masked_fill(attention_mask == 0, -100)
    elif head == "AlbertForQuestionAnswering":
        inputs["start_positions"] = torch.tensor([1, 3, 40])  # 40: outside the window, ignored
        inputs["end_positions"] = torch.tensor([2, 5, 40])
    elif head == "AlbertForMultipleChoice":
        choices = 2
        inputs = {key: value.unsqueeze(1).repeat(1, choices, 1).contiguous() for key, value in inputs.items()}
        inputs["input_ids"][:, 1, 1] = 9  # make the choices differ
        inputs["labels"] = torch.tensor([0, 1, 1])
    return inputs


def assert_outputs_match(ours, theirs, keys: list[str], atol: float = 1e-5) -> None:
    for key in keys:
        a, b = getattr(ours, key), getattr(theirs, key)
        assert (a is None) == (b is None), key
        if a is None:
            continue
        if isinstance(a, tuple):
            assert len(a) == len(b), f"{key}: {len(a)} entries vs transformers' {len(b)}"
            for index, (x, y) in enumerate(zip(a, b)):
                assert x.shape == y.shape, f"{key}[{index}]"
                torch.testing.assert_close(x, y, atol=atol, rtol=0, msg=f"{key}[{index}]")
        else:
            assert a.shape == b.shape, f"{key}: {tuple(a.shape)} vs {tuple(b.shape)}"
            torch.testing.assert_close(a, b, atol=atol, rtol=0, msg=key)


OUTPUT_KEYS = {
    "AlbertModel": ["last_hidden_state", "pooler_output"],
    "AlbertForPreTraining": ["loss", "prediction_logits", "sop_logits"],
    "AlbertForQuestionAnswering": ["loss", "start_logits", "end_logits"],
}


def run_both(ours, theirs, head: str, num_labels: int):
    inputs = make_inputs(head, num_labels)
    if head == "AlbertModel":
        inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    with torch.no_grad():
        a = ours(**inputs, output_hidden_states=True, output_attentions=True)
        b = theirs(**inputs, output_hidden_states=True, output_attentions=True)
    keys = OUTPUT_KEYS.get(head, ["loss", "logits"]) + ["attentions"]
    # transformers 4 (our reference) gives one hidden state per layer step; transformers 5 one per
    # inner layer, which differs only when inner_group_num > 1.
    if not (TRANSFORMERS_5 and ours.config.inner_group_num > 1):
        keys.append("hidden_states")
    assert_outputs_match(a, b, keys)


def skip_unsupported(config_name: str) -> None:
    if TRANSFORMERS_5 and config_name.startswith("relative"):
        pytest.skip("transformers 5 dropped relative position embeddings for ALBERT")


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("head", HEADS)
def test_albert_checkpoint_gives_transformers_outputs(tmp_path, head, config_name):
    skip_unsupported(config_name)
    torch.manual_seed(0)
    num_labels = 2 if head in ("AlbertForPreTraining", "AlbertForQuestionAnswering") else 3  # SOP, start/end
    config = tiny_config(vocab_size=VOCAB, num_labels=num_labels, **CONFIGS[config_name])
    ours = getattr(albert, head)(config).eval()
    ours.save_pretrained(tmp_path)
    theirs = getattr(transformers, head).from_pretrained(tmp_path, attn_implementation="eager").eval()
    run_both(ours, theirs, head, num_labels)


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("head", HEADS)
def test_transformers_checkpoint_gives_same_outputs_in_albert(tmp_path, head, config_name):
    skip_unsupported(config_name)
    torch.manual_seed(1)
    num_labels = 2 if head in ("AlbertForPreTraining", "AlbertForQuestionAnswering") else 3
    values = tiny_config(vocab_size=VOCAB, num_labels=num_labels, **CONFIGS[config_name]).to_dict()
    theirs = getattr(transformers, head)(transformers.AlbertConfig(**values, attn_implementation="eager")).eval()
    theirs.save_pretrained(tmp_path)
    ours, info = getattr(albert, head).from_pretrained(tmp_path, output_loading_info=True)
    assert info.missing_keys == [] and info.mismatched_keys == []
    run_both(ours, theirs, head, num_labels)


@pytest.mark.parametrize(
    "problem, num_labels, labels",
    [
        ("regression", 1, torch.tensor([0.5, -1.0, 2.0])),
        ("single_label_classification", 3, torch.tensor([0, 2, 1])),
        ("multi_label_classification", 3, torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])),
    ],
)
def test_sequence_classification_losses_match_transformers(tmp_path, problem, num_labels, labels):
    torch.manual_seed(2)
    config = tiny_config(vocab_size=VOCAB, num_labels=num_labels)
    ours = albert.AlbertForSequenceClassification(config).eval()
    ours.save_pretrained(tmp_path)
    theirs = transformers.AlbertForSequenceClassification.from_pretrained(tmp_path).eval()
    inputs = make_inputs("AlbertModel", num_labels)
    with torch.no_grad():
        a = ours(**inputs, labels=labels)
        b = theirs(**inputs, labels=labels)
    # the same loss is chosen, and albert leaves the config as it was (transformers writes its guess into it)
    assert resolve_problem_type(ours.config.problem_type, num_labels, labels.dtype == torch.long) == problem
    assert ours.config.problem_type is None and theirs.config.problem_type == problem
    torch.testing.assert_close(a.loss, b.loss, atol=1e-6, rtol=0)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-6, rtol=0)


def test_inputs_embeds_and_position_ids_match_transformers(tmp_path):
    torch.manual_seed(3)
    ours = albert.AlbertModel(tiny_config(vocab_size=VOCAB)).eval()
    ours.save_pretrained(tmp_path)
    theirs = transformers.AlbertModel.from_pretrained(tmp_path).eval()
    inputs = make_inputs("AlbertModel", 2)
    embeds = ours.embeddings.word_embeddings(inputs["input_ids"])
    positions = torch.arange(11).flip(0).unsqueeze(0).expand(3, -1)
    with torch.no_grad():
        a = ours(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], position_ids=positions)
        b = theirs(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], position_ids=positions)
    assert_outputs_match(a, b, ["last_hidden_state", "pooler_output"])


def test_training_mode_gradients_match_transformers(tmp_path):
    """Same loss and same gradients on every weight (no dropout, so both are deterministic)."""
    torch.manual_seed(4)
    config = tiny_config(vocab_size=VOCAB, classifier_dropout_prob=0.0)
    ours = albert.AlbertForPreTraining(config).train()
    ours.save_pretrained(tmp_path)
    theirs = transformers.AlbertForPreTraining.from_pretrained(tmp_path).train()
    inputs = make_inputs("AlbertForPreTraining", 2)
    ours(**inputs).loss.backward()
    theirs(**inputs).loss.backward()
    their_grads = dict(theirs.named_parameters())
    for name, parameter in ours.named_parameters():
        torch.testing.assert_close(parameter.grad, their_grads[name].grad, atol=1e-5, rtol=1e-4, msg=name)


def test_output_shapes_follow_sharing_rules():
    """hidden_states: one per layer step (+ the projected embeddings); attentions: one per
    distinct layer application (layers x inner_group_num)."""
    config = tiny_config(vocab_size=VOCAB, num_hidden_layers=6, num_hidden_groups=3, inner_group_num=2)
    model = albert.AlbertModel(config).eval()
    out = model(torch.tensor([[2, 10, 11, 3]]), output_hidden_states=True, output_attentions=True)
    assert len(out.hidden_states) == 7
    assert len(out.attentions) == 12
    assert out.last_hidden_state.shape == (1, 4, 32)
    assert out.attentions[0].shape == (1, 4, 4, 4)
    # only groups x inner distinct layers have weights
    assert len(model.encoder.albert_layer_groups) == 3
    assert all(len(group.albert_layers) == 2 for group in model.encoder.albert_layer_groups)


def test_layers_are_shared_across_depth():
    """Consecutive layer steps reuse one group: perturbing group 1 leaves steps 1-2 (group 0)
    unchanged and changes steps 3-4; parameters are counted once per group."""
    config = tiny_config(vocab_size=VOCAB, num_hidden_layers=4, num_hidden_groups=2, inner_group_num=1)
    model = albert.AlbertModel(config).eval()
    assert [model.encoder.group_of_layer(i) for i in range(4)] == [0, 0, 1, 1]
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    with torch.no_grad():
        before = model(ids, output_hidden_states=True).hidden_states
        model.encoder.albert_layer_groups[1].albert_layers[0].ffn.bias.add_(0.5)
        after = model(ids, output_hidden_states=True).hidden_states
    for step in (0, 1, 2):
        torch.testing.assert_close(before[step], after[step])
    for step in (3, 4):
        assert not torch.allclose(before[step], after[step])
    single = albert.AlbertModel(tiny_config(vocab_size=VOCAB, num_hidden_layers=4, num_hidden_groups=1, inner_group_num=1))
    group_params = sum(p.numel() for p in model.encoder.albert_layer_groups[0].parameters())
    assert model.num_parameters() - single.num_parameters() == group_params


def test_mlm_decoder_is_tied_to_word_embeddings():
    model = albert.AlbertForMaskedLM(tiny_config(vocab_size=VOCAB))
    assert model.predictions.decoder.weight is model.albert.embeddings.word_embeddings.weight
    assert model.predictions.decoder.bias is model.predictions.bias
    loaded = albert.AlbertForPreTraining(tiny_config(vocab_size=VOCAB))
    assert loaded.get_output_embeddings().weight is loaded.get_input_embeddings().weight


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_dtypes_run_and_stay_close(tmp_path, dtype):
    torch.manual_seed(5)
    albert.AlbertForMaskedLM(tiny_config(vocab_size=VOCAB)).save_pretrained(tmp_path)
    full = albert.AlbertForMaskedLM.from_pretrained(tmp_path)
    half = albert.AlbertForMaskedLM.from_pretrained(tmp_path, dtype=dtype)
    assert half.dtype == dtype and all(p.dtype == dtype for p in half.parameters())
    inputs = make_inputs("AlbertModel", 2)
    with torch.no_grad():
        reference = full(**inputs).logits
        approximate = half(**inputs).logits
    assert approximate.dtype == dtype
    assert torch.isfinite(approximate).all()
    relative = (approximate.float() - reference).norm() / reference.norm()
    assert relative < 3e-2


def test_dtype_by_name_and_auto(tmp_path):
    albert.AlbertModel(tiny_config(vocab_size=VOCAB)).to(torch.bfloat16).save_pretrained(tmp_path)
    assert albert.AlbertModel.from_pretrained(tmp_path).dtype == torch.float32
    assert albert.AlbertModel.from_pretrained(tmp_path, dtype="bf16").dtype == torch.bfloat16
    assert albert.AlbertModel.from_pretrained(tmp_path, dtype="auto").dtype == torch.bfloat16
    assert albert.AlbertModel.from_pretrained(tmp_path, torch_dtype=torch.float16).dtype == torch.float16
    with pytest.raises(ValueError, match="unknown dtype"):
        albert.AlbertModel.from_pretrained(tmp_path, dtype="float8")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_cuda_matches_cpu(tmp_path, dtype):
    torch.manual_seed(6)
    albert.AlbertForMaskedLM(tiny_config(vocab_size=VOCAB)).save_pretrained(tmp_path)
    cpu = albert.AlbertForMaskedLM.from_pretrained(tmp_path)
    gpu = albert.AlbertForMaskedLM.from_pretrained(tmp_path, device="cuda", dtype=dtype)
    inputs = make_inputs("AlbertModel", 2)
    with torch.no_grad():
        expected = cpu(**inputs).logits
        got = gpu(**{k: v.cuda() for k, v in inputs.items()}).logits.float().cpu()
    tolerance = 1e-4 if dtype == torch.float32 else 3e-2
    assert ((got - expected).norm() / expected.norm()) < tolerance


def test_bad_inputs_give_clear_errors():
    model = albert.AlbertModel(tiny_config(vocab_size=VOCAB)).eval()
    with pytest.raises(ValueError, match="exactly one of input_ids or inputs_embeds"):
        model()
    with pytest.raises(ValueError, match="longer than max_position_embeddings"):
        model(torch.ones(1, 65, dtype=torch.long))
    with pytest.raises(ValueError, match="must be a multiple of num_attention_heads"):
        AlbertConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(ValueError, match="multiple of num_hidden_groups"):
        AlbertConfig(num_hidden_layers=5, num_hidden_groups=2)
    with pytest.raises(ValueError, match="unknown hidden_act"):
        albert.AlbertModel(tiny_config(vocab_size=VOCAB, hidden_act="gelu_nope"))
    with pytest.raises(ValueError, match="num_choices"):
        albert.AlbertForMultipleChoice(tiny_config(vocab_size=VOCAB))(torch.ones(2, 5, dtype=torch.long))
