"""Measures beyond raw weights (attnviz.measures, the value norms recorded by attnviz.hooks).

Every expected number comes from the test itself: hand-worked matrices, a reference loop, a
reference maximum flow by networkx, or value vectors read by the test's own hooks.
"""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoConfig, AutoModel

import attnviz
from attnviz import measures
from attnviz.hooks import Ablation, find_sites, record
from attnviz.measures import MeasureUnavailableError, flow, measure_run, rollout, value_weighted, with_residual
from attnviz.projections import projections
from attnviz.scoring import score_heads
from attnviz.toygrammar.grammar import held_out_corpus
from tests.helpers.hf_families import HF, hf_inputs

# ---------------------------------------------------------------- value-weighted: against hooked values


def reference_norms(module_of_layer, value_of, out_weight_of, text_ids, n_heads, d_head, forward) -> torch.Tensor:
    """‖f_h(x_j)‖ per layer, head, key, from the value vectors the test's own hooks read."""
    values = []
    handles = [value_of(layer).register_forward_hook(lambda m, a, out: values.append(out.detach().clone()))
               for layer in module_of_layer]
    with torch.no_grad():
        forward(text_ids)
    for h in handles:
        h.remove()
    norms = []
    for layer, v in zip(module_of_layer, values):
        w = out_weight_of(layer).detach()  # (d_out, heads * d_head)
        per_head = [(v[0, :, h * d_head:(h + 1) * d_head] @ w[:, h * d_head:(h + 1) * d_head].T).norm(dim=-1) for h in range(n_heads)]
        norms.append(torch.stack(per_head))  # (heads, key)
    return torch.stack(norms)  # (layers, heads, key)


def test_value_norms_of_the_local_transformer_equal_the_hooked_values():
    for model in (attnviz.local_model(), attnviz.load_trained()):
        run = attnviz.capture(model, "the dogs near the cat run")
        m = model.module
        ids = torch.tensor([model.tokenizer.encode(run.text).ids])
        ref = reference_norms(list(m.encoder), lambda layer: layer.self_attn.v_proj, lambda layer: layer.self_attn.out_proj.weight,
                              ids, m.config.num_heads, m.config.d_model // m.config.num_heads, m.encode)
        assert run.value_norms.shape == (model.n_layers, model.n_heads, run.n_tokens)
        np.testing.assert_allclose(run.value_norms, ref.numpy(), atol=1e-5, rtol=1e-5)
        # ‖α_ij f_h(x_j)‖ recomputed: the weight times the norm
        expected = run.attention * ref.numpy()[:, :, None, :]
        np.testing.assert_allclose(value_weighted(run), expected, atol=1e-5, rtol=1e-5)


def test_value_norms_follow_the_output_projection_when_its_weight_changes():
    """The per-head factor of W_O is kept with the model's projections; a weight changed in place, or replaced, is
    read again (a stale factor would give the norms of the old weights)."""
    model = attnviz.local_model()
    before = attnviz.capture(model, "the dogs near the cat run").value_norms
    out = model.module.encoder[0].self_attn.out_proj
    with torch.no_grad():
        out.weight.mul_(2.0)  # changed in place: its version moves
    doubled = attnviz.capture(model, "the dogs near the cat run").value_norms
    np.testing.assert_allclose(doubled[0], 2 * before[0], rtol=1e-5)  # layer 0's values are the same; its W_O doubled
    out.weight = nn.Parameter(out.weight.detach() * 0.25)  # another tensor
    halved = attnviz.capture(model, "the dogs near the cat run").value_norms
    np.testing.assert_allclose(halved[0], 0.5 * before[0], rtol=1e-5)


@pytest.fixture(scope="module")
def minilm():
    return attnviz.load_model("sentence-transformers/all-MiniLM-L6-v2")


def test_value_norms_of_minilm_equal_the_hooked_values(minilm):
    run = attnviz.capture(minilm, "heavy snow makes driving more difficult")
    bert = minilm.module
    ids = torch.tensor([minilm.tokenizer(run.text)["input_ids"]])
    layers = [layer.attention for layer in bert.encoder.layer]
    ref = reference_norms(layers, lambda a: a.self.value, lambda a: a.output.dense.weight, ids, 12, 32, lambda x: bert(input_ids=x))
    np.testing.assert_allclose(run.value_norms, ref.numpy(), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(value_weighted(run), run.attention * ref.numpy()[:, :, None, :], atol=1e-5, rtol=1e-5)
    rows = value_weighted(run, normalise=True).sum(-1)
    np.testing.assert_allclose(rows, 1, atol=1e-5)


def test_value_norms_survive_dropping_specials_and_are_gone_at_word_level(minilm):
    run = attnviz.capture(minilm, "heavy snow makes driving more difficult")
    kept = run.view("token", drop_special=True)
    np.testing.assert_array_equal(kept.value_norms, run.value_norms[..., ~run.special])
    assert run.view("word").value_norms is None
    with pytest.raises(MeasureUnavailableError, match="word-level"):
        value_weighted(run.view("word"))


def _out_module_input(model: nn.Module):
    """Hooks on every self-attention site's output projection: (hooks, inputs recorded in call order)."""
    seen, handles = [], []
    for site in find_sites(model):
        if site.kind != "self":
            continue
        parent = model.get_submodule(site.name.rsplit(".", 1)[0]) if "." in site.name else model
        out = projections(site.module, parent).out
        handles.append(out.register_forward_pre_hook(lambda m, a: seen.append(a[0].detach().clone())))
    return handles, seen


@pytest.mark.parametrize("family", sorted(HF))
def test_value_norms_of_every_family_match_the_output_projections_input(family):
    """With the look-ahead mask, query 0 attends only to key 0 (α = 1), so the input of the output
    projection at position 0 is the value vector of key 0 itself: W_O^h applied to its head-h slice
    must have the recorded norm ‖f_h(x_0)‖. This reads the values a second way (the output
    projection's input, not the value module's output), so a wrong layout or head split fails."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModel.from_config(AutoConfig.for_model(family, **HF[family]), attn_implementation="eager").eval()
    handles, seen = _out_module_input(model)
    try:
        with torch.inference_mode(), record(model, causal=True, values=True) as rec:
            model(**hf_inputs(family))
    finally:
        for h in handles:
            h.remove()
    norms = rec.norms("self")
    assert norms is not None, rec.values_missing
    site = next(s for s in find_sites(model) if s.kind == "self")
    parent = model.get_submodule(site.name.rsplit(".", 1)[0])
    p = projections(site.module, parent)
    assert norms.shape[:3] == (len(seen), 2, p.n_heads)
    self_sites = [s for s in find_sites(model) if s.kind == "self"]
    for layer, z in enumerate(seen):
        site_l = self_sites[layer % len(self_sites)]  # ALBERT runs one shared layer module every time
        w = projections(site_l.module, model.get_submodule(site_l.name.rsplit(".", 1)[0])).out_weight().detach().float()
        z0 = z[:, 0].float().reshape(z.shape[0], p.n_heads, p.head_dim)  # (batch, heads, d_head) at query 0
        expected = torch.einsum("bhd,ohd->bho", z0, w).norm(dim=-1)  # (batch, heads)
        torch.testing.assert_close(norms[layer, :, :, 0], expected, atol=1e-5, rtol=1e-4)


def test_value_norms_of_torch_multihead_attention():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True, dropout=0.0)
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    x = torch.randn(1, 5, 8)
    with torch.inference_mode(), record(encoder, values=True) as rec:
        encoder(x)
    norms = rec.norms()
    # reference: the first layer's value vectors from its own in-projection weights
    mha = encoder.layers[0].self_attn
    with torch.no_grad():
        v = x[0] @ mha.in_proj_weight[16:].T + mha.in_proj_bias[16:]  # (5, 8)
        w = mha.out_proj.weight
        ref = torch.stack([(v[:, h * 4:(h + 1) * 4] @ w[:, h * 4:(h + 1) * 4].T).norm(dim=-1) for h in range(2)])
    torch.testing.assert_close(norms[0, 0], ref, atol=1e-5, rtol=1e-5)
    assert norms.shape == (2, 1, 2, 5)


def test_a_model_whose_projections_cannot_be_read_records_weights_and_says_why():
    """Falcon packs Q, K and V in a layout attnviz has not checked: the weights are recorded, the norms
    are not, with the reason; switching its heads off is refused."""
    config = AutoConfig.for_model("falcon", vocab_size=120, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                                  new_decoder_architecture=True, num_kv_heads=2)
    model = AutoModel.from_config(config, attn_implementation="eager").eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.inference_mode(), record(model, values=True) as rec:
        model(input_ids=ids)
    assert rec.stack().shape == (2, 1, 4, 4, 4)
    assert rec.norms() is None
    assert "FalconAttention" in rec.values_missing and "query_key_value" in rec.values_missing
    with pytest.raises(attnviz.UnsupportedModelError, match="heads cannot be switched off.*FalconAttention"):
        with torch.inference_mode(), record(model, ablation=Ablation(frozenset({(0, 1)}))):
            model(input_ids=ids)


def test_value_weighted_needs_the_recorded_norms():
    run = attnviz.capture(attnviz.local_model(), "the dog runs")
    from dataclasses import replace

    missing = replace(run, value_norms=None, meta={**run.meta, "values_missing": "SomeAttention keeps its projections elsewhere"})
    with pytest.raises(MeasureUnavailableError, match="SomeAttention keeps its projections elsewhere"):
        value_weighted(missing)
    with pytest.raises(MeasureUnavailableError):
        measure_run(missing, "value")


# ---------------------------------------------------------------- rollout and flow on hand-built matrices

A1 = np.array([[0.5, 0.5, 0.0], [0.2, 0.2, 0.6], [0.0, 1.0, 0.0]])
A2 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.3, 0.3, 0.4]])


def attention_of(*layers) -> np.ndarray:
    """[layers, heads=2, n, n]: each layer's two heads average to the given matrix."""
    out = []
    for a in layers:
        noise = np.array([[0.1, -0.1, 0.0], [0.0, 0.05, -0.05], [0.0, 0.0, 0.0]])
        out.append([a + noise, a - noise])
    return np.array(out)


def test_rollout_of_one_layer_is_half_attention_plus_half_identity():
    by_hand = np.array([[0.75, 0.25, 0.0], [0.1, 0.6, 0.3], [0.0, 0.5, 0.5]])  # 0.5 A1 + 0.5 I (rows already sum to 1)
    np.testing.assert_allclose(rollout(attention_of(A1))[0], by_hand, atol=1e-6)
    np.testing.assert_allclose(with_residual(attention_of(A1))[0], by_hand, atol=1e-6)


def test_rollout_renormalises_rows_that_do_not_sum_to_one():
    a = np.array([[[[0.2, 0.2], [0.0, 0.6]]]])  # rows sum to 0.4 and 0.6
    # 0.5 A + 0.5 I = [[0.6, 0.1], [0, 0.8]] -> rows / sums
    np.testing.assert_allclose(rollout(a)[0], [[0.6 / 0.7, 0.1 / 0.7], [0.0, 1.0]], atol=1e-6)


def test_rollout_multiplies_the_layers():
    r1 = 0.5 * A1 + 0.5 * np.eye(3)
    r2 = 0.5 * A2 + 0.5 * np.eye(3)
    out = rollout(attention_of(A1, A2))
    np.testing.assert_allclose(out[0], r1, atol=1e-6)
    np.testing.assert_allclose(out[1], r2 @ r1, atol=1e-6)
    np.testing.assert_allclose(out.sum(-1), 1, atol=1e-6)


def reference_flow(layers: list[np.ndarray], i: int, j: int) -> float:
    """networkx's maximum flow through the layered graph, built here from the matrices."""
    g = nx.DiGraph()
    for k, a in enumerate(layers):
        r = 0.5 * a + 0.5 * np.eye(len(a))
        r = r / r.sum(-1, keepdims=True)
        for q in range(len(a)):
            for key in range(len(a)):
                g.add_edge((k + 1, q), (k, key), capacity=float(r[q, key]))
    return nx.maximum_flow_value(g, (len(layers), i), (0, j))


def test_flow_equals_a_reference_maximum_flow_and_beats_every_single_path():
    att = attention_of(A1, A2)
    got = flow(att, layer=1)
    r1, r2 = (0.5 * a + 0.5 * np.eye(3) for a in (A1, A2))
    for i in range(3):
        for j in range(3):
            assert got[i, j] == pytest.approx(reference_flow([A1, A2], i, j), abs=1e-6)
            best_path = max(min(r2[i, m], r1[m, j]) for m in range(3))  # one path i -> m -> j
            assert got[i, j] >= best_path - 1e-6
            assert got[i, j] <= 1 + 1e-6  # nothing leaves a node beyond its row's total
    # one layer: the only path is the edge itself
    np.testing.assert_allclose(flow(att, layer=0), r1, atol=1e-6)


def test_flow_of_chosen_rows_equals_those_rows_of_the_whole_flow():
    att = attention_of(A1, A2)
    whole = flow(att, layer=1)
    part = flow(att, layer=1, rows=[2])
    np.testing.assert_array_equal(part[2], whole[2])
    assert not part[:2].any()


def test_flow_refuses_long_inputs_with_the_limit_in_the_message():
    att = np.full((1, 1, 40, 40), 1 / 40)
    with pytest.raises(MeasureUnavailableError, match="limited to 32 tokens.*40"):
        flow(att, 0)


# ---------------------------------------------------------------- measure_run: every view works


def test_measure_run_gives_attention_shaped_runs():
    run = attnviz.capture(attnviz.load_trained(), "the dogs near the cat run")
    n, layers, heads = run.n_tokens, run.n_layers, run.n_heads
    assert measure_run(run, "attention") is run
    value = measure_run(run, "value")
    assert value.attention.shape == (layers, heads, n, n)
    np.testing.assert_allclose(value.attention.sum(-1), 1, atol=1e-5)
    roll = measure_run(run, "rollout")
    assert roll.attention.shape == (layers, 1, n, n) and roll.meta["measure"] == "rollout"
    np.testing.assert_allclose(roll.attention[:, 0], rollout(run.attention), atol=1e-6)
    fl = measure_run(run, "flow", layer=2)
    assert fl.attention.shape == (layers, 1, n, n)
    assert not fl.attention[:2].any() and np.allclose(fl.attention[2, 0].sum(-1), 1, atol=1e-5)
    every = measure_run(run, "flow", all_layers=True)
    for k in range(layers):  # every layer, each the one-layer flow
        np.testing.assert_array_equal(every.attention[k], measure_run(run, "flow", layer=k).attention[k])
    for derived in (value, roll, fl):
        words = derived.view("word", drop_special=True)
        assert words.attention.shape[-1] == len(run.words)
        np.testing.assert_allclose(words.attention[-1].sum(-1), 1, atol=1e-4)
    with pytest.raises(ValueError, match="unknown measure"):
        measure_run(run, "saliency")
    with pytest.raises(ValueError, match="layer"):
        measure_run(run, "flow")
    with pytest.raises(ValueError, match="token-level"):
        measure_run(run.view("word"), "rollout")


def test_every_measure_has_an_explanation_and_a_paper():
    assert list(measures.MEASURES) == ["attention", "value", "rollout", "flow"]
    for m in measures.MEASURES.values():
        assert m.explanation and m.paper and m.url.startswith("https://arxiv.org/")
    assert "32" in measures.MEASURES["flow"].label


# ---------------------------------------------------------------- scoring on value-weighted attention


def test_score_heads_on_value_weighted_attention_matches_a_per_sentence_reference():
    model = attnviz.load_trained()
    sentences = held_out_corpus(40)
    scores = score_heads(model, sentences, measure="value")
    assert scores.meta["measure"] == "value"
    # reference: one capture per sentence, value-weighted, merged to words, argmax by hand
    runs = attnviz.capture_batch(model, [s.words for s in sentences])
    word_att = [measure_run(r, "value").view("word", drop_special=True).attention for r in runs]
    ref = attnviz.scoring.scores_from_attention(word_att, sentences)
    np.testing.assert_allclose(scores.accuracy, ref.accuracy, atol=1e-9)
    raw = score_heads(model, sentences)
    assert not np.array_equal(raw.accuracy, scores.accuracy)  # the measure changes something
    with pytest.raises(ValueError, match="'attention' or 'value'"):
        score_heads(model, sentences, measure="rollout")
