"""Live numbers for the "from attention to transformers" walk-through.

Every function runs the real modules (attnviz's from-scratch transformer and
PyTorch's own) on small seeded inputs and returns plain numpy data and shapes, so
the page shows what was computed, never hard-coded text. Seeds go to local
``torch.Generator`` objects: the process-wide RNG, which every session of the app
shares, is neither reseeded nor advanced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from attnviz.hooks import record
from attnviz.local.checkpoint import load_checkpoint
from attnviz.local.model import FeedForward, MultiHeadAttention, PositionalEncoding, Transformer, causal_mask
from attnviz.local.tokenizer import WordTokenizer

WORDS = ["heavy", "snow", "makes", "driving", "more", "difficult", "today"]  # 7 tokens
SOURCE_WORDS = ["starker", "Schnee", "erschwert", "das", "Fahren"]  # Z for cross-attention
#: The encoder-decoder step: an English source (words the toy grammar knows) and the German
#: target the decoder reads, so that cross-attention is (target x source), not square.
ENCODER_WORDS = ["the", "heavy", "snow", "makes", "the", "driving", "more", "difficult"]
DECODER_WORDS = ["der", "starke", "Schnee", "erschwert", "das", "Fahren"]
#: Standard deviation of the weights of a freshly initialised transformer (BERT, GPT-2: 0.02).
INIT_STD = 0.02


def check_heads(d_model: int, num_heads: int) -> str | None:
    """None if ``num_heads`` divides ``d_model``, else the reason, in words."""
    try:
        with torch.device("meta"):  # no weights drawn: the global RNG stays as it was
            MultiHeadAttention(d_model, num_heads)
    except ValueError as exc:
        return str(exc)
    return None


def _seeded_inputs(n: int, d_model: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, n, d_model, generator=g)


def _seeded(build, seed: int) -> nn.Module:
    """``build()``'s module with its Linear layers initialised from a local generator seeded with ``seed``.

    The module is built on the meta device (no weights drawn), then every ``nn.Linear``, in
    registration order, gets PyTorch's default initialisation drawn from the local generator: the
    same numbers as ``torch.manual_seed(seed); build()``, without touching the process-wide RNG that
    every session of the app shares. Only modules whose parameters all belong to ``nn.Linear``
    layers are accepted, so no parameter is left uninitialised.
    """
    with torch.device("meta"):
        module = build()
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    owned = {id(p) for m in linears for p in m.parameters()}
    if any(id(p) not in owned for p in module.parameters()) or any(True for _ in module.buffers()):
        raise TypeError(f"{type(module).__name__} has parameters or buffers outside nn.Linear layers")
    module = module.to_empty(device="cpu")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for linear in linears:  # as nn.Linear.reset_parameters, with the local generator
            nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5), generator=g)
            if linear.bias is not None:
                bound = 1 / math.sqrt(linear.in_features) if linear.in_features > 0 else 0
                nn.init.uniform_(linear.bias, -bound, bound, generator=g)
    return module


@dataclass
class AttentionSteps:
    """Scaled dot-product attention, one step at a time, for every head."""

    x: np.ndarray  # (n, d_model) token embeddings X
    z: np.ndarray | None  # (m, d_model) the other source for cross-attention, or None
    w_q: np.ndarray  # (d_model, d_model): Q = X W_q (the nn.Linear weight, transposed)
    w_k: np.ndarray
    w_v: np.ndarray
    q: np.ndarray  # (heads, n, d_head)
    k: np.ndarray  # (heads, m, d_head)
    v: np.ndarray  # (heads, m, d_head)
    scores: np.ndarray  # (heads, n, m) Q K^T
    scaled: np.ndarray  # (heads, n, m) Q K^T / sqrt(d_head)
    masked: np.ndarray  # (heads, n, m) with -inf where the mask forbids
    weights: np.ndarray  # (heads, n, m) softmax rows
    head_outputs: np.ndarray  # (heads, n, d_head) weights @ V
    concat: np.ndarray  # (n, d_model) heads side by side
    output: np.ndarray  # (n, d_model) after the final linear
    module_weights: np.ndarray  # (heads, n, m): the same, as recorded from the module by attnviz's hooks
    module_output: np.ndarray  # (n, d_model)


def attention_steps(
    d_model: int = 4, num_heads: int = 2, causal: bool = False, cross: bool = False, seed: int = 0
) -> AttentionSteps:
    """Self-attention (Q, K, V from X) or cross-attention (K, V from Z), by hand and by the module."""
    mha = _seeded(lambda: MultiHeadAttention(d_model, num_heads), seed).eval()
    x = _seeded_inputs(len(WORDS), d_model, seed + 1)
    z = _seeded_inputs(len(SOURCE_WORDS), d_model, seed + 2) if cross else None
    source = x if z is None else z
    mask = causal_mask(len(WORDS)) if causal and not cross else None
    with torch.inference_mode():
        q = mha.split_heads(mha.q_proj(x))[0]  # (H, n, d_head)
        k = mha.split_heads(mha.k_proj(source))[0]  # (H, m, d_head)
        v = mha.split_heads(mha.v_proj(source))[0]
        scores = q @ k.transpose(-2, -1)
        scaled = scores / math.sqrt(mha.d_head)
        masked = scaled if mask is None else scaled.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(masked, dim=-1)
        head_outputs = weights @ v
        concat = head_outputs.transpose(0, 1).reshape(len(WORDS), d_model)
        output = mha.out_proj(concat)
        with record(mha, causal=mask is not None) as rec:  # the look-ahead mask is for self-attention only
            module_output, _ = mha(x, source=z)
    return AttentionSteps(
        x=x[0].numpy(), z=None if z is None else z[0].numpy(),
        w_q=mha.q_proj.weight.detach().T.numpy(), w_k=mha.k_proj.weight.detach().T.numpy(),
        w_v=mha.v_proj.weight.detach().T.numpy(), q=q.numpy(), k=k.numpy(), v=v.numpy(),
        scores=scores.numpy(), scaled=scaled.numpy(), masked=masked.numpy(), weights=weights.numpy(),
        head_outputs=head_outputs.numpy(), concat=concat.numpy(), output=output.numpy(),
        module_weights=rec.stack("self")[0, 0].numpy(), module_output=module_output[0].numpy(),
    )


def scaling_demo(d_k: int = 64, n: int = 2000, seed: int = 0) -> dict[str, float]:
    """Why divide by sqrt(d_k): the dot product of two random vectors whose d_k entries each have
    variance 1 has variance d_k (standard deviation sqrt(d_k)), which pushes softmax into
    saturation; dividing by sqrt(d_k) brings the spread back to about 1. (For *unit* vectors the
    spread would be about 1/sqrt(d_k): it is the entries' variance of 1 that makes it grow.)"""
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(n, d_k, generator=g), torch.randn(n, d_k, generator=g)
    dots = (q * k).sum(-1)
    row = dots[:8]
    return {
        "d_k": d_k,
        "std_unscaled": float(dots.std()),
        "std_scaled": float((dots / math.sqrt(d_k)).std()),
        "max_weight_unscaled": float(torch.softmax(row, -1).max()),
        "max_weight_scaled": float(torch.softmax(row / math.sqrt(d_k), -1).max()),
    }


def _random_weights(build, g: torch.Generator) -> nn.Module:
    """``build()``'s module with weights drawn from ``g`` (the process-wide RNG is not touched).

    Only for shapes: matrices are Xavier-uniform, LayerNorm scales 1, every other vector 0.
    """
    with torch.device("meta"):
        module = build()
    if any(True for _ in module.buffers()):
        raise TypeError(f"{type(module).__name__} has buffers, which this does not initialise")
    module = module.to_empty(device="cpu")
    with torch.no_grad():
        for m in module.modules():
            for name, p in m.named_parameters(recurse=False):
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p, generator=g)
                elif isinstance(m, nn.LayerNorm) and name == "weight":
                    nn.init.ones_(p)
                else:
                    nn.init.zeros_(p)
    return module


def torch_shapes(seed: int = 0) -> dict[str, tuple[int, ...]]:
    """The textbook PyTorch example, run for real: shapes of inputs, outputs and recorded weights."""
    g = torch.Generator().manual_seed(seed)
    query, key, value = (torch.randn(10, 5, 4, generator=g) for _ in range(3))
    mha = _random_weights(lambda: nn.MultiheadAttention(embed_dim=4, num_heads=2), g).eval()
    encoder = _random_weights(lambda: nn.TransformerEncoder(
        nn.TransformerEncoderLayer(d_model=4, nhead=2), num_layers=6, enable_nested_tensor=False), g).eval()
    with torch.inference_mode():
        mha_out, mha_weights = mha(query, key, value)
        with record(encoder) as rec:
            enc_out = encoder(query)
    return {
        "query/key/value (seq, batch, embed)": tuple(query.shape),
        "nn.MultiheadAttention output": tuple(mha_out.shape),
        "nn.MultiheadAttention weights (averaged over heads)": tuple(mha_weights.shape),
        "nn.TransformerEncoder (6 layers) output": tuple(enc_out.shape),
        "per-head weights recorded by attnviz (layers, batch, heads, query, key)": tuple(rec.stack().shape),
    }


def split_example(n_tokens: int = 7, d_model: int = 4, num_heads: int = 2) -> dict[str, tuple[int, ...]]:
    """How multi-head attention reshapes: (n, d) -> (heads, n, d/heads) -> n*heads small vectors -> (n, d)."""
    if error := check_heads(d_model, num_heads):
        raise ValueError(error)
    x = torch.arange(n_tokens * d_model, dtype=torch.float32).view(1, n_tokens, d_model)
    heads = x.view(1, n_tokens, num_heads, d_model // num_heads).transpose(1, 2)
    back = heads.transpose(1, 2).reshape(1, n_tokens, d_model)
    assert torch.equal(back, x)
    return {
        "X": (n_tokens, d_model),
        "split into heads": tuple(heads.shape[1:]),
        "small vectors": (n_tokens * num_heads, d_model // num_heads),
        "concatenated": tuple(back.shape[1:]),
    }


# ------------------------------------------------------------------ the rest of a transformer block


@dataclass
class BlockSteps:
    """One encoder block around the attention of ``attention_steps``, with live numbers."""

    pe: np.ndarray  # (n, d_model) sinusoidal positional encodings of positions 0..n-1
    pe_similarity: np.ndarray  # (n,) dot product of PE(0) with PE(j), normalised: falls with distance
    x_plus_pe: np.ndarray  # (n, d_model) what the first layer reads
    residual: np.ndarray  # (n, d_model) x + attention output
    normed: np.ndarray  # (n, d_model) LayerNorm(x + attention output)
    ff_hidden: np.ndarray  # (n, d_ff) ReLU(normed W1 + b1)
    ff_out: np.ndarray  # (n, d_model)
    block_out: np.ndarray  # (n, d_model) LayerNorm(normed + ff_out)
    ff_per_position_equal: float  # max |FF(row i alone) - FF(all rows)[i]|: the same network at every position


def block_steps(steps: AttentionSteps, seed: int = 0, d_ff: int | None = None) -> BlockSteps:
    """Positional encoding, add & norm and the feed-forward block, on the walk-through's X and its
    multi-head attention output (the from-scratch modules, seeded locally)."""
    x = torch.tensor(steps.x)
    n, d_model = x.shape
    d_ff = d_ff or 4 * d_model
    pe = PositionalEncoding(d_model, max_len=max(n, 16)).pe[:n]  # deterministic, no weights
    unit = pe / pe.norm(dim=-1, keepdim=True)
    ff = _seeded(lambda: FeedForward(d_model, d_ff), seed + 3).eval()
    norm1, norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)  # scale 1, shift 0: no random draw
    with torch.inference_mode():
        residual = x + torch.tensor(steps.output)
        normed = norm1(residual)
        hidden = torch.relu(ff.linear1(normed))
        ff_out = ff.linear2(hidden)
        out = norm2(normed + ff_out)
        alone = torch.stack([ff(normed[i : i + 1])[0] for i in range(n)])
    return BlockSteps(
        pe=pe.numpy(), pe_similarity=(unit @ unit[0]).numpy(), x_plus_pe=(x + pe).numpy(),
        residual=residual.numpy(), normed=normed.numpy(), ff_hidden=hidden.numpy(), ff_out=ff_out.numpy(),
        block_out=out.numpy(), ff_per_position_equal=float((alone - ff_out).abs().max()),
    )


# ------------------------------------------------------------------ encoder and decoder


def _initialised(config, seed: int) -> Transformer:
    """A ``Transformer`` of ``config`` initialised as BERT and GPT-2 are: every matrix and embedding
    from N(0, INIT_STD²), biases 0, LayerNorm 1 and 0; drawn from a local generator."""
    with torch.device("meta"):
        module = Transformer(config)
    module = module.to_empty(device="cpu")
    module.pos = PositionalEncoding(config.d_model, config.max_len)  # its buffer, computed again (no RNG)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            for name, p in m.named_parameters(recurse=False):
                if isinstance(m, nn.LayerNorm):
                    (nn.init.ones_ if name == "weight" else nn.init.zeros_)(p)
                elif p.dim() > 1:
                    nn.init.normal_(p, 0.0, INIT_STD, generator=g)
                else:
                    nn.init.zeros_(p)
    return module.eval()


@dataclass
class EncoderDecoder:
    """An encoder-decoder run: source and target differ, so cross-attention is (target x source)."""

    source: list[str]  # encoder tokens ([CLS] ... [SEP])
    target: list[str]  # decoder tokens
    encoder: np.ndarray  # (layers, heads, S, S) self-attention of the encoder, never masked
    decoder: np.ndarray  # (layers, heads, T, T) masked self-attention of the decoder
    cross: np.ndarray  # (layers, heads, T, S)
    trained_encoder: np.ndarray  # (layers, heads, S, S) the trained model's encoder on the same source
    architecture: str  # "3 layers x 4 heads, d_model 64"
    row_max: dict[str, float]  # mean over rows of the largest weight: how sharp attention is


def mean_row_max(attention: np.ndarray) -> float:
    return float(np.asarray(attention).max(-1).mean())


def encoder_decoder(seed: int = 0) -> EncoderDecoder:
    """The trained toy-grammar model's architecture, at a standard initialisation, reading the
    English ``ENCODER_WORDS`` and writing the German ``DECODER_WORDS``; and the trained
    encoder on the same source, for comparison (its decoder was never trained)."""
    trained, vocab_tokenizer, _ = load_checkpoint()
    config = trained.config
    fresh = _initialised(config, seed)
    src = vocab_tokenizer.encode(" ".join(ENCODER_WORDS))
    tgt_tokenizer = WordTokenizer(vocab_size=config.vocab_size, lowercase=False)  # any word: hashed ids
    tgt = tgt_tokenizer.encode(" ".join(DECODER_WORDS), add_special=False)
    src_ids, tgt_ids = torch.tensor([src.ids]), torch.tensor([[2, *tgt.ids]])  # the decoder starts at [CLS]
    with torch.inference_mode():
        with record(fresh) as rec:
            fresh(src_ids, tgt_ids)
        with record(trained.eval()) as rec_trained:
            trained.encode(src_ids)
    encoder, decoder, cross = (rec.stack(kind)[:, 0].numpy() for kind in ("self", "decoder", "cross"))
    trained_encoder = rec_trained.stack("self")[:, 0].numpy()
    source = list(src.tokens)
    return EncoderDecoder(
        source=source, target=["[CLS]", *DECODER_WORDS], encoder=encoder, decoder=decoder, cross=cross,
        trained_encoder=trained_encoder,
        architecture=f"{config.num_layers} layers × {config.num_heads} heads, d_model {config.d_model}",
        row_max={"uniform (1 / keys)": 1.0 / len(source), "initialised, N(0, 0.02²)": mean_row_max(encoder),
                 "trained on the toy grammar": mean_row_max(trained_encoder)},
    )
