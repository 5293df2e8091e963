"""The model's back-ends as an ordered list (``AlbertModel.backends``), the call described once,
and the attention kernels as a registry (``albert.kernels.attention.ATTENTION_KERNELS``)."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from support.tiny import tiny_config
from test_import_graph import imported_by, module_names

from albert import AlbertModel
from albert.errors import OptionError
from albert.fast import accelerate, decelerate
from albert.fast.graphs import use_cuda_graphs
from albert.kernels.attention import ATTENTION_KERNELS, AttentionKernel, KernelQuery, padded_attention


def _batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    mask = (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]).long()
    return torch.randint(5, 400, (len(lengths), width), generator=generator) * mask, mask


def _model() -> AlbertModel:
    torch.manual_seed(0)
    return AlbertModel(tiny_config()).eval()


# -- the ordered list -----------------------------------------------------------------------------

def test_accelerators_put_their_back_end_in_front_and_decelerate_restores_the_default():
    model = _model()
    assert [backend.name for backend in model.backends] == ["packed", "padded"]
    use_cuda_graphs(model, capture=False)
    assert [backend.name for backend in model.backends] == ["cuda_graphs", "packed", "padded"]
    assert [backend.name for backend in copy.deepcopy(model).backends] == ["cuda_graphs", "packed", "padded"]
    decelerate(model)
    assert [backend.name for backend in model.backends] == ["packed", "padded"]
    with pytest.raises(OptionError, match="padded"):
        model.remove_backend("padded")


def test_explain_backend_names_the_one_that_runs_and_why_the_others_do_not():
    model = _model()
    ids, mask = _batch([6, 3])
    assert model.explain_backend(ids, mask) == [("packed", "attn_implementation is 'sdpa', not 'packed'"), ("padded", None)]
    accelerate(model)
    assert model.explain_backend(ids, mask)[0] == ("packed", None)
    reasons = dict(model.explain_backend(ids, mask, output_attentions=True))
    assert "attention probabilities" in reasons["packed"] and reasons["padded"] is None
    assert "starts with padding" in dict(model.explain_backend(ids, mask.flip(1)))["packed"]
    use_cuda_graphs(model)  # capture=True on a CPU model
    with torch.no_grad():
        assert "not on CUDA" in dict(model.explain_backend(ids, mask))["cuda_graphs"]
    assert "gradients" in dict(model.explain_backend(ids, mask))["cuda_graphs"]


def test_the_debug_log_says_which_back_end_answered(caplog):
    model = accelerate(_model())
    ids, mask = _batch([6, 3])
    with caplog.at_level(logging.DEBUG, logger="albert"), torch.no_grad():
        model(ids, mask, output_attentions=True)
    assert "padded answers this call" in caplog.text and "not packed: attention probabilities" in caplog.text


def test_a_packed_call_reads_the_host_once_and_a_padded_call_never(monkeypatch):
    reads = []
    for name in ("tolist", "item", "__bool__", "__int__"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name):
            reads.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, name, counted)
    model = _model()
    ids, mask = _batch([6, 3, 1])
    with torch.no_grad():
        model(ids, mask)
        assert reads == []
        accelerate(model)(ids, mask)
    assert reads == ["tolist"]


# -- the kernel registry --------------------------------------------------------------------------

def test_set_attn_implementation_checks_the_kernel_against_the_registry():
    model = _model()
    with pytest.raises(OptionError, match=r"'fastest'.*auto, varlen, nested, flex, padded"):
        model.set_attn_implementation("packed", "fastest")
    model.set_attn_implementation("packed", "export")  # internal kernels are accepted, not listed
    assert "export" not in ATTENTION_KERNELS.names()


@pytest.fixture
def registered():
    """Registers kernels for one test and removes them (with their failures) afterwards."""
    names = []

    def register(kernel: AttentionKernel) -> AttentionKernel:
        ATTENTION_KERNELS.register(kernel)
        names.append(kernel.name)
        return kernel

    yield register
    for name in names:
        ATTENTION_KERNELS.remove(name)


def test_a_registered_kernel_runs_the_packed_model(registered):
    calls = []

    def counting(plan, qkv):
        calls.append(qkv.shape)
        return padded_attention(plan, qkv)

    registered(AttentionKernel("counting", counting))
    reference = _model()
    model = copy.deepcopy(reference)
    model.set_attn_implementation("packed", "counting")
    ids, mask = _batch([6, 3])
    with torch.no_grad():
        got, want = model(ids, mask).last_hidden_state, reference(ids, mask).last_hidden_state
    assert len(calls) == reference.config.num_hidden_layers * reference.config.inner_group_num
    real = mask.bool()
    torch.testing.assert_close(got[real], want[real], atol=1e-5, rtol=0)


def test_a_kernel_that_fails_keeps_its_own_reason_and_auto_skips_it(registered):
    def failing(plan, qkv):
        raise RuntimeError("no kernel image is available for execution on the device")

    registered(AttentionKernel("failing", failing, auto_devices=None))
    registered(AttentionKernel("later", padded_attention, auto_devices=None))
    query = KernelQuery("cpu", torch.float32, 8, 0.0)
    assert ATTENTION_KERNELS.resolve("auto", query)[0] == "padded"  # registered after "padded"
    model = accelerate(_model(), "failing")
    ids, mask = _batch([6, 3])
    with torch.no_grad(), pytest.warns(UserWarning, match="'failing' failed .*no kernel image"):
        model(ids, mask)
    assert "no kernel image" in ATTENTION_KERNELS.why_not("failing", query)
    assert ATTENTION_KERNELS.why_not("later", query) is None and ATTENTION_KERNELS.why_not("padded", query) is None
    with torch.no_grad(), pytest.warns(UserWarning, match="cannot run here .*failed earlier"):
        model(ids, mask)  # asked for by name again: says why, runs "padded"


def test_varlen_says_why_it_cannot_run_here():
    reason = ATTENTION_KERNELS.why_not("varlen", KernelQuery("cpu", torch.float32, 64, 0.0))
    assert reason is not None and ("CUDA" in reason or "varlen_attn" in reason)
    assert "dropout" in ATTENTION_KERNELS.why_not("varlen", KernelQuery("cuda", torch.bfloat16, 64, 0.1))


# -- layers apart from accelerators ----------------------------------------------------------------

def test_the_model_and_its_kernels_never_import_the_accelerators():
    modules = module_names()
    for name in ("albert.modeling", "albert.backends", "albert.kernels", "albert.kernels.attention", "albert.kernels.padding"):
        reached = {target for target in imported_by(name, modules[name], modules) if target.startswith("albert.fast")}
        assert not reached, f"{name} imports {reached}"
    for name in ("albert.kernels.attention", "albert.kernels.padding"):
        assert not imported_by(name, modules[name], modules) & {"albert.modeling", "albert.backends"}
