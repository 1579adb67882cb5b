"""Leave-one-out erasure (``attnviz.erasure``) against a reference loop written here: one unbatched
forward pass per erased word, straight through the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import attnviz
from attnviz.encoding import plan_batches
from attnviz.erasure import erasure
from attnviz.errors import EmptyInputError
from attnviz.local.tokenizer import MASK
from tests.helpers.tiny_models import torch_mha_model


def word_spans(model, text) -> list[list[int]]:
    return attnviz.capture(model, text).word_spans


def leave_one_out(model, text, position: int, ids: torch.Tensor, blank: int, score) -> np.ndarray:
    """``score(x)`` with every word erased in turn (its tokens set to ``blank``), one pass each; 0 for the
    word at ``position``."""
    out = []
    for span in word_spans(model, text):
        if position in span:
            out.append(0.0)
            continue
        x = ids.clone()
        x[span] = blank
        out.append(score(x))
    return np.array(out)


def reference_lm(model, text, position: int, target: int | None = None) -> np.ndarray:
    """p(target | full) - p(target | word erased) at ``position`` (masked), one forward pass per word."""
    ids = plan_batches(model, [text])[0].ids[0]
    blank = MASK if model.is_local else model.tokenizer.mask_token_id
    ids = ids.clone()
    ids[position] = blank

    def probs(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            if model.is_local:
                logits = model.module.lm_head(model.module.encode(x[None]))
            else:
                logits = model.module(input_ids=x[None]).logits
        return torch.softmax(logits[0, position].double(), -1)

    full = probs(ids)
    target = int(full.argmax()) if target is None else target
    return leave_one_out(model, text, position, ids, blank, lambda x: float(full[target] - probs(x)[target]))


def reference_vectors(model, text, position: int) -> np.ndarray:
    """1 - cos of the final output vector at ``position``, one forward pass per erased word."""
    ids = plan_batches(model, [text])[0].ids[0]

    def vector(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model.module(input_ids=x[None]).last_hidden_state[0, position].double()

    full = vector(ids)
    return leave_one_out(model, text, position, ids, model.tokenizer.mask_token_id,
                         lambda x: float(1 - torch.nn.functional.cosine_similarity(vector(x), full, dim=0)))


def test_trained_model_against_the_reference_loop(trained):
    text = "the dogs that the cat sees [MASK] fast"
    importance = erasure(trained, text, position=7)
    expected = reference_lm(trained, text, 7)
    assert importance.shape == (8,) and importance[6] == 0  # [MASK] is word 6, token 7
    assert np.allclose(importance, expected, atol=1e-6)
    # the subject matters more for the verb than the attractor "cat" or the adverb
    assert importance[1] > max(importance[4], importance[7])
    # an explicit target: the correct form "run"
    run = trained.tokenizer.token_id("run")
    assert np.allclose(erasure(trained, text, 7, target=run), reference_lm(trained, text, 7, run), atol=1e-6)
    # position given on an unmasked word: it is masked first, so the result is the same
    assert np.allclose(erasure(trained, "the dogs that the cat sees run fast", 7, target=run),
                       erasure(trained, text, 7, target=run), atol=1e-12)


def test_a_text_as_a_list_of_words(trained, minilm):
    words = ["the", "dogs", "[MASK]", "fast"]
    assert np.array_equal(erasure(trained, words, 3), erasure(trained, " ".join(words), 3))
    assert np.array_equal(erasure(minilm, words, 2), erasure(minilm, " ".join(words), 2))


def test_an_encoder_without_lm_head_against_the_reference_loop(minilm):
    text = "Unbelievably, the snowfall's heaviness made driving difficult."
    spans = word_spans(minilm, text)
    assert any(len(s) > 1 for s in spans)  # multi-token words: every token of a word is erased
    position = spans[4][0]  # "heaviness"
    importance = erasure(minilm, text, position)
    assert importance.shape == (len(spans),) and importance[4] == 0
    assert np.allclose(importance, reference_vectors(minilm, text, position), atol=1e-6)
    assert (np.delete(importance, 4) > 0).all()
    assert np.allclose(erasure(minilm, text, 0), reference_vectors(minilm, text, 0), atol=1e-6)  # [CLS]: a sentence vector


@pytest.mark.parametrize("name", ["trained", "minilm", "tiny"])
def test_batched_equals_unbatched(name, request):
    model = request.getfixturevalue(name)
    text = "the dogs that the cat sees [MASK] fast" if name == "trained" else "the cat near the old houses [MASK] loudly"
    position = [t for t, tok in enumerate(plan_batches(model, [text])[0].encoded[0].tokens) if tok == "[MASK]"][0]
    one = erasure(model, text, position, batch_size=1)
    assert not np.allclose(one, 0)
    for size in (2, 3, 64):
        assert np.allclose(erasure(model, text, position, batch_size=size), one, atol=1e-5)


def test_a_hugging_face_masked_lm_against_the_reference_loop(tiny):
    text = "the cat near the old houses [MASK] loudly"
    position = plan_batches(tiny, [text])[0].encoded[0].tokens.index("[MASK]")
    assert np.allclose(erasure(tiny, text, position), reference_lm(tiny, text, position), atol=1e-6)


def test_a_pytorch_multihead_attention_model_works(minilm):
    model = torch_mha_model()  # erasure needs no hooks, so nn.MultiheadAttention is fine here
    importance = erasure(model, "the dogs [MASK] fast", 3)
    assert importance.shape == (4,) and importance[2] == 0 and np.abs(importance).sum() > 0


def test_bad_input(trained, minilm):
    with pytest.raises(EmptyInputError):
        erasure(trained, "  ", 1)
    with pytest.raises(EmptyInputError):
        erasure(trained, ["", " "], 1)
    with pytest.raises(ValueError, match="tokens 0..5"):
        erasure(trained, "the dogs [MASK] fast", 6)
    with pytest.raises(ValueError, match="special"):
        erasure(trained, "the dogs [MASK] fast", 0)
    with pytest.raises(ValueError, match="vocabulary id"):
        erasure(trained, "the dogs [MASK] fast", 3, target=10_000)
    with pytest.raises(ValueError, match="no LM head"):
        erasure(minilm, "the dogs run fast", 3, target=5)
    with pytest.raises(ValueError, match="batch_size"):
        erasure(trained, "the dogs [MASK] fast", 3, batch_size=0)
