"""Hooks on PyTorch's own attention: nn.MultiheadAttention and nn.TransformerEncoder."""

import math

import pytest
import torch
from torch import nn

import attnviz
from attnviz.local.model import Transformer, TransformerConfig


def no_hooks_left(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_multihead_attention_seq_first_textbook_shapes():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(embed_dim=4, num_heads=2).eval()
    q, k, v = torch.randn(10, 5, 4), torch.randn(10, 5, 4), torch.randn(10, 5, 4)
    with torch.no_grad():
        ref_out, ref_w = mha(q, k, v, need_weights=True, average_attn_weights=False)
        with attnviz.record(mha) as rec:
            out, _ = mha(q, k, v, need_weights=False)  # the caller asks for no weights: we get them anyway
    weights = rec.stack()
    assert out.shape == (10, 5, 4)
    assert weights.shape == (1, 5, 2, 10, 10)
    assert torch.allclose(out, ref_out, atol=1e-6)
    assert (weights[0] - ref_w).abs().max() <= 1e-6
    assert no_hooks_left(mha)


def textbook_encoder() -> nn.TransformerEncoder:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(d_model=4, nhead=2)
    return nn.TransformerEncoder(layer, num_layers=6, enable_nested_tensor=False).eval()


def test_transformer_encoder_textbook_example():
    encoder = textbook_encoder()
    src = torch.randn(10, 5, 4)  # (seq_len, batch, embed), batch_first=False
    with torch.no_grad():
        plain = encoder(src)
        with attnviz.record(encoder) as rec:
            out = encoder(src)
    weights = rec.stack()
    assert out.shape == (10, 5, 4)
    assert weights.shape == (6, 5, 2, 10, 10)  # layers, batch, heads, query, key
    assert torch.allclose(out, plain, atol=1e-6)
    assert torch.allclose(weights.sum(-1), torch.ones(6, 5, 2, 10), atol=1e-5)
    # layer 0 recomputed by hand from its input: softmax(Q K^T / sqrt(d_head))
    attn = encoder.layers[0].self_attn
    with torch.no_grad():
        x = src.transpose(0, 1)  # (batch, seq, embed)
        q, k, _ = (x @ attn.in_proj_weight.T + attn.in_proj_bias).chunk(3, dim=-1)
        q, k = (t.view(5, 10, 2, 2).transpose(1, 2) for t in (q, k))  # (batch, heads, seq, d_head)
        manual = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(2), dim=-1)
    assert (weights[0] - manual).abs().max() <= 1e-5
    assert no_hooks_left(encoder)


def test_fast_path_encoder_is_captured_and_unchanged():
    torch.manual_seed(1)
    layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, batch_first=True)
    encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False).eval()
    src = torch.randn(3, 7, 8)
    with torch.inference_mode():
        fast = encoder(src)  # eval + no grad + batch_first: the fused fast path
        with attnviz.record(encoder) as rec:
            out = encoder(src)
    assert rec.stack().shape == (2, 3, 2, 7, 7)
    assert (out - fast).abs().max() <= 1e-5


def test_causal_mask_through_hooks_on_torch_encoder():
    encoder = textbook_encoder()
    src = torch.randn(10, 5, 4)
    with torch.no_grad():
        plain = encoder(src)
        with attnviz.record(encoder, causal=True) as rec:
            masked = encoder(src)
        expected = encoder(src, mask=nn.Transformer.generate_square_subsequent_mask(10))
    w = rec.stack()
    assert torch.equal(torch.triu(w, 1), torch.zeros_like(w))
    assert torch.allclose(w.sum(-1), torch.ones_like(w.sum(-1)), atol=1e-5)
    assert rec.masks["self"].shape[-2:] == (10, 10) and not rec.masks["self"][0, 0, 1]
    assert not torch.allclose(plain, masked)
    assert torch.allclose(masked, expected, atol=1e-5)


def test_hooks_are_removed_when_the_forward_raises():
    encoder = textbook_encoder()
    with pytest.raises(AssertionError, match="embedding dimension"):
        with attnviz.record(encoder):
            encoder(torch.randn(10, 5, 3))  # wrong embedding size
    assert no_hooks_left(encoder)
    model = Transformer(TransformerConfig(vocab_size=20, d_model=8, num_heads=2, num_layers=1, d_ff=8))
    with pytest.raises(IndexError):
        with attnviz.record(model):
            model(torch.tensor([[25]]))  # id outside the vocabulary
    assert no_hooks_left(model)


def test_a_module_without_attention_is_refused_clearly():
    with pytest.raises(attnviz.UnsupportedModelError, match="no attention module"):
        with attnviz.record(nn.Linear(3, 3)):
            pass


def test_local_transformer_encoder_decoder_and_cross_attention():
    model = attnviz.local_model()
    run = attnviz.capture(model, "the dogs that the cat sees run fast")
    n = len(run.tokens)
    c = model.module.config
    assert run.attention.shape == (c.num_layers, c.num_heads, n, n)
    assert run.decoder_attention.shape == (c.num_layers, c.num_heads, n, n)
    assert run.cross_attention.shape == (c.num_layers, c.num_heads, n, n)
    # the decoder's own look-ahead mask: exact zeros above the diagonal; the encoder has none
    assert (run.decoder_attention[..., 0, 1:] == 0).all()
    assert (run.attention[..., 0, 1:] > 0).all()
    causal = attnviz.capture(model, "the dogs that the cat sees run fast", causal=True)
    upper = torch.triu(torch.from_numpy(causal.attention), 1)
    assert torch.equal(upper, torch.zeros_like(upper))
    # the recorded weights are the module's own: recompute layer 0 by hand
    mod = model.module
    with torch.no_grad():
        ids = torch.tensor([model.tokenizer.encode(run.text).ids])
        x = mod.embed_tokens(ids)
        attn = mod.encoder[0].self_attn
        q, k = attn.split_heads(attn.q_proj(x)), attn.split_heads(attn.k_proj(x))
        manual = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(attn.d_head), dim=-1)[0]
    assert (torch.from_numpy(run.attention[0]) - manual).abs().max() <= 1e-5
