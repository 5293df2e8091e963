"""The unpadded ALBERT encoder: the same parameters as :mod:`albert.modeling`, computed on the
real tokens only, with one fused query-key-value projection.

Nothing here owns a weight. Each function takes the modules of an ordinary model
(``AlbertModel.embeddings``, ``.encoder``, ``.pooler``) and runs them on packed tokens, so a
model keeps its state_dict, its checkpoints and its training state; the fused QKV matrix is
rebuilt from ``query``/``key``/``value`` whenever one of them changes (see :func:`fused_qkv`).

Shapes: B batch, S padded length, T real tokens, E embedding size, H hidden, N heads, D head size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from ..modeling import AlbertAttention, AlbertLayer, AlbertLayerGroup, AlbertModel
from .attention import AttentionPlan
from .padding import PackedLayout, pack, packed_layout, traceable_layout

logger = logging.getLogger("albert")

OutputBlock = Callable[[AlbertLayer, torch.Tensor, torch.Tensor], torch.Tensor]

#: Where :func:`albert.fast.compile.compile_fast` puts the compiled :func:`layer_output` on a model.
COMPILED_OUTPUT_BLOCK = "_fast_compiled_output_block"
#: Where :func:`albert.fast.graphs.use_cuda_graphs` puts its :class:`~albert.fast.graphs.GraphedEncoder`.
GRAPHED_ENCODER = "_fast_graphed_encoder"
#: Where :func:`albert.fast.onnx_encoder.use_onnx` records the ONNX graph the model's encoder runs.
ONNX_GRAPH = "_onnx_graph_path"


def fused_qkv(attention: AlbertAttention) -> tuple[torch.Tensor, torch.Tensor]:
    """The (3H, H) weight and (3H,) bias of query, key and value stacked, for one matmul.

    While gradients flow the three are concatenated on every call, so autograd reaches the
    original parameters. In inference the stack is cached on the module and rebuilt when any of
    the six tensors is replaced or changed in place (tracked by storage and version counter), so
    there is no copy to keep in sync by hand.
    """
    parts = (attention.query, attention.key, attention.value)
    tensors = [p.weight for p in parts] + [p.bias for p in parts]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors) or torch.compiler.is_compiling():
        return torch.cat(tensors[:3]), torch.cat(tensors[3:])
    stamp = tuple((t.data_ptr(), t._version, t.dtype, t.device) for t in tensors)
    cached = attention.__dict__.get("_fused_qkv_cache")
    if cached is None or cached[0] != stamp:
        with torch.no_grad():
            cached = (stamp, torch.cat(tensors[:3]), torch.cat(tensors[3:]))
        attention.__dict__["_fused_qkv_cache"] = cached  # a plain attribute: not in state_dict, not a buffer
    return cached[1], cached[2]


def layer_output(layer: AlbertLayer, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
    """Everything after attention in one layer: output projection, residual, LayerNorm, the
    feed-forward block, residual, LayerNorm. (T, H) states and (T, H) context -> (T, H).

    Kept apart from attention so ``torch.compile`` can fuse it without tracing the kernel choice.
    """
    attention = layer.attention
    attended = attention.LayerNorm(hidden + attention.output_dropout(attention.dense(context)))
    ffn_out = layer.dropout(layer.ffn_output(layer.activation(layer.ffn(attended))))
    return layer.full_layer_layer_norm(ffn_out + attended)


def layer_forward(
    layer: AlbertLayer, hidden: torch.Tensor, plan: AttentionPlan, output_block: OutputBlock = layer_output
) -> torch.Tensor:
    """One post-LN transformer layer on packed tokens: (T, H) -> (T, H)."""
    attention = layer.attention
    num_heads, head_size = attention.num_attention_heads, attention.attention_head_size
    weight, bias = fused_qkv(attention)
    qkv = F.linear(hidden, weight, bias).view(-1, 3, num_heads, head_size)  # (T, 3, N, D)
    context = plan(qkv).reshape(hidden.shape[0], num_heads * head_size)  # (T, H)
    return output_block(layer, hidden, context)


def group_forward(
    group: AlbertLayerGroup, hidden: torch.Tensor, plan: AttentionPlan, output_block: OutputBlock = layer_output
) -> torch.Tensor:
    """The ``inner_group_num`` layers of one shared group, in order."""
    for layer in group.albert_layers:
        hidden = layer_forward(layer, hidden, plan, output_block)
    return hidden


def reference_reason(
    model: AlbertModel,
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    output_attentions: bool | None,
) -> str | None:
    """Why this call must run on the reference (padded) forward, or None when the fast one is exact.

    The reference path is taken for what the packed path does not compute (attention
    probabilities, relative position scores, 3-D/4-D masks) and for inputs the reference forward
    rejects with its own error message.
    """
    if output_attentions:
        return "output_attentions needs the attention probabilities"
    if model.config.position_embedding_type != "absolute":
        return f"position_embedding_type={model.config.position_embedding_type!r}"
    if (input_ids is None) == (inputs_embeds is None):
        return "invalid inputs"
    reference = input_ids if input_ids is not None else inputs_embeds
    if input_ids is not None and input_ids.dim() != 2 or inputs_embeds is not None and inputs_embeds.dim() != 3:
        return "invalid inputs"
    if position_ids is None and reference.shape[1] > model.config.max_position_embeddings:
        return "invalid inputs"
    if attention_mask is not None and attention_mask.shape != reference.shape[:2]:
        return "attention mask over query-key pairs"
    return None


def _full(tensor: torch.Tensor | None, batch_size: int, seq_len: int, fill: torch.Tensor) -> torch.Tensor:
    """Broadcast optional (S,), (1, S) or (B, S) ids to (B, S); ``fill`` when absent."""
    if tensor is None:
        tensor = fill
    return tensor.expand(batch_size, seq_len) if tensor.dim() < 2 or tensor.shape[0] == 1 else tensor


def encode_packed(
    model: AlbertModel,
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    token_type_ids: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None,
    output_hidden_states: bool,
    attention_backend: str = "auto",
) -> tuple[PackedLayout, torch.Tensor, list[torch.Tensor] | None]:
    """Run the embeddings and every layer on the real tokens only.

    ``attention_backend="export"`` builds the layout without host syncs (see
    :func:`~albert.fast.padding.traceable_layout`) so the pass can be traced for ONNX.

    Returns:
        The layout, the final states (T, H), and (when asked) the packed states after the E -> H
        projection and after every layer (num_hidden_layers + 1 entries, as the reference).
    """
    reference = input_ids if input_ids is not None else inputs_embeds
    batch_size, seq_len = reference.shape[:2]
    device = reference.device
    if attention_backend == "export":
        if attention_mask is None:
            attention_mask = torch.ones(batch_size, seq_len, dtype=torch.long, device=device)
        layout = traceable_layout(attention_mask)
    else:
        layout = packed_layout(attention_mask, batch_size, seq_len, device)

    # Position ids are looked up in the padded grid, so packing keeps every token's position.
    positions = _full(position_ids, batch_size, seq_len, torch.arange(seq_len, device=device))
    segments = _full(token_type_ids, batch_size, seq_len, torch.zeros(1, dtype=torch.long, device=device))
    packed_ids = None if input_ids is None else pack(input_ids, layout)
    packed_segments, packed_positions = pack(segments, layout), pack(positions, layout)

    graphs = model.__dict__.get(GRAPHED_ENCODER)
    if graphs is not None and packed_ids is not None and not output_hidden_states:
        hidden = graphs(model, packed_ids, packed_segments, packed_positions, layout, attention_backend)
        if hidden is not None:
            return layout, hidden, None

    embedded = embed_packed(
        model, packed_ids, packed_segments, packed_positions, None if inputs_embeds is None else pack(inputs_embeds, layout)
    )
    hidden, all_hidden = run_layers(model, embedded, layout, attention_backend, output_hidden_states)
    return layout, hidden, all_hidden


def embed_packed(
    model: AlbertModel,
    input_ids: torch.Tensor | None,
    token_type_ids: torch.Tensor,
    position_ids: torch.Tensor,
    inputs_embeds: torch.Tensor | None = None,
) -> torch.Tensor:
    """The embeddings of packed tokens ((T,) ids, or (T, E) vectors), projected to H: (T, H)."""
    embeddings = model.embeddings(
        input_ids=None if input_ids is None else input_ids[None],
        token_type_ids=token_type_ids[None],
        position_ids=position_ids[None],
        inputs_embeds=None if inputs_embeds is None else inputs_embeds[None],
    )[0]  # (T, E)
    return model.encoder.embedding_hidden_mapping_in(embeddings)


def run_layers(
    model: AlbertModel, hidden: torch.Tensor, layout: PackedLayout, attention_backend: str, output_hidden_states: bool
) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """Every layer (shared groups in order) on packed (T, H) states laid out as ``layout``.

    Returns the final states and, when asked, the input and the output of every layer.
    """
    encoder = model.encoder
    attention = encoder.albert_layer_groups[0].albert_layers[0].attention
    dropout_p = attention.attention_dropout.p if model.training else 0.0
    plan = AttentionPlan(layout, attention_backend, attention.attention_head_size, hidden.dtype, dropout_p)
    output_block = model.__dict__.get(COMPILED_OUTPUT_BLOCK, layer_output)
    all_hidden = [hidden] if output_hidden_states else None
    for layer_index in range(model.config.num_hidden_layers):
        group = encoder.albert_layer_groups[encoder.group_of_layer(layer_index)]
        if encoder.gradient_checkpointing and model.training:
            hidden = checkpoint(group_forward, group, hidden, plan, output_block, use_reentrant=False)
        else:
            hidden = group_forward(group, hidden, plan, output_block)
        if all_hidden is not None:
            all_hidden.append(hidden)
    return hidden, all_hidden


def first_token_states(packed: torch.Tensor, layout: PackedLayout) -> torch.Tensor:
    """(B, H) states of each row's first real token (the [CLS] position with right padding)."""
    return packed.index_select(0, layout.cu_seqlens[:-1].long())
