"""The from-scratch transformer computes what the textbook (and PyTorch) computes."""

import math

import pytest
import torch
from torch import nn

from attnviz.local.model import (
    EncoderLayer,
    MultiHeadAttention,
    PositionalEncoding,
    Transformer,
    TransformerConfig,
    causal_mask,
    scaled_dot_product_attention,
)
from attnviz.local.tokenizer import CLS, MASK, SEP, UNK, WordTokenizer


def copy_mha(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    q, k, v = theirs.in_proj_weight.chunk(3)
    qb, kb, vb = theirs.in_proj_bias.chunk(3)
    with torch.no_grad():
        for lin, w, b in ((ours.q_proj, q, qb), (ours.k_proj, k, kb), (ours.v_proj, v, vb)):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        ours.out_proj.bias.copy_(theirs.out_proj.bias)


def test_scaled_dot_product_attention_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    k = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    v = torch.tensor([[10.0, 0.0], [0.0, 10.0]])
    out, w = scaled_dot_product_attention(q, k, v)
    scores = torch.tensor([[1.0, 0.0], [0.0, 2.0]]) / math.sqrt(2)
    expected = torch.softmax(scores, dim=-1)
    assert torch.allclose(w, expected)
    assert torch.allclose(out, expected @ v)


def test_masked_positions_get_exactly_zero_weight():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 5, 4), torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    _, w = scaled_dot_product_attention(q, k, v, causal_mask(5))
    assert torch.equal(torch.triu(w, 1), torch.zeros_like(w))
    assert torch.allclose(w.sum(-1), torch.ones(3, 5))


def test_heads_must_divide_d_model():
    with pytest.raises(ValueError, match=r"d_model=10.*num_heads=4"):
        MultiHeadAttention(10, 4)


@pytest.mark.parametrize("masked", [False, True])
def test_multi_head_attention_equals_torch(masked):
    torch.manual_seed(1)
    theirs = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    ours = MultiHeadAttention(8, 2).eval()
    copy_mha(ours, theirs)
    x = torch.randn(3, 6, 8)
    mask = causal_mask(6) if masked else None
    with torch.no_grad():
        out, w = ours(x, mask=mask)
        ref, ref_w = theirs(x, x, x, attn_mask=None if mask is None else ~mask, need_weights=True, average_attn_weights=False)
    assert w.shape == (3, 2, 6, 6)
    assert (out - ref).abs().max() <= 1e-5
    assert (w - ref_w).abs().max() <= 1e-5


def test_cross_attention_takes_keys_and_values_from_the_source():
    torch.manual_seed(2)
    theirs = nn.MultiheadAttention(8, 4, batch_first=True).eval()
    ours = MultiHeadAttention(8, 4).eval()
    copy_mha(ours, theirs)
    x, z = torch.randn(2, 3, 8), torch.randn(2, 7, 8)
    with torch.no_grad():
        out, w = ours(x, source=z)
        ref, ref_w = theirs(x, z, z, need_weights=True, average_attn_weights=False)
    assert w.shape == (2, 4, 3, 7)
    assert (out - ref).abs().max() <= 1e-5 and (w - ref_w).abs().max() <= 1e-5


def test_encoder_layer_equals_torch_transformer_encoder_layer():
    torch.manual_seed(3)
    theirs = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True).eval()
    ours = EncoderLayer(16, 4, 32).eval()
    copy_mha(ours.self_attn, theirs.self_attn)
    with torch.no_grad():
        for a, b in ((ours.ff.linear1, theirs.linear1), (ours.ff.linear2, theirs.linear2),
                     (ours.norm1, theirs.norm1), (ours.norm2, theirs.norm2)):
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
        x = torch.randn(2, 9, 16)
        assert (ours(x) - theirs(x)).abs().max() <= 1e-5


def test_positional_encoding_is_the_sinusoid():
    pe = PositionalEncoding(6, max_len=50).pe
    pos = 7
    for i in range(3):
        angle = pos / 10000 ** (2 * i / 6)
        assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
        assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)
    assert PositionalEncoding(5, max_len=4).pe.shape == (4, 5)  # odd sizes work


def test_transformer_shapes_and_look_ahead_in_the_decoder():
    torch.manual_seed(4)
    model = Transformer(TransformerConfig(vocab_size=50, d_model=16, num_heads=2, num_layers=3, d_ff=32)).eval()
    src, tgt = torch.randint(5, 50, (2, 7)), torch.randint(5, 50, (2, 5))
    with torch.no_grad():
        logits = model(src, tgt)
        changed_future = tgt.clone()
        changed_future[:, 3:] = 7
        logits2 = model(src, changed_future)
    assert logits.shape == (2, 5, 50)
    assert model(src).shape == (2, 7, 50)
    # the decoder cannot see the future: positions 0..2 do not change when later tokens do
    assert torch.allclose(logits[:, :3], logits2[:, :3], atol=1e-6)
    assert not torch.allclose(logits[:, 3:], logits2[:, 3:])


def test_padding_is_never_attended():
    torch.manual_seed(5)
    model = Transformer(TransformerConfig(vocab_size=50, d_model=16, num_heads=2, num_layers=1, d_ff=32)).eval()
    ids = torch.tensor([[6, 7, 8, 0, 0]])
    with torch.no_grad():
        weights = []
        handle = model.encoder[0].self_attn.register_forward_hook(lambda m, a, o: weights.append(o[1]))
        out_padded = model.encode(ids)
        handle.remove()
        out_short = model.encode(ids[:, :3])
    assert torch.equal(weights[0][..., 3:], torch.zeros_like(weights[0][..., 3:]))
    assert torch.allclose(out_padded[:, :3], out_short, atol=1e-6)


def test_word_tokenizer():
    tok = WordTokenizer(vocab=["heavy", "snow", "."])
    enc = tok.encode("Heavy snow melts.")
    assert enc.tokens == ["[CLS]", "Heavy", "snow", "melts", ".", "[SEP]"]
    assert enc.ids[0] == CLS and enc.ids[-1] == SEP and enc.ids[3] == UNK
    assert enc.unknown == ["melts"]
    assert enc.offsets[1] == (0, 5) and enc.special == [True, False, False, False, False, True]
    hashing = WordTokenizer(vocab_size=100)
    assert hashing.token_id("snow") == hashing.token_id("SNOW") != hashing.token_id("rain")
    assert len(tok.encode("a " * 50, max_length=10).ids) == 10


def test_a_typed_mask_is_one_mask_token():
    for tok in (WordTokenizer(vocab=["dogs", "fast"]), WordTokenizer(vocab_size=100)):
        enc = tok.encode("the dogs [MASK] fast")
        assert enc.tokens == ["[CLS]", "the", "dogs", "[MASK]", "fast", "[SEP]"]
        assert enc.ids[3] == MASK and enc.special[3] is False and enc.offsets[3] == (9, 15)
        assert "[MASK]" not in enc.unknown
    # only the exact text: brackets around another word stay punctuation, a lower-case [mask] is not the token
    assert WordTokenizer(vocab_size=100).encode("[mask] [MASKS]").tokens[1:-1] == ["[", "mask", "]", "[", "MASKS", "]"]
