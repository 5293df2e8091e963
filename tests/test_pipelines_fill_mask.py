"""fill-mask: the model cards' records, scores equal to transformers' on the same weights."""

from __future__ import annotations

import pytest
import torch
from pipelines_support import our_tokenizer, reference_model, reference_outputs

from albert import AlbertForMaskedLM, AlbertForPreTraining
from albert.pipelines import pipeline


@pytest.fixture(scope="module")
def folder(make_tiny_model):
    return make_tiny_model(AlbertForMaskedLM, seed=3)


@pytest.fixture(scope="module")
def reference(folder):
    return reference_model("AlbertForMaskedLM", folder)


@pytest.fixture(scope="module")
def unmasker(folder):
    return pipeline("fill-mask", model=folder, device="cpu")


def reference_probabilities(reference, tokenizer, text):
    """Softmax over the vocabulary at each mask, from transformers, on our tokenizer's ids."""
    encoding = tokenizer(text)
    logits = reference_outputs(reference, encoding).logits[0]
    positions = [i for i, token in enumerate(encoding["input_ids"]) if token == tokenizer.mask_token_id]
    return [torch.softmax(logits[position], dim=-1) for position in positions]


def test_top_k_scores_and_tokens_match_transformers(folder, reference, unmasker):
    tokenizer = our_tokenizer(folder)
    text = "The man worked as a [MASK] at night."
    results = unmasker(text, top_k=7)
    probabilities = reference_probabilities(reference, tokenizer, text)[0]
    expected_scores, expected_tokens = probabilities.topk(7)
    assert [r["token"] for r in results] == expected_tokens.tolist()
    assert [r["score"] for r in results] == pytest.approx(expected_scores.tolist(), abs=1e-5)
    assert set(results[0]) == {"sequence", "score", "token", "token_str"}


def test_records_read_like_transformers_pipeline(folder, reference, unmasker):
    """Same records as transformers' own fill-mask pipeline where both tokenizers agree on the ids."""
    import transformers

    slow = transformers.AlbertTokenizer.from_pretrained(folder)
    text = "the river visit a [MASK] near the city ."
    assert our_tokenizer(folder)(text)["input_ids"] == slow(text)["input_ids"]
    theirs = transformers.pipeline("fill-mask", model=reference, tokenizer=slow, device="cpu")(text, top_k=5)
    ours = unmasker(text, top_k=5)
    assert [r["token"] for r in ours] == [r["token"] for r in theirs]
    assert [r["token_str"] for r in ours] == [r["token_str"] for r in theirs]
    assert [r["sequence"] for r in ours] == [r["sequence"] for r in theirs]
    assert [r["score"] for r in ours] == pytest.approx([r["score"] for r in theirs], abs=1e-5)


def test_token_str_has_no_word_marker_and_sequence_is_filled(unmasker):
    for result in unmasker("a dog [MASK] the apple.", top_k=10):
        assert "\u2581" not in result["token_str"]
        assert "[MASK]" not in result["sequence"]
        assert result["token_str"].strip() in result["sequence"]


def test_several_masks_give_one_list_per_mask(folder, reference, unmasker):
    tokenizer = our_tokenizer(folder)
    text = "the [MASK] carried the [MASK] at night."
    results = unmasker(text, top_k=3)
    assert len(results) == 2 and all(len(per_mask) == 3 for per_mask in results)
    for per_mask, probabilities in zip(results, reference_probabilities(reference, tokenizer, text)):
        scores, tokens = probabilities.topk(3)
        assert [r["token"] for r in per_mask] == tokens.tolist()
        assert [r["score"] for r in per_mask] == pytest.approx(scores.tolist(), abs=1e-5)
        # the other mask stays visible in each sequence
        assert all(r["sequence"].count("[MASK]") == 1 for r in per_mask)


def test_targets_score_only_the_given_words(folder, reference, unmasker):
    tokenizer = our_tokenizer(folder)
    text = "my friend was a [MASK]."
    targets = ["car", "river", "\u2581a"]
    target_ids = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word)[0]) for word in targets[:2]]
    target_ids.append(tokenizer.convert_tokens_to_ids("\u2581a"))
    probabilities = reference_probabilities(reference, tokenizer, text)[0]
    results = unmasker(text, targets=targets)
    assert sorted(r["token"] for r in results) == sorted(target_ids)
    for result in results:
        assert result["score"] == pytest.approx(probabilities[result["token"]].item(), abs=1e-5)
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_multi_piece_target_uses_its_first_piece_and_warns(folder, unmasker):
    tokenizer = our_tokenizer(folder)
    word = "dangerous"
    pieces = tokenizer.tokenize(word)
    assert len(pieces) > 1  # the tiny vocabulary splits it
    with pytest.warns(UserWarning, match="first piece"):
        results = unmasker("a [MASK] dog.", targets=[word])
    assert [r["token"] for r in results] == [tokenizer.convert_tokens_to_ids(pieces[0])]


def test_text_without_mask_is_a_clear_error(unmasker):
    with pytest.raises(ValueError, match=r"no \[MASK\]"):
        unmasker("there is nothing hidden here.")
    with pytest.raises(ValueError, match="input 1"):
        unmasker(["a [MASK] dog.", "no mask"])


def test_batches_of_mixed_lengths_come_back_in_input_order(folder):
    texts = [
        "a [MASK].",
        "the committee painted the car at night and the [MASK] read a letter near the river.",
        "why did the [MASK] carry the bridge?",
        "[MASK] dog",
        "the old man answered the answer on [MASK] at the station near the river.",
    ]
    one_by_one = pipeline("fill-mask", model=folder, batch_size=1)
    batched = pipeline("fill-mask", model=folder, batch_size=3)
    expected = [one_by_one(text, top_k=2) for text in texts]
    got = batched(texts, top_k=2)
    assert [[r["token"] for r in result] for result in got] == [
        [r["token"] for r in result] for result in expected
    ]
    for result, reference_result in zip(got, expected):
        assert [r["score"] for r in result] == pytest.approx([r["score"] for r in reference_result], abs=1e-5)


def test_a_pretraining_model_fills_masks_too(make_tiny_model):
    folder = make_tiny_model(AlbertForPreTraining, seed=4)
    model = AlbertForPreTraining.from_pretrained(folder)
    from_object = pipeline("fill-mask", model=model)("a [MASK] dog.", top_k=3)
    from_folder = pipeline("fill-mask", model=folder)("a [MASK] dog.", top_k=3)
    assert [r["token"] for r in from_object] == [r["token"] for r in from_folder]


def test_too_long_text_is_refused_not_truncated(unmasker):
    text = "[MASK] " + "the river visit a letter near the river " * 20
    with pytest.raises(ValueError, match="window"):
        unmasker(text)


def test_model_card_example_with_albert_vocabulary(albert_vocab, tmp_path):
    """With ALBERT's real 30k vocabulary the records read as on the model cards."""
    import json

    from conftest import tiny_config

    torch.manual_seed(0)
    AlbertForMaskedLM(tiny_config(vocab_size=30000)).save_pretrained(tmp_path)
    (tmp_path / "spiece.model").write_bytes(albert_vocab.read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": True, "model_max_length": 64})
    )
    unmasker = pipeline("fill-mask", model=tmp_path)
    [result] = unmasker("Hello I'm a [MASK] model.", targets=["modeling"])
    assert result["token"] == 12807  # ▁modeling
    assert result["token_str"] == "modeling"
    assert result["sequence"] == "hello i'm a modeling model."
    assert len(unmasker("Hello I'm a [MASK] model.")) == 5
