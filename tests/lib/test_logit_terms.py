"""The terms of each logit (attnviz.logits.record_logits, attnviz.logit_terms.LogitTerms, capture(qk=True)).

For every family of docs/reliability.md, softmax of the recorded terms gives back the recorded weights within
1e-5, in a padded batch, with and without ``causal=True``, and the model's outputs are what they are without
recording (the families test's own runner, ``run_family``, with every ``attnviz.record`` run as
``record_logits``). Then what each family adds: rotary queries and keys, grouped-query keys, T5's and
DeBERTa-v2's position terms, Gemma 2's softcap and sliding window; the per-dimension products; refusals; opt-in.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch
import transformers.models.bert.modeling_bert as modeling_bert
from torch import nn
from transformers import AutoConfig, AutoModel

import attnviz
from attnviz.logit_readers import UnsupportedLogitsError
from attnviz.logits import record_logits
from tests.helpers.hf_families import HF, V, build_hf, hf_inputs
from tests.helpers.logit_check import TOLERANCE, logits_everywhere, weights_diff
from tests.lib.test_hooks_families import (
    ALL,
    assert_faithful,
    recorded_with_projections,
    rotary_projections,
    rotated,
    run_family,
)


@pytest.mark.parametrize("family", ALL)
def test_the_terms_give_back_the_weights(family):
    with logits_everywhere() as diffs:
        result = run_family(family)[0]
    assert_faithful(result)  # recorded weights = reference, masks, outputs unchanged, causal: all under record_logits
    assert len(diffs) >= 2 and max(diffs) <= TOLERANCE, diffs  # the plain and the causal recordings


def recorded(model, inputs, **kwargs):
    with torch.inference_mode(), record_logits(model, **kwargs) as rec:
        model(**inputs)
    return rec


def test_local_transformer_every_kind():
    model = attnviz.local_model().module
    ids = torch.randint(3, 20, (2, 7))
    for causal in (False, True):
        with torch.inference_mode(), record_logits(model, causal=causal) as rec:
            model(ids, ids)
        assert sorted(rec.logits) == ["cross", "decoder", "self"]
        assert weights_diff(rec) <= TOLERANCE


# ---------------------------------------------------------------- what each family adds


def sharpened(model: nn.Module, *names: str, factor: float = 20.0) -> nn.Module:
    """``model`` with the parameters whose names hold one of ``names`` multiplied by ``factor``: random initial
    weights give logits of 1e-2 and position terms of 1e-4, too small for a term left out to show."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(n in name for n in names):
                p.mul_(factor)
    return model


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_rotary_queries_and_keys_are_the_rotated_ones(family):
    model = build_hf(family)
    with logits_everywhere():  # the families test's recording, with the logit terms
        seen, rec = recorded_with_projections(model, hf_inputs(family), rotary_projections(model))
    terms = rec.logits["self"]
    group = model.config.num_attention_heads // model.config.num_key_value_heads
    for layer in range(model.config.num_hidden_layers):
        q, k = rotated(model, seen, layer)  # by hand, from the projections' outputs
        assert np.abs(terms.queries[layer] - q.numpy()).max() <= 1e-6
        assert np.abs(terms.keys[layer] - k.repeat_interleave(group, dim=1).numpy()).max() <= 1e-6
    assert np.allclose(terms.scale, terms.queries.shape[-1] ** -0.5) and terms.bias is None


def test_grouped_query_keys_are_repeated_for_the_heads_that_read_them():
    model = build_hf("mistral")  # 4 query heads, 2 key heads
    terms = recorded(model, hf_inputs("mistral")).logits["self"]
    assert terms.queries.shape == terms.keys.shape == (2, 2, 4, 9, 4)
    for kv_head, heads in ((0, (0, 1)), (1, (2, 3))):
        assert np.array_equal(terms.keys[:, :, heads[0]], terms.keys[:, :, heads[1]]), kv_head
    assert not np.array_equal(terms.keys[:, :, 1], terms.keys[:, :, 2])


def test_t5_relative_position_bias():
    model = build_hf("t5")
    rec = recorded(model, hf_inputs("t5"))
    attention = model.encoder.block[0].layer[0].SelfAttention
    with torch.inference_mode():
        own = attention.compute_bias(9, 9)  # (1, heads, query, key)
    encoder = rec.logits["self"]
    assert encoder.bias.shape == (2, 1, 4, 9, 9) and encoder.scale.tolist() == [1.0, 1.0]  # T5 does not scale
    for layer in range(2):  # every layer adds the first layer's bias
        assert np.abs(encoder.bias[layer] - own.numpy()).max() <= 1e-6
    assert rec.logits["decoder"].bias is not None and rec.logits["cross"].bias is None


@pytest.mark.parametrize("family, names", [("t5", ("relative_attention_bias", ".q.", ".k.")),
                                           ("mpnet", ("relative_attention_bias", ".q.", ".k.")),
                                           ("deberta-v2", ("rel_embeddings", "proj"))])
def test_the_position_terms_are_part_of_the_logits(family, names):
    rec = recorded(sharpened(build_hf(family), *names), hf_inputs(family))
    assert weights_diff(rec) <= TOLERANCE
    terms = rec.logits["self"]
    without = dataclasses.replace(terms, bias=None)
    assert np.abs(without.weights(1) - rec.stack("self")[1].numpy()).max() > 1e-2  # leaving them out shows


def test_deberta_v2_disentangled_position_terms():
    model = sharpened(build_hf("deberta-v2"), "rel_embeddings", "proj")  # c2p and p2c
    rec = recorded(model, hf_inputs("deberta-v2"), causal=True)
    terms = rec.logits["self"]
    assert terms.family == "deberta-v2" and terms.bias.shape == (2, 2, 4, 9, 9)  # (layers, batch, heads, q, k)
    assert np.allclose(terms.scale, 1 / math.sqrt(4 * 3))  # sqrt(d_head * (1 + c2p + p2c))
    assert weights_diff(rec) <= TOLERANCE  # with the look-ahead DeBERTa-v2 does not have of its own


def test_gemma2_softcap_and_sliding_window():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = AutoConfig.for_model("gemma2", **HF["gemma2"], attn_logit_softcapping=0.5)  # a cap that bites
        torch.manual_seed(0)
        model = sharpened(AutoModel.from_config(config).eval(), "q_proj", "k_proj")
    rec = recorded(model, hf_inputs("gemma2"))
    terms = rec.logits["self"]
    assert terms.softcap == 0.5 and weights_diff(rec) <= TOLERANCE
    assert np.abs(dataclasses.replace(terms, softcap=None).weights(0) - rec.stack("self")[0].numpy()).max() > 1e-2
    sliding, full = (model.config.layer_types.index(t) for t in ("sliding_attention", "full_attention"))
    causal = np.tril(np.ones((9, 9), dtype=bool))
    window = causal & ~np.tril(np.ones((9, 9), dtype=bool), -4)  # the last 4 positions, itself included
    assert np.array_equal(terms.mask[sliding, 0, 0], window) and np.array_equal(terms.mask[full, 0, 0], causal)
    assert not terms.mask[sliding, 1, 0, :, 6:].any()  # the padded keys of the second row


def test_dot_terms_sum_to_the_q_k_part():
    rec = recorded(build_hf("llama"), hf_inputs("llama"))
    terms = rec.logits["self"]
    qk = terms.qk(1)
    for batch, head, query, key in ((0, 0, 5, 2), (1, 3, 8, 0), (0, 2, 4, 4)):
        parts = terms.dot_terms(1, head, query, key, batch)
        assert parts.shape == (4,)
        assert abs(parts.sum() * terms.scale[1] - qk[batch, head, query, key]) <= 1e-5


# ---------------------------------------------------------------- refusals


def test_a_family_with_its_own_attention_code_is_refused_by_name():
    """BLOOM: attnviz records its weights, but it adds ALiBi in its own code, outside the attention interface."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModel.from_config(AutoConfig.for_model("bloom", vocab_size=V, hidden_size=16, n_layer=2, n_head=4)).eval()
    inputs = hf_inputs("bert")
    with torch.inference_mode(), attnviz.record(model):
        model(**inputs)  # the weights are recorded
    with pytest.raises(UnsupportedLogitsError, match=r"BloomAttention at 'h\.0\.self_attention' computes its attention in its own code"):
        recorded(model, inputs)


def test_gpt2_reordered_and_upcast_attention_is_refused():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModel.from_config(AutoConfig.for_model("gpt2", **HF["gpt2"], reorder_and_upcast_attn=True)).eval()
    with pytest.raises(UnsupportedLogitsError, match=r"GPT2Attention at 'h\.0\.attn' has reorder_and_upcast_attn=True"):
        recorded(model, hf_inputs("gpt2"))


def test_a_logit_term_attnviz_does_not_record_is_refused(monkeypatch):
    """A BERT whose eager attention adds a term of its own (a bias per key, as ALiBi would): the weights pass
    record's check (rows still sum to 1), the logit terms do not, and the module is named."""
    own = modeling_bert.eager_attention_forward

    def with_a_key_bias(module, query, key, value, attention_mask, **kwargs):
        per_key = torch.arange(key.size(-2), dtype=query.dtype) * 0.1
        return own(module, query, key, value, per_key if attention_mask is None else attention_mask + per_key, **kwargs)

    monkeypatch.setattr(modeling_bert, "eager_attention_forward", with_a_key_bias)
    model = build_hf("bert")
    with pytest.raises(UnsupportedLogitsError, match=r"BertSelfAttention at 'encoder\.layer\.0\.attention\.self'.*does not record"):
        recorded(model, hf_inputs("bert"))


def test_multihead_attention_with_an_extra_key_is_refused():
    mha = nn.MultiheadAttention(8, 2, add_bias_kv=True, batch_first=True).eval()
    x = torch.randn(1, 5, 8)
    with pytest.raises(UnsupportedLogitsError, match="add_bias_kv"), torch.inference_mode(), record_logits(mha):
        mha(x, x, x)


# ---------------------------------------------------------------- opt-in, and nothing left behind


def test_opt_in_and_nothing_left_behind():
    model = build_hf("deberta-v2")
    inputs = hf_inputs("deberta-v2")
    with torch.inference_mode(), attnviz.record(model) as rec:
        model(**inputs)
    assert rec.logits == {}  # record alone keeps no terms
    attention = model.encoder.layer[0].attention.self
    recorded(model, inputs)
    assert "disentangled_attention_bias" not in vars(attention)  # the wrapped method is the class's again
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    llama = build_hf("llama")
    before = llama.config._attn_implementation
    recorded(llama, hf_inputs("llama"))
    assert llama.config._attn_implementation == before


def test_capture_with_qk(tiny):
    texts = ["heavy snow makes driving more difficult", "snow falls"]
    runs = attnviz.capture_batch(tiny, texts, qk=True)
    for run in runs:  # each row cut to its own tokens: the terms give back its weights
        terms = run.qk["self"]
        n = run.n_tokens
        assert terms.queries.shape == (2, 1, 4, n, 4) and terms.mask.shape[-2:] == (n, n)
        for layer in range(run.n_layers):
            assert np.abs(terms.weights(layer)[0] - run.attention[layer]).max() <= TOLERANCE
    assert attnviz.capture(tiny, texts[0]).qk is None  # opt-in
    assert runs[0].view("word").qk is None and runs[0].view(drop_special=True).qk is None


def test_capture_of_an_encoder_decoder_has_every_kind():
    run = attnviz.capture(attnviz.local_model(), "the dogs run", qk=True)
    assert sorted(run.qk) == ["cross", "decoder", "self"]
    for kind, weights in (("self", run.attention), ("decoder", run.decoder_attention), ("cross", run.cross_attention)):
        for layer in range(run.n_layers):
            assert np.abs(run.qk[kind].weights(layer)[0] - weights[layer]).max() <= TOLERANCE, kind
