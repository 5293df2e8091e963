"""The ALBERT network (Lan et al., 2019, "ALBERT: A Lite BERT for Self-supervised Learning of
Language Representations") and every task head.

Reads top to bottom: embeddings (V x E, then E -> H), self-attention, one transformer layer, a
group of layers, the encoder that reuses groups across depth, the base model, then the heads.
Module and parameter names follow transformers' ``modeling_albert.py`` so checkpoints move both
ways unchanged.

Shapes: B batch, S sequence, E embedding size, H hidden size, N heads, D head size (H / N).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import PreTrainedMixin
from .config import AlbertConfig
from .outputs import (
    AlbertForPreTrainingOutput,
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)

IGNORE_INDEX = -100


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
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown hidden_act {name!r}; choose one of: {', '.join(ACTIVATIONS)}") from None


def attention_bias(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """Turn a 0/1 padding mask into the additive bias attention adds to its scores.

    Takes a (B, S) mask over keys, or a (B, S, S) / (B, 1, S, S) mask over query-key pairs, with
    1 (or True) where attention is allowed; returns a float bias that broadcasts over
    (B, N, S, S), with the dtype's most negative value where attention is barred (as transformers
    does, so a fully masked row stays finite).
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() == 2:
        mask = attention_mask[:, None, None, :]
    elif attention_mask.dim() == 3:
        mask = attention_mask[:, None, :, :]
    elif attention_mask.dim() == 4:
        mask = attention_mask
    else:
        raise ValueError(
            f"attention_mask must have 2, 3 or 4 dimensions, got shape {tuple(attention_mask.shape)}"
        )
    keep = mask.to(dtype)
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


class AlbertAttention(nn.Module):
    """Multi-head self-attention with its output projection, residual and LayerNorm (post-LN)."""

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

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch_size, seq_length, _ = x.shape
        return x.view(batch_size, seq_length, self.num_attention_heads, self.attention_head_size).transpose(1, 2)

    def forward(
        self,
        hidden_states: torch.Tensor,
        bias: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        query = self._split_heads(self.query(hidden_states))  # (B, N, S, D)
        key = self._split_heads(self.key(hidden_states))
        value = self._split_heads(self.value(hidden_states))

        probs = None
        if output_attentions or self.position_embedding_type != "absolute":
            scores = query @ key.transpose(-1, -2) / math.sqrt(self.attention_head_size)  # (B, N, S, S)
            if self.position_embedding_type != "absolute":
                scores = scores + self._relative_scores(query, key)
            if bias is not None:
                scores = scores + bias
            probs = scores.softmax(dim=-1)
            context = self.attention_dropout(probs) @ value
        else:
            context = F.scaled_dot_product_attention(
                query,
                key,
                value,
                attn_mask=bias,
                dropout_p=self.attention_dropout.p if self.training else 0.0,
            )
        context = context.transpose(1, 2).flatten(2)  # (B, S, H)
        projected = self.output_dropout(self.dense(context))
        return self.LayerNorm(hidden_states + projected), probs

    def _relative_scores(self, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
        seq_length = query.shape[2]
        positions = torch.arange(seq_length, device=query.device)
        distance = positions[:, None] - positions[None, :]
        table = self.distance_embedding(distance + self.max_position_embeddings - 1).to(query.dtype)  # (S, S, D)
        scores = torch.einsum("bhld,lrd->bhlr", query, table)
        if self.position_embedding_type == "relative_key_query":
            scores = scores + torch.einsum("bhrd,lrd->bhlr", key, table)
        return scores


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

    def forward(
        self, hidden_states: torch.Tensor, bias: torch.Tensor | None = None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, probs = self.attention(hidden_states, bias, output_attentions)
        ffn_out = self.dropout(self.ffn_output(self.activation(self.ffn(attended))))
        return self.full_layer_layer_norm(ffn_out + attended), probs


class AlbertLayerGroup(nn.Module):
    """``inner_group_num`` distinct layers applied in sequence: one unit of weight sharing."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.albert_layers = nn.ModuleList([AlbertLayer(config) for _ in range(config.inner_group_num)])

    def forward(
        self, hidden_states: torch.Tensor, bias: torch.Tensor | None = None, output_attentions: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        attentions = []
        for layer in self.albert_layers:
            hidden_states, probs = layer(hidden_states, bias, output_attentions)
            if output_attentions:
                attentions.append(probs)
        return hidden_states, attentions


class AlbertTransformer(nn.Module):
    """Projects E -> H, then runs ``num_hidden_layers`` steps over ``num_hidden_groups`` groups.

    Cross-layer parameter sharing (paper section 3.1): step ``i`` uses group
    ``i // (num_hidden_layers / num_hidden_groups)``, so consecutive layers share a group, as in
    google-research/albert and transformers. The E -> H mapping always exists (as in
    transformers), even when E == H, where the original TF code skips it.
    """

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding_hidden_mapping_in = nn.Linear(config.embedding_size, config.hidden_size)
        self.albert_layer_groups = nn.ModuleList([AlbertLayerGroup(config) for _ in range(config.num_hidden_groups)])
        self.gradient_checkpointing = False

    def group_of_layer(self, layer_index: int) -> int:
        """Which group's weights compute layer ``layer_index``."""
        return layer_index // self.config.layers_per_group

    def forward(
        self,
        hidden_states: torch.Tensor,
        bias: torch.Tensor | None = None,
        output_attentions: bool = False,
        output_hidden_states: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None, tuple[torch.Tensor, ...] | None]:
        hidden_states = self.embedding_hidden_mapping_in(hidden_states)  # (B, S, E) -> (B, S, H)
        all_hidden = [hidden_states] if output_hidden_states else None
        all_attentions: list[torch.Tensor] | None = [] if output_attentions else None
        for layer_index in range(self.config.num_hidden_layers):
            group = self.albert_layer_groups[self.group_of_layer(layer_index)]
            if self.gradient_checkpointing and self.training:
                hidden_states, attentions = torch.utils.checkpoint.checkpoint(
                    group, hidden_states, bias, output_attentions, use_reentrant=False
                )
            else:
                hidden_states, attentions = group(hidden_states, bias, output_attentions)
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
            raise TypeError(f"expected an AlbertConfig, got {type(config).__name__}")
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
        base = getattr(self, self.base_model_prefix, self)
        return base.embeddings.word_embeddings

    def gradient_checkpointing_enable(self) -> None:
        """Recompute each layer's activations in the backward pass: ALBERT shares weights but not
        activations, so memory grows with depth; this trades compute for it."""
        base = getattr(self, self.base_model_prefix, self)
        base.encoder.gradient_checkpointing = True

    def gradient_checkpointing_disable(self) -> None:
        base = getattr(self, self.base_model_prefix, self)
        base.encoder.gradient_checkpointing = False

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype


class AlbertModel(AlbertPreTrainedModel):
    """The bare encoder: token states ``last_hidden_state`` and the tanh ``pooler_output`` of
    the first ([CLS]) token."""

    def __init__(self, config: AlbertConfig, add_pooling_layer: bool = True) -> None:
        super().__init__(config)
        self.embeddings = AlbertEmbeddings(config)
        self.encoder = AlbertTransformer(config)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.pooler_activation = nn.Tanh() if add_pooling_layer else None
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
    ) -> BaseModelOutputWithPooling | tuple:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if input_ids is not None and input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (batch, sequence), got shape {tuple(input_ids.shape)}")
        seq_length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        if position_ids is None and seq_length > self.config.max_position_embeddings:
            raise ValueError(
                f"sequence of {seq_length} tokens is longer than max_position_embeddings "
                f"({self.config.max_position_embeddings}); truncate it or embed it in windows"
            )
        embedding_output = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        bias = attention_bias(attention_mask, embedding_output.dtype)
        sequence_output, hidden_states, attentions = self.encoder(
            embedding_output, bias, bool(output_attentions), bool(output_hidden_states)
        )
        pooled_output = None
        if self.pooler is not None:
            pooled_output = self.pooler_activation(self.pooler(sequence_output[:, 0]))
        output = BaseModelOutputWithPooling(
            last_hidden_state=sequence_output,
            pooler_output=pooled_output,
            hidden_states=hidden_states,
            attentions=attentions,
        )
        return output if return_dict is not False else output.to_tuple()


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
        self.dropout = nn.Dropout(config.classifier_dropout_prob or 0.0)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled_output: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(pooled_output))


class _TiedMLMMixin:
    """Ties ``predictions.decoder`` to the word embeddings and the MLM bias, as ALBERT always does."""

    def tie_weights(self) -> None:
        self.predictions.decoder.weight = self.albert.embeddings.word_embeddings.weight
        self.predictions.decoder.bias = self.predictions.bias

    def get_output_embeddings(self) -> nn.Linear:
        return self.predictions.decoder


def _mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1), ignore_index=IGNORE_INDEX)


class AlbertForPreTraining(_TiedMLMMixin, AlbertPreTrainedModel):
    """The pretraining model: masked-LM and sentence-order heads (loss = MLM + SOP)."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__(config)
        self.albert = AlbertModel(config)
        self.predictions = AlbertMLMHead(config)
        self.sop_classifier = AlbertSOPHead(config)
        self.post_init()

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
    ) -> AlbertForPreTrainingOutput | tuple:
        outputs = self.albert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states,
        )
        prediction_logits = self.predictions(outputs.last_hidden_state)  # (B, S, V)
        sop_logits = self.sop_classifier(outputs.pooler_output)  # (B, 2)
        loss = None
        if labels is not None and sentence_order_label is not None:
            sop_loss = F.cross_entropy(sop_logits.float().view(-1, sop_logits.shape[-1]), sentence_order_label.view(-1))
            loss = _mlm_loss(prediction_logits, labels) + sop_loss
        output = AlbertForPreTrainingOutput(
            loss=loss,
            prediction_logits=prediction_logits,
            sop_logits=sop_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if return_dict is not False else output.to_tuple()


class AlbertForMaskedLM(_TiedMLMMixin, AlbertPreTrainedModel):
    """Fill-mask: vocabulary scores at every position."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__(config)
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.predictions = AlbertMLMHead(config)
        self.post_init()

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
    ) -> MaskedLMOutput | tuple:
        outputs = self.albert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states,
        )
        logits = self.predictions(outputs.last_hidden_state)
        loss = _mlm_loss(logits, labels) if labels is not None else None
        output = MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict is not False else output.to_tuple()


def sequence_classification_loss(config: AlbertConfig, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Regression (MSE), single-label (cross-entropy) or multi-label (BCE) loss, chosen by
    ``config.problem_type`` or, when unset, inferred from num_labels and the labels' dtype (and
    recorded in the config, as transformers does)."""
    if config.problem_type is None:
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype in (torch.long, torch.int):
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    if config.problem_type == "regression":
        if config.num_labels == 1:
            return F.mse_loss(logits.squeeze().float(), labels.squeeze().to(torch.float32))
        return F.mse_loss(logits.float(), labels.float())
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits.float().view(-1, config.num_labels), labels.view(-1))
    if config.problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    raise ValueError(
        f"unknown problem_type {config.problem_type!r}; use 'regression', "
        "'single_label_classification' or 'multi_label_classification'"
    )


class AlbertForSequenceClassification(AlbertPreTrainedModel):
    """Classification or regression from the pooled [CLS] state (e.g. GLUE)."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.albert = AlbertModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob or 0.0)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

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
    ) -> SequenceClassifierOutput | tuple:
        outputs = self.albert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = sequence_classification_loss(self.config, logits, labels) if labels is not None else None
        output = SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict is not False else output.to_tuple()


class AlbertForTokenClassification(AlbertPreTrainedModel):
    """One label per token (e.g. named entities)."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.albert = AlbertModel(config, add_pooling_layer=False)
        dropout = config.classifier_dropout_prob
        self.dropout = nn.Dropout(dropout if dropout is not None else config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

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
    ) -> TokenClassifierOutput | tuple:
        outputs = self.albert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))  # (B, S, num_labels)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().view(-1, self.num_labels), labels.view(-1), ignore_index=IGNORE_INDEX)
        output = TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict is not False else output.to_tuple()


class AlbertForQuestionAnswering(AlbertPreTrainedModel):
    """Extractive QA: a start and an end score for every token (SQuAD)."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__(config)
        if config.num_labels != 2:
            raise ValueError(
                f"question answering scores a start and an end per token: num_labels must be 2, got {config.num_labels}"
            )
        self.num_labels = config.num_labels
        self.albert = AlbertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

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
    ) -> QuestionAnsweringModelOutput | tuple:
        outputs = self.albert(
            input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
            output_attentions, output_hidden_states,
        )
        logits = self.qa_outputs(outputs.last_hidden_state)  # (B, S, 2)
        start_logits, end_logits = (part.squeeze(-1).contiguous() for part in logits.split(1, dim=-1))
        loss = None
        if start_positions is not None and end_positions is not None:
            # Positions outside the window (clamped to S) are ignored, as in transformers.
            seq_length = start_logits.shape[1]
            start = start_positions.view(-1).clamp(0, seq_length)
            end = end_positions.view(-1).clamp(0, seq_length)
            loss = (
                F.cross_entropy(start_logits.float(), start, ignore_index=seq_length)
                + F.cross_entropy(end_logits.float(), end, ignore_index=seq_length)
            ) / 2
        output = QuestionAnsweringModelOutput(
            loss=loss,
            start_logits=start_logits,
            end_logits=end_logits,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )
        return output if return_dict is not False else output.to_tuple()


class AlbertForMultipleChoice(AlbertPreTrainedModel):
    """Scores each of C choices from its pooled state; inputs are (B, C, S)."""

    def __init__(self, config: AlbertConfig) -> None:
        super().__init__(config)
        self.albert = AlbertModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout_prob or 0.0)
        self.classifier = nn.Linear(config.hidden_size, 1)
        self.post_init()

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
    ) -> MultipleChoiceModelOutput | tuple:
        reference = input_ids if input_ids is not None else inputs_embeds
        if reference is None or reference.dim() < 3:
            raise ValueError("multiple choice takes inputs of shape (batch, num_choices, sequence)")
        num_choices = reference.shape[1]

        def flat(tensor: torch.Tensor | None, trailing: int = 1) -> torch.Tensor | None:
            return None if tensor is None else tensor.reshape(-1, *tensor.shape[-trailing:])

        outputs = self.albert(
            flat(input_ids), flat(attention_mask), flat(token_type_ids), flat(position_ids),
            flat(inputs_embeds, 2), output_attentions, output_hidden_states,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output)).view(-1, num_choices)  # (B, C)
        loss = F.cross_entropy(logits.float(), labels.view(-1)) if labels is not None else None
        output = MultipleChoiceModelOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
        return output if return_dict is not False else output.to_tuple()


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
