"""Switching heads off (``attnviz.hooks.Ablation``, ``attnviz.ablation``), checked against the models
themselves: the test hooks the output projection's input on its own and compares head slices.

Models: the trained local transformer (3 layers x 4 heads), the default MiniLM (BertModel, 6 x 12)
and a tiny random BertForMaskedLM (2 x 4, eager attention) over MiniLM's tokenizer.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
import torch

import attnviz
from attnviz.ablation import HeadEffect, Prediction, has_lm_head, head_effect, masked_predictions
from attnviz.encoding import plan_batches
from attnviz.errors import EmptyInputError, UnsupportedModelError
from attnviz.hooks import Ablation, record
from attnviz.local.tokenizer import MASK
from attnviz.toygrammar import lexicon
from tests.helpers.tiny_models import torch_mha_model

TEXTS = ["the dogs that the cat sees run fast", "the teacher sings"]


@pytest.fixture(params=["trained", "minilm", "tiny"])
def model(request) -> attnviz.LoadedModel:
    return request.getfixturevalue(request.param)


def out_proj(model: attnviz.LoadedModel, layer: int) -> torch.nn.Module:
    """The output projection of ``layer``'s self-attention, found by the test itself."""
    m = model.module
    if model.is_local:
        return m.encoder[layer].self_attn.out_proj
    base = m.bert if hasattr(m, "bert") else m
    return base.encoder.layer[layer].attention.output.dense


def plain(model: attnviz.LoadedModel, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The final hidden states of an ordinary forward pass, no attnviz hook anywhere."""
    with torch.inference_mode():
        if model.is_local:
            return model.module.encode(ids)
        base = model.module.bert if hasattr(model.module, "bert") else model.module
        return base(input_ids=ids, attention_mask=mask).last_hidden_state


@contextmanager
def out_proj_inputs(model: attnviz.LoadedModel):
    """Collect the input each layer's output projection receives (registered last: after any ablation)."""
    seen: dict[int, torch.Tensor] = {}
    handles = [out_proj(model, layer).register_forward_pre_hook(lambda m, a, layer=layer: seen.__setitem__(layer, a[0].clone()))
               for layer in range(model.n_layers)]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def no_hooks_left(module: torch.nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def padded(model: attnviz.LoadedModel) -> tuple[torch.Tensor, torch.Tensor]:
    batch = plan_batches(model, TEXTS, batch_size=8)[0]
    assert batch.attention_mask.min() == 0  # the batch really has padding
    return batch.ids, batch.attention_mask


# ---------------------------------------------------------------- the hook itself


def test_ablating_nothing_changes_nothing(model):
    ids, mask = padded(model)
    reference = plain(model, ids, mask)
    for mode in ("zero", "mean"):
        with torch.inference_mode(), record(model.module, ablation=Ablation(frozenset(), mode, mask.bool())) as rec:
            out = model.module.encode(ids) if model.is_local else (
                getattr(model.module, "bert", model.module)(input_ids=ids, attention_mask=mask).last_hidden_state)
        assert torch.equal(out, reference)
        assert len(rec.weights["self"]) == model.n_layers
    assert no_hooks_left(model.module)


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_ablating_a_head_changes_exactly_its_slice(model, mode):
    ids, mask = padded(model)
    layer, head = model.n_layers - 2, 1
    d = out_proj(model, layer).in_features // model.n_heads
    with out_proj_inputs(model) as on:
        plain(model, ids, mask)
    with torch.inference_mode(), record(model.module, ablation=Ablation(frozenset({(layer, head)}), mode, mask.bool())):
        with out_proj_inputs(model) as off:
            model.module.encode(ids) if model.is_local else model.module(input_ids=ids, attention_mask=mask)
    for lower in range(layer):  # layers below: untouched
        assert torch.equal(off[lower], on[lower])
    before = on[layer].reshape(*on[layer].shape[:2], model.n_heads, d)
    after = off[layer].reshape(*off[layer].shape[:2], model.n_heads, d)
    others = [h for h in range(model.n_heads) if h != head]
    assert torch.equal(after[:, :, others], before[:, :, others])
    if mode == "zero":
        assert torch.equal(after[:, :, head], torch.zeros_like(after[:, :, head]))
    else:  # the mean over each row's real tokens, by hand; the same vector at every position, padding included
        for row in range(ids.shape[0]):
            real = mask[row].bool()
            expected = before[row, real, head].double().mean(0)
            assert torch.allclose(after[row, :, head].double(), expected.expand(ids.shape[1], d), atol=1e-5)
            assert not torch.allclose(before[row, real, head], after[row, real, head])  # it did change something
    assert not torch.equal(off[layer + 1], on[layer + 1])  # and the change reaches the next layer
    assert no_hooks_left(model.module)


def test_a_pytorch_multihead_attention_model_is_refused():
    model = torch_mha_model()
    ids = torch.tensor([[2, 7, 9, 3]])
    with torch.inference_mode(), record(model.module) as rec:  # recording alone works
        model.module.encode(ids)
    assert rec.stack().shape == (2, 1, 2, 4, 4)
    with pytest.raises(UnsupportedModelError, match="fused"):
        head_effect(model, "the dogs [MASK] fast", [(0, 0)])
    with pytest.raises(UnsupportedModelError, match="fused"):
        masked_predictions(model, ids, [(0, 1)])
    assert has_lm_head(model)
    assert no_hooks_left(model.module)


# ---------------------------------------------------------------- head_effect


def top_k(model, logits: torch.Tensor, k: int) -> list[tuple[int, float]]:
    probs = torch.softmax(logits.double(), -1)
    v, i = probs.topk(k)
    return [(int(a), float(b)) for a, b in zip(i, v)]


def test_head_effect_on_the_trained_model_predicts_with_and_without_heads(trained):
    effect = head_effect(trained, "the dogs [MASK] fast", [(2, 1), (2, 2)], top_k=4)
    assert isinstance(effect, HeadEffect) and effect.heads == ((2, 1), (2, 2)) and effect.mode == "zero"
    assert effect.tokens == ["[CLS]", "the", "dogs", "[MASK]", "fast", "[SEP]"]
    assert len(effect.predictions) == 1
    p = effect.predictions[0]
    assert isinstance(p, Prediction) and p.position == 3 and p.word == "[MASK]"
    assert len(p.top) == len(p.top_off) == 4
    # with every head on: the model's own top 4, computed here without any hook
    ids = torch.tensor([trained.tokenizer.encode("the dogs [MASK] fast").ids])
    with torch.inference_mode():
        logits = trained.module.lm_head(trained.module.encode(ids))[0, 3]
    expected = top_k(trained, logits, 4)
    assert [w for w, _ in p.top] == [trained.tokenizer.vocab[i] for i, _ in expected]
    assert np.allclose([q for _, q in p.top], [q for _, q in expected], atol=1e-6)
    assert lexicon.number_of(p.top[0][0]) == "Plur"  # "the dogs ... run"
    assert p.top_off != p.top  # the heads mattered
    # off: what the batched helper computes for the same input
    off = masked_predictions(trained, ids, [(2, 2), (2, 1)], positions=torch.tensor([3]))[0]
    assert np.allclose([q for _, q in p.top_off], [q for _, q in top_k(trained, off, 4)], atol=1e-6)
    assert (effect.change > 0).all() and effect.change.shape == (6,)


def test_head_effect_at_a_given_position_masks_it(trained):
    effect = head_effect(trained, "the dogs run fast", [(0, 0)], mode="mean", position=3)
    assert [(p.position, p.word) for p in effect.predictions] == [(3, "run")]
    masked = head_effect(trained, "the dogs [MASK] fast", [(0, 0)], mode="mean")
    assert effect.predictions[0].top == masked.predictions[0].top
    assert effect.predictions[0].top_off == masked.predictions[0].top_off
    assert head_effect(trained, "the dogs run fast", [(0, 0)]).predictions == []  # nothing masked


def test_change_is_the_relative_change_of_the_output_vectors(minilm):
    text = "the heavy snow makes driving more difficult"
    layer, head = 5, 3
    effect = head_effect(minilm, text, [(layer, head)])
    assert effect.predictions == [] and not has_lm_head(minilm)
    # by hand: a pre-hook of the test's own on the output projection zeroes the head's slice
    batch = plan_batches(minilm, [text])[0]
    on = plain(minilm, batch.ids, batch.attention_mask)[0].double()

    def zero(module, args):
        x = args[0].clone()
        x[..., head * 32:(head + 1) * 32] = 0
        return (x,)

    handle = out_proj(minilm, layer).register_forward_pre_hook(zero)
    try:
        off = plain(minilm, batch.ids, batch.attention_mask)[0].double()
    finally:
        handle.remove()
    expected = ((off - on).norm(dim=-1) / on.norm(dim=-1)).numpy()
    assert np.allclose(effect.change, expected, atol=1e-6)
    assert (effect.change > 0).all()  # a last-layer head changes every token's output
    nothing = head_effect(minilm, text, [])
    assert nothing.heads == () and np.array_equal(nothing.change, np.zeros(len(nothing.tokens)))


def test_head_effect_on_a_masked_lm_from_hugging_face(tiny):
    effect = head_effect(tiny, "the cat [MASK] on the mat", [(1, 0)], top_k=3)
    assert has_lm_head(tiny) and [p.word for p in effect.predictions] == ["[MASK]"]
    position = effect.predictions[0].position
    assert effect.tokens[position] == "[MASK]"
    ids = plan_batches(tiny, ["the cat [MASK] on the mat"])[0].ids
    with torch.inference_mode():
        logits = tiny.module(input_ids=ids).logits[0, position]
    expected = top_k(tiny, logits, 3)
    assert [w for w, _ in effect.predictions[0].top] == tiny.tokenizer.convert_ids_to_tokens([i for i, _ in expected])
    assert np.allclose([q for _, q in effect.predictions[0].top], [q for _, q in expected], atol=1e-6)
    assert effect.predictions[0].top_off != effect.predictions[0].top


@pytest.mark.parametrize("mode", ["zero", "mean"])
def test_masked_predictions_in_batches_equal_one_at_a_time(trained, mode):
    rows = [trained.tokenizer.encode(t).ids for t in ("the dogs [MASK] fast", "the cat near the trees [MASK]",
                                                      "the [MASK] sleep")]
    width = max(map(len, rows))
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, :len(row)] = torch.tensor(row)
    positions = torch.tensor([row.index(MASK) for row in rows])
    together = masked_predictions(trained, ids, [(1, 2), (2, 1)], mode, positions=positions, batch_size=3)
    for r, row in enumerate(rows):
        alone = masked_predictions(trained, torch.tensor([row]), [(1, 2), (2, 1)], mode, positions=positions[r:r + 1])
        assert torch.allclose(together[r], alone[0], atol=1e-5)
    full = masked_predictions(trained, ids, [(1, 2), (2, 1)], mode, batch_size=2)
    assert full.shape == (3, width, len(trained.tokenizer.vocab))
    assert torch.allclose(full[torch.arange(3), positions], together, atol=1e-5)


# ---------------------------------------------------------------- bad input


def test_bad_input_is_refused_with_a_clear_message(trained, minilm):
    with pytest.raises(EmptyInputError):
        head_effect(trained, "   ", [(0, 0)])
    with pytest.raises(ValueError, match=r"layers 0\.\.2 and heads 0\.\.3"):
        head_effect(trained, "the dogs run", [(3, 0)])
    with pytest.raises(ValueError, match=r"layers 0\.\.5 and heads 0\.\.11"):
        head_effect(minilm, "the dogs run", [(0, 12)])
    with pytest.raises(ValueError, match=r"layers 0\.\.2"):
        head_effect(trained, "the dogs run", [(-1, 0)])
    with pytest.raises(ValueError, match="write"):
        head_effect(trained, "the dogs run", (1, 2))  # one pair where a collection of pairs is expected
    with pytest.raises(ValueError, match="integers"):
        head_effect(trained, "the dogs run", [(1.5, 2)])
    with pytest.raises(ValueError, match="mode"):
        head_effect(trained, "the dogs run", [(0, 0)], mode="random")
    with pytest.raises(ValueError, match="tokens 0..4"):
        head_effect(trained, "the dogs run", [(0, 0)], position=5)
    with pytest.raises(ValueError, match="special"):
        head_effect(trained, "the dogs run", [(0, 0)], position=0)
    with pytest.raises(ValueError, match="top_k"):
        head_effect(trained, "the dogs run", [(0, 0)], top_k=0)
    with pytest.raises(ValueError, match="no masked-word"):
        masked_predictions(minilm, torch.tensor([[101, 102]]))
    assert no_hooks_left(trained.module) and no_hooks_left(minilm.module)
