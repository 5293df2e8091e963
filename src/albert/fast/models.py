"""Switching a model onto the fast path: same object, same parameters, same forward signature.

:func:`accelerate` gives a model's base encoder (and the masked-LM / pretraining heads, which
dominate their cost) forward passes that run on the real tokens only. Everything else about the
model is untouched: its state_dict, ``save_pretrained``, optimizers already holding its
parameters. Calls the packed path cannot answer exactly (``output_attentions``, relative
positions, 3-D masks, left padding under a pooler) run on the reference forward instead.

Differences from the reference, by design:
- ``last_hidden_state`` / ``hidden_states`` / MLM ``logits`` hold zeros at padding positions
  (the reference fills them with values no one should read).
- ``AlbertForPreTraining`` given ``labels`` returns ``prediction_logits`` of shape (M, V) for the
  M positions whose label is not -100, row by row, not (B, S, V): the vocabulary projection is
  most of pretraining's time and memory, and only those positions enter the loss.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any, TypeVar

import torch
import torch.nn.functional as F

from ..modeling import (
    IGNORE_INDEX,
    AlbertForMaskedLM,
    AlbertForPreTraining,
    AlbertModel,
    AlbertPreTrainedModel,
)
from ..outputs import AlbertForPreTrainingOutput, BaseModelOutputWithPooling, MaskedLMOutput
from .attention import _INTERNAL_BACKENDS, BACKENDS
from .encoder import (
    COMPILED_OUTPUT_BLOCK,
    GRAPHED_ENCODER,
    ONNX_GRAPH,
    encode_packed,
    first_token_states,
    reference_reason,
)
from .padding import unpack

logger = logging.getLogger("albert")

ModelT = TypeVar("ModelT", bound=AlbertPreTrainedModel)

_FAST_ATTRIBUTE = "fast_attention_backend"


def _reference(model: torch.nn.Module, **inputs: Any) -> Any:
    """The class's own (padded) forward, bypassing the instance's fast one."""
    return type(model).forward(model, **inputs)


def _fast_model_output(base: AlbertModel, inputs: dict[str, Any]) -> tuple[Any, ...] | None:
    """Encode on the fast path, or None when the reference forward must answer this call."""
    reason = reference_reason(
        base, inputs["input_ids"], inputs["attention_mask"], inputs["inputs_embeds"],
        inputs["position_ids"], inputs["output_attentions"],
    )
    mask = inputs["attention_mask"]
    backend = getattr(base, _FAST_ATTRIBUTE, "auto")
    # When tracing for ONNX ("export") no branch may read the data: the exported graph assumes
    # what the tokenizer gives (right padding, a real token first in every row).
    if reason is None and backend != "export" and mask is not None:
        keep = mask.bool()
        any_real, all_start_real = torch.stack([keep.any(), keep[:, 0].all()]).tolist()  # one host sync
        if not any_real:
            reason = "no real token in the batch"
        elif base.pooler is not None and not all_start_real:
            reason = "a row starts with padding and the pooler reads position 0"
    if reason is not None:
        logger.debug("albert.fast: reference forward (%s)", reason)
        return None
    layout, packed, all_hidden = encode_packed(
        base, inputs["input_ids"], mask, inputs["token_type_ids"], inputs["position_ids"],
        inputs["inputs_embeds"], bool(inputs["output_hidden_states"]), backend,
    )
    pooled = None
    if base.pooler is not None:
        pooled = base.pooler_activation(base.pooler(first_token_states(packed, layout)))
    hidden_states = tuple(unpack(h, layout) for h in all_hidden) if all_hidden is not None else None
    return layout, packed, pooled, hidden_states


def fast_model_forward(
    self: AlbertModel,
    input_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    output_attentions: bool | None = None,
    output_hidden_states: bool | None = None,
    return_dict: bool | None = None,
) -> BaseModelOutputWithPooling | tuple:
    """:meth:`AlbertModel.forward` on the real tokens only (zeros at padding positions)."""
    inputs = dict(
        input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
        position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
        output_hidden_states=output_hidden_states,
    )
    encoded = _fast_model_output(self, inputs)
    if encoded is None:
        return _reference(self, return_dict=return_dict, **inputs)
    layout, packed, pooled, hidden_states = encoded
    output = BaseModelOutputWithPooling(
        last_hidden_state=unpack(packed, layout), pooler_output=pooled, hidden_states=hidden_states, attentions=None
    )
    return output if return_dict is not False else output.to_tuple()


def fast_masked_lm_forward(
    self: AlbertForMaskedLM,
    input_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    output_attentions: bool | None = None,
    output_hidden_states: bool | None = None,
    return_dict: bool | None = None,
) -> MaskedLMOutput | tuple:
    """:meth:`AlbertForMaskedLM.forward` scoring the vocabulary at real tokens only."""
    inputs = dict(
        input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
        position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
        output_hidden_states=output_hidden_states,
    )
    encoded = _fast_model_output(self.albert, inputs)
    if encoded is None:
        return _reference(self, labels=labels, return_dict=return_dict, **inputs)
    layout, packed, _, hidden_states = encoded
    logits = unpack(self.predictions(packed), layout)  # (B, S, V)
    loss = None
    if labels is not None:
        loss = F.cross_entropy(logits.flatten(0, 1).float(), labels.reshape(-1), ignore_index=IGNORE_INDEX)
    output = MaskedLMOutput(loss=loss, logits=logits, hidden_states=hidden_states, attentions=None)
    return output if return_dict is not False else output.to_tuple()


def fast_pretraining_forward(
    self: AlbertForPreTraining,
    input_ids: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
    position_ids: torch.Tensor | None = None,
    inputs_embeds: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    sentence_order_label: torch.Tensor | None = None,
    output_attentions: bool | None = None,
    output_hidden_states: bool | None = None,
    return_dict: bool | None = None,
) -> AlbertForPreTrainingOutput | tuple:
    """:meth:`AlbertForPreTraining.forward` with vocabulary logits only where they are needed:
    at the masked positions when ``labels`` are given (then ``prediction_logits`` is (M, V)),
    else at every real token."""
    inputs = dict(
        input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
        position_ids=position_ids, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
        output_hidden_states=output_hidden_states,
    )
    encoded = _fast_model_output(self.albert, inputs)
    if encoded is None:
        return _reference(self, labels=labels, sentence_order_label=sentence_order_label, return_dict=return_dict, **inputs)
    layout, packed, pooled, hidden_states = encoded
    sop_logits = self.sop_classifier(pooled)  # (B, 2)
    loss = None
    if labels is not None:
        masked = labels.reshape(-1) != IGNORE_INDEX
        if not layout.is_dense:
            # Labels are laid out like the padded batch; a label on a padding token cannot count.
            masked = masked & attention_mask.reshape(-1).bool()
        masked_positions = torch.nonzero(masked, as_tuple=False).flatten()  # into the (B * S) grid
        states = unpack(packed, layout).flatten(0, 1).index_select(0, masked_positions)  # (M, H)
        prediction_logits = self.predictions(states)  # (M, V)
        if sentence_order_label is not None:
            masked_labels = labels.reshape(-1).index_select(0, masked_positions)
            mlm_loss = F.cross_entropy(prediction_logits.float(), masked_labels)
            sop_loss = F.cross_entropy(sop_logits.float().view(-1, sop_logits.shape[-1]), sentence_order_label.view(-1))
            loss = mlm_loss + sop_loss
    else:
        prediction_logits = unpack(self.predictions(packed), layout)  # (B, S, V)
    output = AlbertForPreTrainingOutput(
        loss=loss, prediction_logits=prediction_logits, sop_logits=sop_logits,
        hidden_states=hidden_states, attentions=None,
    )
    return output if return_dict is not False else output.to_tuple()


def _base_of(model: torch.nn.Module) -> AlbertModel:
    base = model if isinstance(model, AlbertModel) else getattr(model, "albert", None)
    if not isinstance(base, AlbertModel):
        raise TypeError(
            f"accelerate() takes an albert model (AlbertModel or one of the AlbertFor* heads), got {type(model).__name__}"
        )
    return base


def accelerate(model: ModelT, attention_backend: str = "auto") -> ModelT:
    """Switch ``model`` onto the unpadded fast path, in place, and return it.

    Args:
        model: an ``AlbertModel`` or any ``AlbertFor*`` head from :mod:`albert.modeling`.
        attention_backend: ``"auto"`` (the fastest kernel for the device and dtype), or one of
            ``"varlen"``, ``"nested"``, ``"flex"``, ``"padded"`` (see :mod:`albert.fast.attention`).

    Returns:
        The same model object: same parameters, state_dict and ``save_pretrained``; its forward
        passes skip padding. :func:`decelerate` switches it back.

    Raises:
        TypeError: ``model`` is not an albert model.
        ValueError: unknown ``attention_backend``.
    """
    if attention_backend not in BACKENDS + _INTERNAL_BACKENDS:
        raise ValueError(f"unknown attention_backend {attention_backend!r}; choose one of: {', '.join(BACKENDS)}")
    base = _base_of(model)
    # Instance attributes shadow the class's forward; nn.Module.__call__ looks them up on the instance.
    # A partial (not a bound method) so the model still pickles (torch.save(model)) and
    # inspect.signature still shows the keyword arguments.
    base.forward = functools.partial(fast_model_forward, base)
    setattr(base, _FAST_ATTRIBUTE, attention_backend)
    if isinstance(model, AlbertForPreTraining):
        model.forward = functools.partial(fast_pretraining_forward, model)
    elif isinstance(model, AlbertForMaskedLM):
        model.forward = functools.partial(fast_masked_lm_forward, model)
    return model


def decelerate(model: ModelT) -> ModelT:
    """Undo :func:`accelerate` (and compiled layers, CUDA graphs, an ONNX encoder): the model
    runs its reference forward again."""
    base = _base_of(model)
    for module in (model, base):
        module.__dict__.pop("forward", None)
    for attribute in (_FAST_ATTRIBUTE, COMPILED_OUTPUT_BLOCK, GRAPHED_ENCODER, ONNX_GRAPH):
        base.__dict__.pop(attribute, None)
    return model


def is_accelerated(model: torch.nn.Module) -> bool:
    """Whether :func:`accelerate` switched this model onto the fast path."""
    try:
        return _FAST_ATTRIBUTE in _base_of(model).__dict__
    except TypeError:
        return False


def from_pretrained(
    model_class: type[ModelT], name_or_path: str | os.PathLike, *, attention_backend: str = "auto", **kwargs: Any
) -> ModelT:
    """``model_class.from_pretrained(name_or_path, **kwargs)`` on the fast path.

    Example: ``albert.fast.from_pretrained(AlbertModel, "albert-base-v2", dtype="bf16", device="cuda")``.
    """
    loaded = model_class.from_pretrained(name_or_path, **kwargs)
    if isinstance(loaded, tuple):  # output_loading_info=True
        return (accelerate(loaded[0], attention_backend), *loaded[1:])  # type: ignore[return-value]
    return accelerate(loaded, attention_backend)
