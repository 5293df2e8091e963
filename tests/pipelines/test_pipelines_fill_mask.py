"""fill-mask: the model cards' records, scores equal to transformers' on the same weights."""

from __future__ import annotations

import pytest
import torch
from support.pipelines import our_tokenizer, reference_model, reference_outputs

from albert import AlbertForMaskedLM, AlbertForPreTraining
from albert.errors import InputError
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


def visible_top_k(tokenizer, probabilities, top_k):
    """The best ``top_k`` (score, id) that read as something when decoded (not the bare "▁")."""
    order = probabilities.argsort(descending=True).tolist()
    best = [token for token in order if tokenizer.decode([token]).strip()][:top_k]
    return [probabilities[token].item() for token in best], best


def test_top_k_scores_and_tokens_match_transformers(folder, reference, unmasker):
    tokenizer = our_tokenizer(folder)
    text = "The man worked as a [MASK] at night."
    results = unmasker(text, top_k=7)
    probabilities = reference_probabilities(reference, tokenizer, text)[0]
    expected_scores, expected_tokens = visible_top_k(tokenizer, probabilities, 7)
    assert [r["token"] for r in results] == expected_tokens
    assert [r["score"] for r in results] == pytest.approx(expected_scores, abs=1e-5)
    assert set(results[0]) == {"sequence", "score", "token", "token_str"}


def test_records_read_like_transformers_pipeline(folder, reference, unmasker):
    """Same records as transformers' own fill-mask pipeline where both tokenizers agree on the ids,
    less its blank rows (pieces that decode to nothing)."""
    import transformers

    tokenizer = our_tokenizer(folder)
    slow = transformers.AlbertTokenizer.from_pretrained(folder)
    text = "the river visit a [MASK] near the city ."
    assert tokenizer(text)["input_ids"] == slow(text)["input_ids"]
    theirs = transformers.pipeline("fill-mask", model=reference, tokenizer=slow, device="cpu")(text, top_k=12)
    theirs = [r for r in theirs if r["token_str"].strip()][:8]
    ours = unmasker(text, top_k=8)
    assert [r["token"] for r in ours] == [r["token"] for r in theirs]
    assert [r["token_str"] for r in ours] == [r["token_str"] for r in theirs]
    assert [r["score"] for r in ours] == pytest.approx([r["score"] for r in theirs], abs=1e-5)
    assert [r["sequence"] for r in ours] == [r["sequence"] for r in theirs]


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


@pytest.mark.parametrize(
    ("text", "first_ends", "second_starts"),
    [
        ("two two here and [MASK] there [MASK].", " there [MASK].", "two two here and [MASK] there"),
        ("The  [MASK]\tcity [MASK]  river", " city [MASK] river", "the [MASK] city"),
        ("the[MASK]city [MASK]", "city [MASK]", "the[MASK]city"),
    ],
)
def test_the_mask_left_unfilled_keeps_its_spaces(unmasker, text, first_ends, second_starts):
    """Filling one mask of two decodes the ids as transformers does, but the other ``[MASK]`` keeps
    the space before it that the text has, and one after it where the next piece starts a word (a
    plain decode glues it: ``"two two here and[MASK]there."``)."""
    first, second = unmasker(text, top_k=4)
    for record in first:
        assert record["sequence"].count("[MASK]") == 1 and record["sequence"].endswith(first_ends), record
    for record in second:
        assert record["sequence"].count("[MASK]") == 1 and record["sequence"].startswith(second_starts), record
        assert record["token_str"] in record["sequence"]


def test_no_prediction_reads_as_nothing(folder, tmp_path):
    """A model whose best guess is the bare "▁" piece (it decodes to "") shows the next best
    instead: every row has text, and there are still top_k of them."""
    import shutil

    tokenizer = our_tokenizer(folder)
    blank = tokenizer.convert_tokens_to_ids("\u2581")
    assert tokenizer.decode([blank]) == ""
    model = AlbertForMaskedLM.from_pretrained(folder)
    with torch.no_grad():
        model.predictions.bias[blank] += 50.0  # "▁" far ahead of every other piece
    shutil.copytree(folder, tmp_path / "model")
    model.save_pretrained(tmp_path / "model")
    unmasker = pipeline("fill-mask", model=tmp_path / "model", device="cpu")
    for results in (unmasker("a dog [MASK] the apple.", top_k=6), *unmasker("[MASK] and [MASK]", top_k=6)):
        assert len(results) == 6
        assert all(r["token_str"].strip() and r["token"] != blank for r in results), results
    with pytest.raises(InputError, match="reads as nothing"):
        unmasker("a [MASK].", targets=["\u2581"])


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


def test_a_one_piece_target_scores_its_softmax_probability(folder, reference, unmasker):
    tokenizer = our_tokenizer(folder)
    text = "a [MASK] dog."
    [piece] = tokenizer.tokenize("car")
    probabilities = reference_probabilities(reference, tokenizer, text)[0]
    [result] = unmasker(text, targets=["car"])
    assert result["token"] == tokenizer.convert_tokens_to_ids(piece) and "tokens" not in result
    assert result["score"] == pytest.approx(probabilities[result["token"]].item(), rel=1e-5)


def chained_probability(reference, tokenizer, text: str, word: str, mask_number: int = 0) -> float:
    """By hand, with transformers' model: the mask becomes one [MASK] per piece of ``word``; pass
    i scores piece i at its mask with pieces 0..i-1 written in. The product of those."""
    pieces = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))
    ids = tokenizer(text)["input_ids"]
    position = [i for i, token in enumerate(ids) if token == tokenizer.mask_token_id][mask_number]
    product = 1.0
    for step, piece in enumerate(pieces):
        filled = ids[:position] + pieces[:step] + [tokenizer.mask_token_id] * (len(pieces) - step) + ids[position + 1:]
        logits = reference_outputs(reference, {"input_ids": filled, "token_type_ids": [0] * len(filled)}).logits[0]
        product *= torch.softmax(logits[position + step].double(), dim=-1)[piece].item()
    return product


def test_a_target_of_several_pieces_scores_the_product_of_its_pieces_filled_left_to_right(
    folder, reference, unmasker, recwarn
):
    tokenizer = our_tokenizer(folder)
    text = "the [MASK] carried a [MASK] at night."
    words = ["dangerous", "doctor", "car", "carpenter"]
    assert [len(tokenizer.tokenize(word)) for word in words] == [4, 3, 1, 4]  # "dangerous": "▁" first
    results = unmasker(text, targets=words)
    assert not [w for w in recwarn.list if issubclass(w.category, UserWarning)]
    for mask_number, per_mask in enumerate(results):
        assert sorted(r["token_str"] for r in per_mask) == sorted(words)
        for record in per_mask:
            ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(record["token_str"]))
            expected = chained_probability(reference, tokenizer, text, record["token_str"], mask_number)
            assert record["score"] == pytest.approx(expected, rel=1e-4), record
            assert record["token"] == ids[0] and record.get("tokens", ids) == ids
            assert ("tokens" in record) == (len(ids) > 1)
        assert [r["score"] for r in per_mask] == sorted((r["score"] for r in per_mask), reverse=True)
    assert results[0][0]["sequence"].startswith(f"the {results[0][0]['token_str']} carried a [MASK]")


def test_targets_that_read_as_nothing_are_refused(unmasker):
    for targets in ([""], ["  "], [], ["car", "\u2581"]):
        with pytest.raises(InputError):
            unmasker("a [MASK] dog.", targets=targets)
    with pytest.raises(InputError, match="special tokens"):
        unmasker("a [MASK] dog.", targets=["car[MASK]"])


def test_text_without_mask_is_a_clear_error(unmasker):
    with pytest.raises(ValueError, match=r"no \[MASK\]"):
        unmasker("there is nothing hidden here.")
    with pytest.raises(InputError, match=r"inputs\[1\] has no"):
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

    from support.tiny import tiny_config

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
    # the docs' example: every target scored as the whole word, whatever its pieces
    records = unmasker("The man worked as a [MASK].", targets=["carpenter", "doctor", "astronaut"])
    assert sorted(r["token_str"] for r in records) == ["astronaut", "carpenter", "doctor"]
