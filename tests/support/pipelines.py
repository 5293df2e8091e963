"""Helpers shared by the pipeline tests: transformers' model on the same folder, our tokenizer.

Reference inputs are always built with our tokenizer (transformers' fast ALBERT tokenizer does
not give ALBERT's real ids), so a difference in the scores can only come from the pipeline.
"""

from __future__ import annotations

from pathlib import Path

import torch


def reference_model(class_name: str, folder: Path):
    """transformers' ``class_name`` (e.g. "AlbertForMaskedLM") loaded from ``folder``, in eval mode."""
    import transformers

    model = getattr(transformers, class_name).from_pretrained(folder, attn_implementation="eager")
    return model.eval()


def our_tokenizer(folder: Path):
    from albert.tokenizer import AlbertTokenizer

    return AlbertTokenizer.from_pretrained(folder)


@torch.no_grad()
def reference_outputs(model, encoding, **kwargs):
    """Run a transformers model on one encoding (lists of ids) given as a batch of one."""
    inputs = {
        name: torch.tensor([encoding[name]])
        for name in ("input_ids", "token_type_ids", "attention_mask")
        if name in encoding
    }
    return model(**inputs, **kwargs)
