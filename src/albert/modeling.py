"""The ALBERT network (Lan et al., 2019, "ALBERT: A Lite BERT for Self-supervised Learning of
Language Representations") and every task head.

Reads top to bottom: embeddings (V x E, then E -> H), self-attention, one transformer layer, a
group of layers, the encoder that reuses groups across depth, the base model, then the heads.
Module and parameter names follow transformers' ``modeling_albert.py`` so checkpoints move both
ways unchanged.

Shapes: B batch, S sequence, E embedding size, H hidden size, N heads, D head size (H / N).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from . import head_rules
from .backends import EncoderBackend, EncoderCall, PackedTokens, PaddedBackend, default_backends
from .checkpoint import PreTrainedMixin
from .config import AlbertConfig
from .errors import OptionError, OptionTypeError
from .head_rules import HEADS, IGNORE_INDEX, HeadSpec, ModelInputs
from .kernels.attention import ATTENTION_KERNELS, AttentionPlan
from .kernels.padding import PackedLayout, pack, unpack
from .outputs import (  # the heads' outputs are named in head_rules.HEADS; importable from here as before
    AlbertForPreTrainingOutput,
    BaseModelOutputWithPooling,
    MaskedLMOutput,  # noqa: F401
    MultipleChoiceModelOutput,  # noqa: F401
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,  # noqa: F401
    TokenClassifierOutput,  # noqa: F401
)

logger = logging.getLogger("albert")

#: ``attn_implementation`` values, as transformers names them; "packed" is ours: every per-token
#: layer runs on the real tokens only and attention on a variable-length kernel (MosaicBERT's
#: unpadding; Portes et al., 2023). See ``AlbertModel.forward``.
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "packed")


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    # The tanh approximation of GELU used by BERT's TF code and by ALBERT v2 ("gelu_new").
    return F.gelu(x, approximate="tanh")


def _gelu_fast(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


def _quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": _gelu_new,
    "gelu_fast": _gelu_fast,
    "quick_gelu": _quick_gelu,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "mish": F.mish,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "linear": lambda x: x,
}


def get_activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation named in a config (``hidden_act``), with a clear error for unknown names."""
    return head_rules.lookup_activation(ACTIVATIONS, name)


def attention_bias(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """Turn a 0/1 padding mask into the additive bias attention adds to its scores.

    Takes a (B, S) mask over keys, or a (B, S, S) / (B, 1, S, S) mask over query-key pairs, with
    1 (or True) where attention is allowed; returns a float bias that broadcasts over
    (B, N, S, S), with the dtype's most negative value where attention is barred (as transformers
    does, so a fully masked row stays finite).
    """
    if attention_mask is None:
        return None
    keep = attention_mask[head_rules.attention_mask_index(attention_mask)].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min


class AlbertEmbeddings(nn.Module):
    """Token, position and segment embeddings in the small embedding space E (paper section 3.1:
    factorized embedding parameterization); the E -> H projection lives in the encoder."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.embedding_size)
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.position_embedding_type = config.position_embedding_type

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)  # (B, S, E)
        batch_size, seq_length = inputs_embeds.shape[:2]
        device = inputs_embeds.device
        if token_type_ids is None:
            token_type_ids = torch.zeros(batch_size, seq_length, dtype=torch.long, device=device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        if self.position_embedding_type == "absolute":
            if position_ids is None:
                position_ids = torch.arange(seq_length, device=device)[None, :]
            embeddings = embeddings + self.position_embeddings(position_ids)
        return self.dropout(self.LayerNorm(embeddings))


@dataclass(frozen=True)
class PaddedAttention:
    """How a padded (B, S, H) batch attends: the additive padding ``bias`` (None: no padding)
    and whether the scores are computed explicitly (``eager``) instead of through SDPA."""

    bias: torch.Tensor | None
    eager: bool = False


#: What a layer is told about attention: a padded batch's bias, or the plan of a packed (T, H) run.
AttentionInputs = PaddedAttention | AttentionPlan


class AlbertAttention(nn.Module):
    """Multi-head self-attention over a padded batch or over packed tokens.

    ``forward`` returns the context (the heads' outputs concatenated); the output projection and
    its LayerNorm live here for transformers' weight names and are applied by
    :meth:`AlbertLayer.output_block`, so that everything after the kernel is one region.
    """

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.head_dim
        hidden = config.hidden_size
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.attention_dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.position_embedding_type = config.position_embedding_type
        if self.position_embedding_type != "absolute":
            # Shaw et al. (2018) relative positions, as transformers offers them for ALBERT.
            self.max_position_embeddings = config.max_position_embeddings
            self.distance_embedding = nn.Embedding(2 * config.max_position_embeddings - 1, self.attention_head_size)
        # A module computing the fused QKV projection instead of fused_qkv() (precision="int8" puts
        # its quantised (3H x H) matrix here); None: the packed path concatenates the three.
        self.qkv_projection: nn.Module | None = None
        # (stamp, weight, bias) of the fused QKV projection in inference; see fused_qkv().
        self._fused_qkv_cache: (
            tuple[tuple[tuple[int, int, torch.dtype, torch.device], ...], torch.Tensor, torch.Tensor] | None
        ) = None

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch_size, seq_length, _ = x.shape
        return x.view(batch_size, seq_length, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def forward(
        self, hidden_states: torch.Tensor, attention: AttentionInputs, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, S, H) with a :class:`PaddedAttention`, or packed (T, H) with an ``AttentionPlan``
        -> the context of the same shape, and the attention probabilities when computed."""
        if isinstance(attention, AttentionPlan):
            if self.qkv_projection is not None:
                qkv = self.qkv_projection(hidden_states)
            else:
                weight, bias = self.fused_qkv()
                qkv = F.linear(hidden_states, weight, bias)
            qkv = qkv.view(-1, 3, self.num_attention_heads, self.attention_head_size)
            return attention(qkv).reshape(hidden_states.shape), None  # (T, 3, N, D) -> (T, H)

        query = self._split_heads(self.query(hidden_states))  # (B, N, S, D)
        key = self._split_heads(self.key(hidden_states))
        value = self._split_heads(self.value(hidden_states))
        probs = None
        if attention.eager or output_attentions or self.position_embedding_type != "absolute":
            scores = query @ key.transpose(-1, -2) / math.sqrt(self.attention_head_size)  # (B, N, S, S)
            if self.position_embedding_type != "absolute":
                scores = scores + self._relative_scores(query, key)
            if attention.bias is not None:
                scores = scores + attention.bias
            probs = scores.softmax(dim=-1)
            context = self.attention_dropout(probs) @ value
        else:
            context = F.scaled_dot_product_attention(
                query,
                key,
                value,
                attn_mask=attention.bias,
                dropout_p=self.attention_dropout.p if self.training else 0.0,
            )
        return context.transpose(1, 2).flatten(2), probs  # (B, S, H)

    def fused_qkv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (3H, H) weight and (3H,) bias of query, key and value stacked, for one matmul.

        While gradients flow the three are concatenated on every call, so autograd reaches the
        original parameters. In inference the stack is cached and rebuilt when any of the six
        tensors is replaced or changed in place (tracked by storage and version counter), so
        there is no copy to keep in sync by hand.
        """
        parts = (self.query, self.key, self.value)
        tensors = [p.weight for p in parts] + [p.bias for p in parts]
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors) or torch.compiler.is_compiling():
            return torch.cat(tensors[:3]), torch.cat(tensors[3:])
        stamp = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)
        if self._fused_qkv_cache is None or self._fused_qkv_cache[0] != stamp:
            with torch.no_grad():
                self._fused_qkv_cache = (stamp, torch.cat(tensors[:3]), torch.cat(tensors[3:]))
        return self._fused_qkv_cache[1], self._fused_qkv_cache[2]

    def _relative_scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        seq_length = query.shape[2]
        positions = torch.arange(seq_length, device=query.device)
        distance = positions[:, None] - positions[None, :]
        table = self.distance_embedding(distance + self.max_position_embeddings - 1).to(query.dtype)  # (S, S, D)
        scores = torch.einsum("bhld,lrd->bhlr", query, table)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + torch.einsum("bhrd,lrd->bhlr", key, table)
        return scores


#: Everything after attention in one layer: (layer, states, context) -> states.
OutputBlock = Callable[["AlbertLayer", torch.Tensor, torch.Tensor], torch.Tensor]


class AlbertLayer(nn.Module):
    """One transformer layer: attention, then the feed-forward block with residual and LayerNorm."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.attention = AlbertAttention(config)
        self.ffn = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.full_layer_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.activation = get_activation(config.hidden_act)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def output_block(self, hidden_states: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """Output projection, residual, LayerNorm, the feed-forward block, residual, LayerNorm.

        Kept apart from attention so ``torch.compile`` can fuse it without tracing the kernel
        choice (:func:`albert.fast.compile.compile_fast`).
        """
        attention = self.attention
        attended = attention.LayerNorm(hidden_states + attention.output_dropout(attention.dense(context)))
        ffn_out = self.dropout(self.ffn_output(self.activation(self.ffn(attended))))
        return self.full_layer_layer_norm(ffn_out + attended)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention: AttentionInputs,
        output_attentions: bool = False,
        output_block: OutputBlock | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        context, probs = self.attention(hidden_states, attention, output_attentions)
        return (output_block or AlbertLayer.output_block)(self, hidden_states, context), probs


class AlbertLayerGroup(nn.Module):
    """``inner_group_num`` distinct layers applied in sequence: one unit of weight sharing."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.albert_layers = nn.ModuleList([AlbertLayer(config) for _ in range(config.inner_group_num)])

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention: AttentionInputs,
        output_attentions: bool = False,
        output_block: OutputBlock | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        attentions = []
        for layer in self.albert_layers:
            hidden_states, probs = layer(hidden_states, attention, output_attentions, output_block)
            if output_attentions:
                attentions.append(probs)
        return hidden_states, attentions


class AlbertTransformer(nn.Module):
    """Projects E -> H, then runs ``num_hidden_layers`` steps over ``num_hidden_groups`` groups.

    Cross-layer parameter sharing (paper section 3.1): step ``i`` uses group
    ``i // (num_hidden_layers / num_hidden_groups)``, so consecutive layers share a group, as in
    google-research/albert and transformers. The E -> H mapping always exists (as in
    transformers), even when E == H, where the original TF code skips it. The same code runs a
    padded (B, S, E) batch and packed (T, E) tokens; only the attention inputs differ.
    """

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding_hidden_mapping_in = nn.Linear(config.embedding_size, config.hidden_size)
        self.albert_layer_groups = nn.ModuleList([AlbertLayerGroup(config) for _ in range(config.num_hidden_groups)])
        self.gradient_checkpointing = False
        #: Replaces :meth:`AlbertLayer.output_block` in every layer (a compiled version of it).
        self.output_block: OutputBlock | None = None

    def shared_layers(self) -> list[AlbertLayer]:
        """The distinct layers (every group's, in order) that the depth reuses: what holds the
        weights, for code that needs a layer's settings or its class."""
        # (ModuleList yields plain Modules: the groups and layers are the classes built in __init__)
        return [
            cast(AlbertLayer, layer)
            for group in self.albert_layer_groups
            for layer in cast(AlbertLayerGroup, group).albert_layers
        ]

    def group_of_layer(self, layer_index: int) -> int:
        """Which group's weights compute layer ``layer_index``."""
        return layer_index // self.config.layers_per_group

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention: AttentionInputs,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        hidden_states = self.embedding_hidden_mapping_in(hidden_states)  # (..., E) -> (..., H)
        all_hidden = [hidden_states] if output_hidden_states else None
        all_attentions: list[torch.Tensor] | None = [] if output_attentions else None
        for layer_index in range(self.config.num_hidden_layers):
            group = self.albert_layer_groups[self.group_of_layer(layer_index)]
            if self.gradient_checkpointing and self.training:
                hidden_states, attentions = torch.utils.checkpoint.checkpoint(
                    group, hidden_states, attention, output_attentions, self.output_block, use_reentrant=False
                )
            else:
                hidden_states, attentions = group(hidden_states, attention, output_attentions, self.output_block)
            if all_hidden is not None:
                all_hidden.append(hidden_states)
            if all_attentions is not None:
                all_attentions.extend(attentions)
        return (
            hidden_states,
            tuple(all_hidden) if all_hidden is not None else None,
            tuple(all_attentions) if all_attentions is not None else None,
        )


class AlbertPreTrainedModel(PreTrainedMixin, nn.Module):
    """Weight initialisation and checkpoint I/O shared by the base model and every head."""

    config_class = AlbertConfig
    base_model_prefix = "albert"

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        if not isinstance(config, AlbertConfig):
            raise OptionTypeError(f"expected an AlbertConfig, got {type(config).__name__}")
        config.validate()  # a field changed since the config was made is checked before any tensor exists
        self.config = config

    def post_init(self) -> None:
        """Initialise every weight (BERT's truncated-normal-free scheme, as transformers) and tie."""
        self.apply(self._init_module)
        self.tie_weights()

    def _init_module(self, module: nn.Module) -> None:
        for name, parameter in module.named_parameters(recurse=False):
            if parameter.is_meta:
                continue  # built for from_pretrained: weights come from the checkpoint
            self.init_parameter(module, name, parameter)

    @torch.no_grad()
    def init_parameter(self, module: nn.Module, name: str, parameter: nn.Parameter) -> None:
        """Initialise one parameter as transformers does: normal(0, initializer_range) for
        matrices and embeddings (zero at the padding row), ones for LayerNorm scales, zeros for
        biases."""
        if isinstance(module, nn.LayerNorm):
            parameter.fill_(1.0 if name == "weight" else 0.0)
        elif name == "weight" and isinstance(module, (nn.Linear, nn.Embedding)):
            parameter.normal_(mean=0.0, std=self.config.initializer_range)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                parameter[module.padding_idx].zero_()
        else:
            parameter.zero_()

    def tie_weights(self) -> None:
        """Heads with an MLM decoder share it with the word embeddings (overridden there)."""

    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.embeddings.word_embeddings

    def gradient_checkpointing_enable(self) -> None:
        """Recompute each layer's activations in the backward pass: ALBERT shares weights but not
        activations, so memory grows with depth; this trades compute for it."""
        self.base_model.encoder.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        self.base_model.encoder.gradient_checkpointing = False

    @property
    def base_model(self) -> AlbertModel:
        """The ``AlbertModel`` inside (the model itself for the bare encoder), as in transformers."""
        return cast(AlbertModel, getattr(self, self.base_model_prefix, self))

    @property
    def attn_implementation(self) -> str:
        """``"sdpa"`` (default), ``"eager"`` or ``"packed"``; see :meth:`set_attn_implementation`."""
        return self.base_model._attn_implementation

    @property
    def packed_kernel(self) -> str:
        """The attention kernel of the ``"packed"`` implementation (``"auto"`` by default)."""
        return self.base_model._packed_kernel

    def set_attn_implementation(self, attn_implementation: str, packed_kernel: str = "auto") -> None:
        """Choose how attention (and, for ``"packed"``, the whole encoder) runs.

        Args:
            attn_implementation: ``"sdpa"``: ``scaled_dot_product_attention`` on the padded batch;
                ``"eager"``: the scores computed explicitly (as transformers' "eager");
                ``"packed"``: embeddings, projections and feed-forward on the real tokens only,
                attention on a variable-length kernel. Same weights and the same numbers at real
                tokens; padding positions of ``last_hidden_state``, ``hidden_states`` and MLM
                logits hold zeros. Calls the packed path cannot answer exactly
                (``output_attentions``, relative positions, 3-D masks, left padding under a
                pooler) run as ``"sdpa"``.
            packed_kernel: the kernel of ``"packed"``: ``"auto"`` (the fastest for the device and
                dtype), ``"varlen"``, ``"nested"``, ``"flex"``, ``"padded"`` or any kernel
                registered in :data:`albert.kernels.attention.ATTENTION_KERNELS`.

        Raises:
            OptionError: an unknown implementation or kernel.
        """
        if attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise OptionError(
                f"unknown attn_implementation {attn_implementation!r}; choose one of: {', '.join(ATTN_IMPLEMENTATIONS)}"
            )
        ATTENTION_KERNELS.check(packed_kernel)
        base = self.base_model
        base._attn_implementation, base._packed_kernel = attn_implementation, packed_kernel

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype


def _full_ids(ids: torch.Tensor | None, batch_size: int, seq_len: int, fill: torch.Tensor) -> torch.Tensor:
    """Optional (S,), (1, S) or (B, S) ids broadcast to (B, S); ``fill`` when absent."""
    if ids is None:
        ids = fill
    return ids.expand(batch_size, seq_len) if ids.dim() < 2 or ids.shape[0] == 1 else ids


class AlbertModel(AlbertPreTrainedModel):
    """The bare encoder: token states ``last_hidden_state`` and the tanh ``pooler_output`` of
    the first ([CLS]) token.

    Attributes:
        backends: the ways to answer a call, tried in order (:mod:`albert.backends`): by default
            the packed encoder (when ``attn_implementation="packed"``), then the padded batch.
            Accelerators add theirs in front (:func:`albert.fast.onnx_encoder.use_onnx`,
            :func:`albert.fast.graphs.use_cuda_graphs`); :meth:`explain_backend` says which runs.
    """

    def __init__(self, config: AlbertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = AlbertEmbeddings(config)
        self.encoder = AlbertTransformer(config)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.pooler_activation = nn.Tanh() if add_pooling_layer else None
        self._attn_implementation, self._packed_kernel = "sdpa", "auto"
        self.backends: list[EncoderBackend] = default_backends()
        self.post_init()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple[Any, ...]:
        call = self.describe_call(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                                  output_attentions, output_hidden_states)
        skipped: list[tuple[str, str]] = []
        for backend in self.backends:
            reason = backend.supports(call)
            if reason is None:
                break
            skipped.append((backend.name, reason))
        else:  # only when someone emptied the list or put a refusing back-end last
            backend = PaddedBackend()
        if skipped and logger.isEnabledFor(logging.DEBUG):
            logger.debug("albert: %s answers this call; %s", backend.name, "; ".join(f"not {n}: {r}" for n, r in skipped))
        output = backend.run(self, call)
        return output if return_dict is not False else output.to_tuple()

    def describe_call(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
    ) -> EncoderCall:
        """The forward call, described once for the back-ends; reads nothing on the host.

        Raises:
            InputError: inputs no back-end can run (see :meth:`check_inputs`).
        """
        self.check_inputs(input_ids, inputs_embeds, position_ids)
        reference = input_ids if input_ids is not None else inputs_embeds
        assert reference is not None  # check_inputs refuses neither ids nor embeddings
        device = reference.device
        autocast = torch.is_autocast_enabled(device.type)
        attention = self.encoder.shared_layers()[0].attention
        grad_enabled = torch.is_grad_enabled()
        return EncoderCall(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions=bool(output_attentions), output_hidden_states=bool(output_hidden_states),
            batch_size=reference.shape[0], seq_len=reference.shape[1], device=device,
            dtype=torch.get_autocast_dtype(device.type) if autocast else self.dtype,
            attn_implementation=self._attn_implementation, packed_kernel=self._packed_kernel,
            head_dim=attention.attention_head_size,
            attention_dropout=attention.attention_dropout.p if self.training else 0.0,
            training=self.training, grad_enabled=grad_enabled,
            needs_grad=grad_enabled and any(p.requires_grad for p in self.parameters()),
            has_pooler=self.pooler is not None,
            relative_positions=self.config.position_embedding_type != "absolute",
        )

    def explain_backend(self, *args: Any, **inputs: Any) -> list[tuple[str, str | None]]:
        """Which back-end would answer this call, and why the others would not.

        Takes ``forward``'s inputs; returns ``(name, reason)`` for every back-end in order, with
        None as the reason of those that can answer: the first of them runs.
        """
        inputs.pop("return_dict", None)
        call = self.describe_call(*args, **inputs)
        return [(backend.name, backend.supports(call)) for backend in self.backends]

    def backend_named(self, name: str) -> EncoderBackend | None:
        """The back-end called ``name`` in :attr:`backends`, or None."""
        return next((backend for backend in self.backends if backend.name == name), None)

    def add_backend(self, backend: EncoderBackend, *, before: str | None = None) -> None:
        """Put ``backend`` in :attr:`backends`: in place of one with the same name, else in front
        of the one named ``before`` (None: in front of all)."""
        names = [existing.name for existing in self.backends]
        if backend.name in names:
            self.backends[names.index(backend.name)] = backend
        else:
            self.backends.insert(names.index(before) if before in names else 0, backend)

    def remove_backend(self, name: str) -> None:
        """Drop the back-end called ``name`` (if there is one); the padded batch cannot be dropped."""
        if name == PaddedBackend.name:
            raise OptionError("the 'padded' back-end answers every call and stays; remove the others")
        self.backends = [backend for backend in self.backends if backend.name != name]

    @property
    def cuda_graphs(self) -> Any:
        """The CUDA graphs back-end (:func:`albert.fast.graphs.use_cuda_graphs`), or None."""
        return self.backend_named("cuda_graphs")

    @cuda_graphs.setter
    def cuda_graphs(self, backend: EncoderBackend | None) -> None:
        if backend is None:
            self.remove_backend("cuda_graphs")
        else:
            self.add_backend(backend, before="packed")

    @property
    def onnx_encoder(self) -> Any:
        """The ONNX Runtime back-end (:func:`albert.fast.onnx_encoder.use_onnx`), or None."""
        return self.backend_named("onnx")

    @onnx_encoder.setter
    def onnx_encoder(self, backend: EncoderBackend | None) -> None:
        if backend is None:
            self.remove_backend("onnx")
        else:
            self.add_backend(backend)

    def check_inputs(
        self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None, position_ids: torch.Tensor | None
    ) -> None:
        """Refuse inputs no implementation can run, with what to do instead.

        Raises:
            InputError: both or neither of ids and embeddings, wrong ranks, a sequence longer
                than the position table.
        """
        head_rules.check_model_inputs(input_ids, inputs_embeds, position_ids, self.config.max_position_embeddings)

    def encode_padded(self, call: EncoderCall) -> BaseModelOutputWithPooling:
        """The reference path: every layer on the padded (B, S) batch."""
        embedding_output = self.embeddings(call.input_ids, call.token_type_ids, call.position_ids, call.inputs_embeds)
        attention = PaddedAttention(
            attention_bias(call.attention_mask, embedding_output.dtype), eager=call.attn_implementation == "eager"
        )
        sequence_output, hidden_states, attentions = self.encoder(
            embedding_output, attention, call.output_attentions, call.output_hidden_states
        )  # (B, S, H)
        return BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=self._pool(sequence_output[:, 0]),
            hidden_states=hidden_states,
            attentions=attentions,
        )

    def pack_inputs(self, call: EncoderCall) -> PackedTokens:
        """The call's inputs at its real tokens only, laid out as ``call.layout``."""
        layout = call.layout
        batch_size, seq_len, device = layout.batch_size, layout.seq_len, layout.cu_seqlens.device
        # Position ids are looked up in the padded grid, so packing keeps every token's position.
        positions = pack(_full_ids(call.position_ids, batch_size, seq_len, torch.arange(seq_len, device=device)), layout)
        zeros = torch.zeros(1, dtype=torch.long, device=device)
        segments = pack(_full_ids(call.token_type_ids, batch_size, seq_len, zeros), layout)
        packed_ids = None if call.input_ids is None else pack(call.input_ids, layout)  # (T,)
        embeds = None if call.inputs_embeds is None else pack(call.inputs_embeds, layout)  # (T, E)
        return PackedTokens(packed_ids, segments, positions, embeds, layout)

    def unpack_outputs(
        self, hidden: torch.Tensor, all_hidden: tuple[torch.Tensor, ...] | None, layout: PackedLayout
    ) -> BaseModelOutputWithPooling:
        """Packed (T, H) states back to the padded batch (zeros at padding), with the pooled [CLS]."""
        pooled = None
        if self.pooler is not None:  # the [CLS] state of each row: its first real token, (B, H)
            pooled = self._pool(hidden.index_select(0, layout.cu_seqlens[:-1].long()))
        return BaseModelOutputWithPooling(
            last_hidden_state=unpack(hidden, layout),
            pooler_output=pooled,
            hidden_states=None if all_hidden is None else tuple(unpack(h, layout) for h in all_hidden),
            attentions=None,
        )

    def encode_tokens(
        self,
        input_ids: torch.Tensor | None,
        token_type_ids: torch.Tensor,
        position_ids: torch.Tensor,
        layout: PackedLayout,
        kernel: str,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """The encoder on packed tokens ((T,) ids or (T, E) vectors, laid out as ``layout``):
        the final (T, H) states and, when asked, the states after the E -> H projection and
        after every layer. CUDA graphs record exactly this."""
        embedded = self.embeddings(
            input_ids=None if input_ids is None else input_ids[None],
            token_type_ids=token_type_ids[None],
            position_ids=position_ids[None],
            inputs_embeds=None if inputs_embeds is None else inputs_embeds[None],
        )[0]  # (T, E)
        first = self.encoder.shared_layers()[0].attention
        dropout_p = first.attention_dropout.p if self.training else 0.0
        device_type = embedded.device.type
        # The kernel sees the dtype the E -> H projection will produce (autocast's, under autocast).
        dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else embedded.dtype
        plan = AttentionPlan(layout, kernel, first.attention_head_size, dtype, dropout_p)
        hidden, all_hidden, _ = self.encoder(embedded, plan, False, output_hidden_states)
        return hidden, all_hidden

    def _pool(self, first_token_states: torch.Tensor) -> torch.Tensor | None:
        if self.pooler is None:
            return None
        assert self.pooler_activation is not None  # built together with the pooler
        return self.pooler_activation(self.pooler(first_token_states))


class TorchLosses:
    """The losses of :class:`albert.head_rules.LossFunctions` in torch, each in float32."""

    @staticmethod
    def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels, ignore_index=ignore_index)

    @staticmethod
    def mean_squared_error(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(predictions.float(), targets.float())

    @staticmethod
    def binary_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits.float(), targets.float())

    @staticmethod
    def is_integer(labels: torch.Tensor) -> bool:
        return labels.dtype in (torch.long, torch.int)  # as transformers: other integer dtypes are multi-label rows


def sequence_classification_loss(config: AlbertConfig, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Regression (MSE), single-label (cross-entropy) or multi-label (BCE) loss, chosen by
    ``config.problem_type`` or, when unset, inferred from num_labels and the labels' dtype
    (:func:`albert.head_rules.resolve_problem_type`; the config is left unchanged)."""
    return head_rules.sequence_classification_loss(TorchLosses(), config, logits, labels)


class AlbertMLMHead(nn.Module):
    """Maps H back to E, then scores the vocabulary with the (tied) word embeddings."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.embedding_size)
        self.activation = get_activation(config.hidden_act)
        self.LayerNorm = nn.LayerNorm(config.embedding_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.embedding_size, config.vocab_size)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.decoder.bias = self.bias

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.LayerNorm(self.activation(self.dense(hidden_states))))


class AlbertSOPHead(nn.Module):
    """Sentence-order prediction (paper section 3.1): are the two segments in their original order?"""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.dropout = nn.Dropout(head_rules.classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled_output: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(pooled_output))


Scores = dict[str, torch.Tensor]
Targets = dict[str, Any]


def _last_states(encoded: BaseModelOutputWithPooling) -> torch.Tensor:
    """The encoder's last states: every back-end sets them (the output class allows None, as transformers')."""
    assert encoded.last_hidden_state is not None
    return encoded.last_hidden_state


class AlbertHeadModel(AlbertPreTrainedModel):
    """A task head on the encoder. The forward is the same for every head (:meth:`run`: the
    inputs, the encoder call, the loss when every target is given, the output); a head declares
    what is its own: ``spec`` (its entry in :data:`albert.head_rules.HEADS`: output, targets,
    pooling, loss), its layers (:meth:`build_head`), its scores (:meth:`scores`) and its
    ``forward``, transformers' signature with its own targets (:class:`AlbertLabelsHeadModel` for
    the heads whose one target is ``labels``), so no head's ``forward`` overrides another's."""

    spec: ClassVar[HeadSpec]
    losses: ClassVar[TorchLosses] = TorchLosses()

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__(config)
        head_rules.check_head_config(self.spec.task, config)
        self.num_labels = config.num_labels
        self.albert = AlbertModel(config, add_pooling_layer=self.spec.add_pooling_layer)
        self.build_head(config)  # after the encoder: the same module order, names and random draws as ever
        self.post_init()

    def build_head(self, config: AlbertConfig) -> None:
        """Make the head's own layers (their names are the checkpoint's)."""
        raise NotImplementedError

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, targets: Targets) -> Scores:
        """The head's output fields but the loss, from the encoder's output."""
        raise NotImplementedError

    def loss(self, scores: Scores, inputs: ModelInputs, targets: Targets) -> torch.Tensor:
        """The loss, given every target (``spec.loss``)."""
        return self.spec.loss(self.losses, scores, targets, self.config)

    def run(
        self, inputs: ModelInputs, targets: Targets, output_attentions: bool | None,
        output_hidden_states: bool | None, return_dict: bool | None,
    ) -> Any:
        """The forward of every head: encoder, scores, loss, output."""
        encoder_inputs = head_rules.flatten_choices(inputs) if self.spec.choices else inputs
        encoded = self.albert(
            **encoder_inputs._asdict(), output_attentions=output_attentions, output_hidden_states=output_hidden_states
        )
        scores = self.scores(encoded, inputs, targets)
        loss = self.loss(scores, inputs, targets) if self.spec.targets_given(targets) else None
        return self.spec.output(loss, scores, encoded, return_dict)


class AlbertLabelsHeadModel(AlbertHeadModel):
    """A head whose one target is ``labels`` (masked LM, classification, tagging, multiple
    choice): transformers' forward for it. Pretraining and question answering take other targets
    in ``labels``' place, so they derive from :class:`AlbertHeadModel` with forwards of their own."""

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> Any:
        """transformers' signature: the head's output (``spec.output_class``), with the loss
        when ``labels`` are given, or its tuple when ``return_dict=False``."""
        inputs = ModelInputs(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds)
        return self.run(inputs, {"labels": labels}, output_attentions, output_hidden_states, return_dict)


class _TiedMLMMixin:
    """Ties ``predictions.decoder`` to the word embeddings and the MLM bias, as ALBERT always does."""

    albert: AlbertModel
    predictions: AlbertMLMHead
    attn_implementation: str

    def tie_weights(self) -> None:
        self.predictions.decoder.weight = self.albert.embeddings.word_embeddings.weight
        self.predictions.decoder.bias = self.predictions.bias

    def get_output_embeddings(self) -> nn.Linear:
        return self.predictions.decoder

    def masked_logits(self, hidden_states: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
        """Vocabulary scores at the positions ``selected`` marks: (B, S, H) states and a (B, S)
        bool mask -> (M, V), row by row in text order.

        The vocabulary projection is most of an MLM's cost (V = 30,000 scores per position), and
        the head works position by position, so scoring only the positions that are read gives
        the same numbers. Pretraining's loss, fill-mask and the packed heads all score this way.
        """
        return self.predictions(hidden_states[selected])

    def _real_token_logits(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """(B, S, V) scores: on the packed path at real tokens only (zeros at padding), as the
        packed encoder leaves padding empty; otherwise at every position, as transformers."""
        if self.attn_implementation != "packed" or attention_mask is None or attention_mask.dim() != 2:
            return self.predictions(hidden_states)
        real = attention_mask.bool()
        scored = self.masked_logits(hidden_states, real)  # (T, V)
        logits = scored.new_zeros(*real.shape, scored.shape[-1])
        logits[real] = scored
        return logits


class AlbertForPreTraining(_TiedMLMMixin, AlbertHeadModel):
    """The pretraining model: masked-LM and sentence-order heads (loss = MLM + SOP)."""

    spec = HEADS["pretraining"]

    def build_head(self, config: AlbertConfig) -> None:
        self.predictions = AlbertMLMHead(config)
        self.sop_classifier = AlbertSOPHead(config)

    # transformers' argument order: this head's targets take labels' place before output_attentions
    def forward(
        self,
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
    ) -> AlbertForPreTrainingOutput | tuple[Any, ...]:
        """As every head's, with the sentence-order target: the loss needs both."""
        inputs = ModelInputs(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds)
        targets = {"labels": labels, "sentence_order_label": sentence_order_label}
        return self.run(inputs, targets, output_attentions, output_hidden_states, return_dict)

    def _mlm_selection(self, labels: torch.Tensor | None, attention_mask: torch.Tensor | None) -> torch.Tensor | None:
        """On the packed path with labels, the positions the MLM loss reads (a label on a padding
        token cannot count); None where every position is scored."""
        if labels is None or self.attn_implementation != "packed":
            return None
        selected = labels != IGNORE_INDEX
        if attention_mask is not None and attention_mask.dim() == 2:
            selected = selected & attention_mask.bool()
        return selected

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, targets: Targets) -> Scores:
        sop_logits = self.sop_classifier(encoded.pooler_output)  # (B, 2)
        selected = self._mlm_selection(targets["labels"], inputs.attention_mask)
        if selected is not None:  # only the masked positions: prediction_logits is (M, V), row by row
            prediction_logits = self.masked_logits(_last_states(encoded), selected)
        else:
            prediction_logits = self._real_token_logits(_last_states(encoded), inputs.attention_mask)  # (B, S, V)
        return {"prediction_logits": prediction_logits, "sop_logits": sop_logits}

    def loss(self, scores: Scores, inputs: ModelInputs, targets: Targets) -> torch.Tensor:
        selected = self._mlm_selection(targets["labels"], inputs.attention_mask)
        if selected is not None:
            targets = {**targets, "labels": targets["labels"][selected]}  # (M,), as prediction_logits
        return super().loss(scores, inputs, targets)


class AlbertForMaskedLM(_TiedMLMMixin, AlbertLabelsHeadModel):
    """Fill-mask: vocabulary scores at every position."""

    spec = HEADS["masked_lm"]

    def build_head(self, config: AlbertConfig) -> None:
        self.predictions = AlbertMLMHead(config)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, targets: Targets) -> Scores:
        return {"logits": self._real_token_logits(_last_states(encoded), inputs.attention_mask)}  # (B, S, V)


class AlbertForSequenceClassification(AlbertLabelsHeadModel):
    """Classification or regression from the pooled [CLS] state (e.g. GLUE)."""

    spec = HEADS["sequence_classification"]

    def build_head(self, config: AlbertConfig) -> None:
        self.dropout = nn.Dropout(head_rules.classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, targets: Targets) -> Scores:
        return {"logits": self.classifier(self.dropout(encoded.pooler_output))}  # (B, num_labels)


class AlbertForTokenClassification(AlbertLabelsHeadModel):
    """One label per token (e.g. named entities); labels of -100 (padding, later pieces) are ignored."""

    spec = HEADS["token_classification"]

    def build_head(self, config: AlbertConfig) -> None:
        self.dropout = nn.Dropout(head_rules.token_classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, targets: Targets) -> Scores:
        return {"logits": self.classifier(self.dropout(encoded.last_hidden_state))}  # (B, S, num_labels)


class AlbertForQuestionAnswering(AlbertHeadModel):
    """Extractive QA: a start and an end score for every token (SQuAD)."""

    spec = HEADS["question_answering"]

    def build_head(self, config: AlbertConfig) -> None:
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)

    # transformers' argument order: this head's targets take labels' place before output_attentions
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> QuestionAnsweringModelOutput | tuple[Any, ...]:
        """As every head's, with a start and an end position as targets: the loss needs both."""
        inputs = ModelInputs(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds)
        targets = {"start_positions": start_positions, "end_positions": end_positions}
        return self.run(inputs, targets, output_attentions, output_hidden_states, return_dict)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, targets: Targets) -> Scores:
        logits = self.qa_outputs(encoded.last_hidden_state)  # (B, S, 2)
        start_logits, end_logits = (part.squeeze(-1).contiguous() for part in logits.split(1, dim=-1))
        return {"start_logits": start_logits, "end_logits": end_logits}


class AlbertForMultipleChoice(AlbertLabelsHeadModel):
    """Scores each of C choices from its pooled state; inputs are (B, C, S)."""

    spec = HEADS["multiple_choice"]

    def build_head(self, config: AlbertConfig) -> None:
        self.dropout = nn.Dropout(head_rules.classifier_dropout(config))
        self.classifier = nn.Linear(config.hidden_size, 1)

    def scores(self, encoded: BaseModelOutputWithPooling, inputs: ModelInputs, targets: Targets) -> Scores:
        logits = self.classifier(self.dropout(encoded.pooler_output))  # (B * C, 1)
        return {"logits": logits.view(-1, head_rules.count_choices(inputs))}  # (B, C)


MODEL_CLASSES: dict[str, type[AlbertPreTrainedModel]] = {
    cls.__name__: cls
    for cls in (
        AlbertModel,
        AlbertForPreTraining,
        AlbertForMaskedLM,
        AlbertForSequenceClassification,
        AlbertForTokenClassification,
        AlbertForQuestionAnswering,
        AlbertForMultipleChoice,
    )
}
