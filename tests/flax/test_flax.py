"""albert.flax: every head gives the torch models' outputs and losses on the same weights (fp32,
<= 1e-5 on CPU), folders move both ways (torch, transformers, Flax), and the JAX parts users rely
on work: jit, bf16, data-parallel sharding, an optax training loop, no torch at run time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from support.tiny import tiny_config

pytest.importorskip("flax")
pytestmark = [pytest.mark.jax]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

import albert  # noqa: E402
from albert.flax import MODEL_CLASSES, CheckpointError, FlaxAlbertForMaskedLM, FlaxAlbertModel  # noqa: E402
from albert.flax.checkpoint import named_parameters, state_dict  # noqa: E402
from albert.flax.modeling import FlaxAlbertForSequenceClassification  # noqa: E402
from albert.head_rules import resolve_problem_type  # noqa: E402

VOCAB = 120
TOLERANCE = 1e-5  # fp32 on CPU, every output field, the bar

HEADS = [
    "AlbertModel",
    "AlbertForPreTraining",
    "AlbertForMaskedLM",
    "AlbertForSequenceClassification",
    "AlbertForTokenClassification",
    "AlbertForQuestionAnswering",
    "AlbertForMultipleChoice",
]

CONFIGS = {
    # factorized embeddings (E != H), 2 groups each with 2 distinct layers, tanh GELU (v2)
    "groups-inner-E<H": dict(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2),
    # E == H, every layer shares one group (the default sharing), exact GELU (v1), dropout set
    # (inactive in eval)
    "shared-E=H-gelu": dict(embedding_size=32, num_hidden_layers=3, num_hidden_groups=1, inner_group_num=1,
                            hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1),
    "relative_key_query-relu": dict(num_hidden_layers=2, num_hidden_groups=2, inner_group_num=1, hidden_act="relu",
                                    position_embedding_type="relative_key_query"),
}


def make_inputs(head: str, num_labels: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A padded batch with two segments, and the labels of the head (as test_modeling_parity)."""
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
        inputs = {key: value.unsqueeze(1).repeat(1, 2, 1).contiguous() for key, value in inputs.items()}
        inputs["input_ids"][:, 1, 1] = 9  # make the choices differ
        inputs["labels"] = torch.tensor([0, 1, 1])
    return inputs


def to_jax(inputs: dict[str, torch.Tensor]) -> dict[str, jax.Array]:
    return {name: jnp.asarray(tensor.numpy()) for name, tensor in inputs.items()}


def max_differences(ours, theirs) -> dict[str, float]:
    """Max abs difference of every field the torch output has (tuples: the worst element)."""
    found = {}
    for key in theirs.keys():
        want, got = theirs[key], ours[key]
        pairs = zip(want, got, strict=True) if isinstance(want, tuple) else [(want, got)]
        found[key] = max(float(np.abs(w.detach().float().numpy() - np.asarray(g, np.float32)).max()) for w, g in pairs)
    return found


def torch_folder(tmp_path: Path, head: str, seed: int = 0, **overrides) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(seed)
    model = getattr(albert, head)(tiny_config(vocab_size=VOCAB, **overrides)).eval()
    folder = model.save_pretrained(tmp_path / head)
    return model, folder


#: Every head on the sharing configs; relative positions (attention, which every head shares) on the base model.
CASES = [(head, name) for name in ("groups-inner-E<H", "shared-E=H-gelu") for head in HEADS]
CASES += [("AlbertModel", "relative_key_query-relu"), ("AlbertForMaskedLM", "relative_key_query-relu")]


@pytest.mark.parametrize(("head", "config_name"), CASES)
def test_every_head_matches_torch_on_the_same_weights(tmp_path, head, config_name):
    num_labels = 2 if head == "AlbertForQuestionAnswering" else 3
    reference, folder = torch_folder(tmp_path, head, num_labels=num_labels, **CONFIGS[config_name])
    model = MODEL_CLASSES[f"Flax{head}"].from_pretrained(folder)
    inputs = make_inputs(head, num_labels)
    with torch.no_grad():
        want = reference(**inputs, output_hidden_states=True, output_attentions=True)
        want_sdpa = reference(**inputs)  # the default (SDPA) path of the torch model
    got = model(**to_jax(inputs), output_hidden_states=True, output_attentions=True)
    differences = max_differences(got, want)
    assert set(got.keys()) == set(want.keys())
    assert max(differences.values()) <= TOLERANCE, differences
    assert max(max_differences(got, want_sdpa).values()) <= TOLERANCE


def test_position_ids_and_inputs_embeds_match_torch(tmp_path):
    reference, folder = torch_folder(tmp_path, "AlbertModel")
    model = FlaxAlbertModel.from_pretrained(folder)
    inputs = make_inputs("AlbertModel", 2)
    inputs["position_ids"] = torch.arange(3, 14)[None, :]
    embeds = reference.embeddings.word_embeddings(inputs["input_ids"]).detach()
    with torch.no_grad():
        want = reference(**inputs)
        want_embeds = reference(inputs_embeds=embeds, attention_mask=inputs["attention_mask"])
    assert max(max_differences(model(**to_jax(inputs)), want).values()) <= TOLERANCE
    got = model(inputs_embeds=jnp.asarray(embeds.numpy()), attention_mask=jnp.asarray(inputs["attention_mask"].numpy()))
    assert max(max_differences(got, want_embeds).values()) <= TOLERANCE


@pytest.mark.parametrize(("num_labels", "labels", "problem_type"), [
    (1, torch.tensor([0.5, -1.0, 2.0]), "regression"),
    (3, torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), "multi_label_classification"),
])
def test_sequence_classification_losses_match_torch(tmp_path, num_labels, labels, problem_type):
    reference, folder = torch_folder(tmp_path, "AlbertForSequenceClassification", num_labels=num_labels)
    model = FlaxAlbertForSequenceClassification.from_pretrained(folder)
    inputs = {**make_inputs("AlbertModel", num_labels), "labels": labels}
    with torch.no_grad():
        want = reference(**inputs)
    got = model(**to_jax(inputs))
    assert abs(float(got.loss) - float(want.loss)) <= TOLERANCE
    # the loss is chosen per call, as in torch; neither model writes its guess into the config
    assert resolve_problem_type(None, num_labels, False) == problem_type
    assert model.config.problem_type is None and reference.config.problem_type is None


def test_gradients_match_torch_through_shared_layers_and_the_tied_decoder(tmp_path):
    # The sharing semantics, seen where they matter: a shared group's gradient sums over the steps
    # that use it, and the word embeddings collect the decoder's gradient too.
    reference, folder = torch_folder(tmp_path, "AlbertForMaskedLM")
    model = FlaxAlbertForMaskedLM.from_pretrained(folder)
    inputs = make_inputs("AlbertForMaskedLM", 2)
    reference(**inputs).loss.backward()
    want = {name: parameter.grad.numpy() for name, parameter in reference.named_parameters()}
    batch = to_jax(inputs)
    grads = nnx.jit(nnx.grad(lambda model: model(**batch).loss))(model)
    got = state_dict(grads)
    assert set(got) == set(want)
    worst = max(float(np.abs(got[name] - want[name]).max()) for name in want)
    assert worst <= TOLERANCE
    assert np.abs(got["albert.embeddings.word_embeddings.weight"]).sum() > 0


def test_a_flax_save_loads_in_torch_and_transformers_with_the_same_outputs(tmp_path):
    import transformers

    model = FlaxAlbertForMaskedLM(tiny_config(vocab_size=VOCAB), rngs=nnx.Rngs(3))
    model.eval()
    folder = model.save_pretrained(tmp_path / "flax")
    inputs = make_inputs("AlbertModel", 2)
    ours, info = albert.AlbertForMaskedLM.from_pretrained(folder, output_loading_info=True)
    theirs = transformers.AlbertForMaskedLM.from_pretrained(folder).eval()
    assert not info.missing_keys and not info.unexpected_keys
    got = model(**to_jax(inputs), output_hidden_states=True)
    with torch.no_grad():
        for reference in (ours, theirs):
            want = reference(**inputs, output_hidden_states=True)
            assert max(max_differences(got, want).values()) <= TOLERANCE
    # and back: transformers' folder loads here
    theirs.save_pretrained(tmp_path / "transformers")
    again = FlaxAlbertForMaskedLM.from_pretrained(tmp_path / "transformers")
    assert float(jnp.abs(again(**to_jax(inputs)).logits - got.logits).max()) <= TOLERANCE


def test_the_shipped_model_gives_the_torch_numbers():
    reference = albert.AlbertForPreTraining.from_pretrained("albert-small-en")
    tokenizer = albert.AlbertTokenizer.from_pretrained("albert-small-en")
    batch = tokenizer(["The cat sat on the mat.", "ALBERT shares its layers across depth."],
                      ["It was warm.", "So it is small."], padding=True, return_tensors="pt")
    model = MODEL_CLASSES["FlaxAlbertForPreTraining"].from_pretrained("albert-small-en")
    with torch.no_grad():
        want = reference(**batch)
    got = nnx.jit(lambda model, batch: model(**batch))(model, to_jax(dict(batch)))
    differences = max_differences(got, want)
    # Trained weights give logits up to about 20, where float32's spacing is 2e-6 and summation
    # order alone moves the last digits (torch and transformers differ by 1e-5 on these very
    # logits): the bar is 1e-6 of each field's largest magnitude.
    for key, difference in differences.items():
        assert difference <= 1e-6 * max(1.0, float(want[key].abs().max())), differences


def test_loading_a_base_checkpoint_into_a_head_and_the_errors(tmp_path):
    _, folder = torch_folder(tmp_path, "AlbertModel")
    model, info = FlaxAlbertForSequenceClassification.from_pretrained(folder, num_labels=4, output_loading_info=True)
    assert info.missing_keys == ["classifier.bias", "classifier.weight"]
    assert model.classifier.kernel.shape == (32, 4)
    assert model.albert.embeddings.dropout.deterministic is True  # from_pretrained: eval mode
    _, head_folder = torch_folder(tmp_path, "AlbertForSequenceClassification", num_labels=2)
    with pytest.raises(CheckpointError, match="num_labels"):
        FlaxAlbertForSequenceClassification.from_pretrained(head_folder, num_labels=5)
    refit, info = FlaxAlbertForSequenceClassification.from_pretrained(
        head_folder, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True
    )
    assert refit.classifier.kernel.shape == (32, 5) and len(info.mismatched_keys) == 2
    torch_only = tmp_path / "bin"
    albert.AlbertModel(tiny_config(vocab_size=VOCAB)).save_pretrained(torch_only, safe_serialization=False)
    with pytest.raises(CheckpointError, match="torch"):
        FlaxAlbertModel.from_pretrained(torch_only)


def test_jit_equals_eager_and_masked_logits_select_rows(tmp_path):
    _, folder = torch_folder(tmp_path, "AlbertForPreTraining")
    model = MODEL_CLASSES["FlaxAlbertForPreTraining"].from_pretrained(folder)
    inputs = to_jax(make_inputs("AlbertForPreTraining", 2))
    eager = model(**inputs)
    jitted = nnx.jit(lambda model, batch: model(**batch))(model, inputs)
    for key in ("loss", "prediction_logits", "sop_logits"):
        assert float(jnp.abs(jitted[key] - eager[key]).max()) <= 1e-6, key
    selected = inputs["labels"] != -100
    hidden = model.albert(**{k: v for k, v in inputs.items() if k not in ("labels", "sentence_order_label")})
    rows = model.masked_logits(hidden.last_hidden_state, selected)
    assert float(jnp.abs(rows - eager.prediction_logits[selected]).max()) <= 1e-6
    fixed = nnx.jit(lambda m, h, s: m.masked_logits(h, s, size=6))(model, hidden.last_hidden_state, selected)
    assert fixed.shape == (6, VOCAB) and float(jnp.abs(fixed[: rows.shape[0]] - rows).max()) <= 1e-6


def test_bf16_runs_and_stays_close_to_fp32(tmp_path):
    _, folder = torch_folder(tmp_path, "AlbertModel")
    inputs = to_jax(make_inputs("AlbertModel", 2))
    full = FlaxAlbertModel.from_pretrained(folder)(**inputs).last_hidden_state
    for kwargs in ({"dtype": "bf16"}, {"dtype": jnp.bfloat16, "param_dtype": jnp.float32}):
        model = FlaxAlbertModel.from_pretrained(folder, **kwargs)
        expected_params = jnp.dtype(kwargs.get("param_dtype", jnp.bfloat16))
        assert {p.variable.get_value().dtype for p in named_parameters(model).values()} == {expected_params}
        states = nnx.jit(lambda model, batch: model(**batch).last_hidden_state)(model, inputs)
        assert states.dtype == jnp.bfloat16
        # bf16 keeps 8 mantissa bits: on LayerNorm-scaled states (about unit size) after 4
        # layers, a few hundredths; 0.1 leaves room and still catches a wrong computation.
        assert float(jnp.abs(states.astype(jnp.float32) - full).max()) <= 0.1


def test_dropout_follows_train_and_eval_and_deterministic():
    model = FlaxAlbertModel(tiny_config(vocab_size=VOCAB, hidden_dropout_prob=0.3), rngs=nnx.Rngs(0))
    inputs = to_jax(make_inputs("AlbertModel", 2))
    first, second = model(**inputs).last_hidden_state, model(**inputs).last_hidden_state  # training mode
    assert float(jnp.abs(first - second).max()) > 1e-3
    fixed = model(**inputs, deterministic=True).last_hidden_state
    model.eval()
    assert float(jnp.abs(model(**inputs).last_hidden_state - fixed).max()) == 0.0


def test_an_optax_training_loop_lowers_the_loss():
    model = FlaxAlbertForSequenceClassification(tiny_config(vocab_size=VOCAB), rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adamw(3e-3), wrt=nnx.Param)
    inputs = make_inputs("AlbertModel", 2)
    batch = {**to_jax(inputs), "labels": jnp.array([0, 1, 1])}

    @nnx.jit
    def train_step(model, optimizer, batch):
        loss, grads = nnx.value_and_grad(lambda model: model(**batch).loss)(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(train_step(model, optimizer, batch)) for _ in range(10)]
    assert losses[-1] < 0.5 * losses[0], losses


def run_python(code: str, **environment: str) -> dict:
    """Run ``code`` in a fresh interpreter; its last line of output, parsed as JSON."""
    finished = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        timeout=300, env={**os.environ, "JAX_PLATFORMS": "cpu", **environment},
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_a_batch_sharded_over_two_devices_gives_the_same_logits(tmp_path):
    _, folder = torch_folder(tmp_path, "AlbertForSequenceClassification", num_labels=3)
    inputs = {name: tensor.numpy().tolist() for name, tensor in make_inputs("AlbertModel", 2, seed=1).items()}
    inputs = {name: rows + rows[:1] for name, rows in inputs.items()}  # 4 rows: 2 per device
    found = run_python(f"""
        import json
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import NamedSharding, PartitionSpec
        from flax import nnx
        from albert.flax import FlaxAlbertForSequenceClassification

        model = FlaxAlbertForSequenceClassification.from_pretrained({str(folder)!r})
        batch = {{name: np.array(rows) for name, rows in {inputs!r}.items()}}
        forward = nnx.jit(lambda model, batch: model(**batch).logits)
        want = forward(model, batch)
        # Auto axes: jit propagates the batch's sharding through the model (explicit axes would
        # ask every gather for an out_sharding).
        mesh = jax.make_mesh((2,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        sharded = jax.device_put(batch, NamedSharding(mesh, PartitionSpec("data")))
        graphdef, state = nnx.split(model)
        model = nnx.merge(graphdef, jax.device_put(state, NamedSharding(mesh, PartitionSpec())))
        got = forward(model, sharded)
        print(json.dumps({{
            "devices": jax.device_count(),
            "input_shards": len(sharded["input_ids"].addressable_shards),
            "output_devices": len(got.sharding.device_set),
            "max_abs_diff": float(jnp.abs(got - want).max()),
        }}))
    """, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert found["devices"] == 2 and found["input_shards"] == 2 and found["output_devices"] == 2
    assert found["max_abs_diff"] <= 1e-6


def test_albert_flax_loads_and_runs_without_torch(tmp_path):
    # albert's own __init__ imports the torch models only when they are named
    _, folder = torch_folder(tmp_path, "AlbertForMaskedLM")
    found = run_python(f"""
        import json, sys
        import jax.numpy as jnp
        from albert.flax import FlaxAlbertForMaskedLM

        model = FlaxAlbertForMaskedLM.from_pretrained({str(folder)!r})
        logits = model(input_ids=jnp.array([[2, 40, 41, 3]])).logits
        model.save_pretrained({str(tmp_path / "again")!r})
        print(json.dumps({{"shape": list(logits.shape), "torch": "torch" in sys.modules,
                          "transformers": "transformers" in sys.modules}}))
    """)
    assert found == {"shape": [1, 4, VOCAB], "torch": False, "transformers": False}
