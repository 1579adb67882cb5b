"""Every attention family attnviz claims, against an independent reference.

For each family a tiny random model (built from a config, nothing downloaded) runs a padded
batch under ``torch.inference_mode()``:

  * the recorded weights (encoder self, decoder self, cross, each separately) equal the
    eager ``output_attentions=True`` reference (PyTorch modules: a hand-written layer loop);
  * the recorded masks have the right shapes and agree with where the reference is non-zero;
  * the outputs are the same with and without recording;
  * ``causal=True`` gives exact zeros above the diagonal and rows summing to 1.

``test_family_table`` prints the table (run with ``-s``) and writes test-artifacts/families.txt.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

import attnviz
from attnviz.checks import check_weights
from attnviz.errors import AttentionCheckError
from attnviz.labels import KINDS
from tests.helpers.hf_families import ENCODER_DECODER, HF, build_hf, hf_inputs
from tests.helpers.logit_check import qk_column
from tests.helpers.paths import ROOT


def first_tensor(out) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out.last_hidden_state


@dataclass
class Result:
    family: str
    kinds: list[str]
    diffs: dict[str, float]
    masks_ok: bool
    outputs_unchanged: bool
    causal_ok: bool | None  # None: not applicable

    def row(self) -> str:
        diffs = " ".join(f"{k}={self.diffs[k]:.1e}" for k in self.kinds)
        causal = "n/a" if self.causal_ok is None else ("yes" if self.causal_ok else "NO")
        return (f"{self.family:<34} {','.join(self.kinds):<19} {diffs:<44} {'yes' if self.masks_ok else 'NO':<6} "
                f"{'yes' if self.outputs_unchanged else 'NO':<10} {causal}")


HEADER = f"{'family':<34} {'kinds':<19} {'max abs diff per kind':<44} {'masks':<6} {'outputs':<10} causal"


def masks_agree(rec: attnviz.Recording, reference: dict[str, torch.Tensor]) -> bool:
    """Every layer's recorded mask has shape (batch | 1, query, key) and is True exactly where the
    reference gives some head a non-zero weight (rows with no allowed key are not compared)."""
    for kind, ref in reference.items():
        masks = rec.layer_masks[kind]
        if len(masks) != ref.shape[0]:
            return False
        for layer, m in enumerate(masks):
            b, _, length, source = ref[layer].shape
            if m.dim() != 3 or tuple(m.shape[-2:]) != (length, source) or m.shape[0] not in (1, b):
                return False
            m = m.expand(b, length, source)
            rows = m.any(-1)
            nonzero = (ref[layer] != 0).any(1)
            if not torch.equal(nonzero[rows], m[rows]):
                return False
    return True


def causal_holds(rec: attnviz.Recording) -> bool:
    """Exact zeros above the diagonal and rows summing to 1, in every row with an allowed key (a
    padded query row of DeBERTa has none: the model leaves it uniform; capture cuts it off)."""
    for kind in rec.kinds:
        if kind == "cross":
            continue
        w = rec.stack(kind)
        mask = torch.stack(rec.layer_masks[kind])[:, :, None]  # (layers, B|1, 1, L, S)
        rows = mask.any(-1).expand(w.shape[:-1])
        upper = torch.triu(w, 1)[rows]
        if not torch.equal(upper, torch.zeros_like(upper)):
            return False
        if not torch.allclose(w.sum(-1)[rows], torch.ones(int(rows.sum())), atol=1e-5):
            return False
    return True


# ---------------------------------------------------------------- Hugging Face families


def run_hf(family: str) -> tuple[Result, dict, attnviz.Recording]:
    model = build_hf(family)
    inputs = hf_inputs(family)
    with torch.inference_mode():
        with attnviz.record(model) as rec:
            recorded_out = first_tensor(model(**inputs))
        with attnviz.record(model, causal=True) as causal:
            model(**inputs)
        model.set_attn_implementation("eager")
        plain = first_tensor(model(**inputs))
        with attnviz.record(model):
            during = first_tensor(model(**inputs))
        ref = model(**inputs, output_attentions=True)
    if family in ENCODER_DECODER:
        reference = {"self": torch.stack(ref.encoder_attentions), "decoder": torch.stack(ref.decoder_attentions),
                     "cross": torch.stack(ref.cross_attentions)}
    else:
        reference = {"self": torch.stack(ref.attentions)}
    diffs = {k: (rec.stack(k) - reference[k]).abs().max().item() if k in rec.kinds else float("inf") for k in reference}
    unchanged = torch.equal(plain, during) and torch.allclose(plain, recorded_out, atol=1e-5)
    result = Result(family, sorted(reference, key=KINDS.index), diffs, masks_agree(rec, reference),
                    unchanged, causal_holds(causal))
    return result, reference, rec


# ---------------------------------------------------------------- PyTorch's own modules
# References computed by hand: each layer's attention called directly with need_weights=True.


def mha_reference(mha, q, k, v, **kw):
    return mha(q, k, v, need_weights=True, average_attn_weights=False, **kw)


def encoder_reference(encoder, src, padding):
    """The encoder's output as its nested-tensor path gives it (padded positions 0 before the
    final norm) and its per-layer weights."""
    x, weights = src, []
    for layer in encoder.layers:
        sa, w = mha_reference(layer.self_attn, x, x, x, key_padding_mask=padding)
        weights.append(w)
        x = layer.norm1(x + sa)
        x = layer.norm2(x + layer.linear2(layer.activation(layer.linear1(x))))
    x = x.masked_fill(padding[..., None], 0.0)
    if encoder.norm is not None:
        x = encoder.norm(x)
    return x, torch.stack(weights)


def decoder_reference(decoder, tgt, memory, tgt_mask, tgt_padding, memory_padding):
    x, self_w, cross_w = tgt, [], []
    for layer in decoder.layers:
        sa, w = mha_reference(layer.self_attn, x, x, x, attn_mask=tgt_mask, key_padding_mask=tgt_padding)
        self_w.append(w)
        x = layer.norm1(x + sa)
        ca, w = mha_reference(layer.multihead_attn, x, memory, memory, key_padding_mask=memory_padding)
        cross_w.append(w)
        x = layer.norm2(x + ca)
        x = layer.norm3(x + layer.linear2(layer.activation(layer.linear1(x))))
    if decoder.norm is not None:
        x = decoder.norm(x)
    return x, torch.stack(self_w), torch.stack(cross_w)


def padded(batch: int, length: int, real: list[int]) -> torch.Tensor:
    pad = torch.zeros(batch, length, dtype=torch.bool)
    for b, n in enumerate(real):
        pad[b, n:] = True  # True = padding (PyTorch's convention)
    return pad


def run_torch(family: str) -> tuple[Result, dict, attnviz.Recording]:
    torch.manual_seed(0)
    d, h = 8, 2
    src, tgt = torch.randn(2, 7, d), torch.randn(2, 5, d)
    src_pad, tgt_pad = padded(2, 7, [7, 4]), padded(2, 5, [5, 3])
    causal_mask = nn.Transformer.generate_square_subsequent_mask(5)

    if family.startswith("nn.MultiheadAttention"):
        batch_first = "batch_first" in family
        unbatched = "unbatched" in family
        mha = nn.MultiheadAttention(d, h, batch_first=batch_first).eval()
        q = src[0] if unbatched else (src if batch_first else src.transpose(0, 1))
        kw = dict(key_padding_mask=src_pad[1] if unbatched else src_pad)

        def call(**extra):
            return mha(q, q, q, **kw, **extra)

        with torch.inference_mode():
            ref_out, ref_w = mha_reference(mha, q, q, q, **kw)
            asks = [dict(), dict(need_weights=False), dict(average_attn_weights=False)]
            plain = [call(**a) for a in asks]
            with attnviz.record(mha) as rec:
                recorded = [call(**a) for a in asks]
            with attnviz.record(mha, causal=True) as causal:
                call()
        same = all(torch.allclose(p[0], r[0], atol=1e-6) and (p[1] is None) == (r[1] is None)
                   and (p[1] is None or (p[1].shape == r[1].shape and torch.allclose(p[1], r[1], atol=1e-6)))
                   for p, r in zip(plain, recorded))
        ref_w = ref_w if not unbatched else ref_w[None]
        reference = {"self": torch.stack([ref_w] * 3)}  # three calls recorded
        diffs = {"self": (rec.stack("self") - reference["self"]).abs().max().item()}
        return Result(family, ["self"], diffs, masks_agree(rec, reference), same, causal_holds(causal)), reference, rec

    layer_kw = dict(d_model=d, nhead=h, dim_feedforward=16, dropout=0.0, batch_first=True)
    if family == "nn.TransformerEncoder":
        model = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer_kw), num_layers=2).eval()

        def forward():
            return model(src, src_key_padding_mask=src_pad)

        def reference_fn():
            out, w = encoder_reference(model, src, src_pad)
            return out, {"self": w}
    elif family == "nn.TransformerDecoder":
        model = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer_kw), num_layers=2).eval()

        def forward():
            return model(tgt, src, tgt_mask=causal_mask, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)

        def reference_fn():
            out, sw, cw = decoder_reference(model, tgt, src, causal_mask, tgt_pad, src_pad)
            return out, {"self": sw, "cross": cw}  # a decoder on its own: its self-attention is the only stack
    else:
        model = nn.Transformer(**layer_kw, num_encoder_layers=2, num_decoder_layers=2).eval()

        def forward():
            return model(src, tgt, tgt_mask=causal_mask, src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad,
                         memory_key_padding_mask=src_pad)

        def reference_fn():
            memory, ew = encoder_reference(model.encoder, src, src_pad)
            out, sw, cw = decoder_reference(model.decoder, tgt, memory, causal_mask, tgt_pad, src_pad)
            return out, {"self": ew, "decoder": sw, "cross": cw}

    with torch.inference_mode():
        plain = forward()
        with attnviz.record(model) as rec:
            during = forward()
        with attnviz.record(model, causal=True) as causal:
            forward()
        ref_out, reference = reference_fn()
    kinds = sorted(reference, key=KINDS.index)
    diffs = {k: (rec.stack(k) - reference[k]).abs().max().item() for k in kinds}
    same = (during - plain).abs().max().item() <= 1e-5 and (during - ref_out).abs().max().item() <= 1e-5
    return Result(family, kinds, diffs, masks_agree(rec, reference), same, causal_holds(causal)), reference, rec


TORCH = ["nn.MultiheadAttention batch_first", "nn.MultiheadAttention seq_first", "nn.MultiheadAttention unbatched",
         "nn.TransformerEncoder", "nn.TransformerDecoder", "nn.Transformer"]
ALL = sorted(HF) + TORCH


def run_family(family: str):
    return run_torch(family) if family.startswith("nn.") else run_hf(family)


def assert_faithful(result: Result) -> None:
    assert all(d <= 1e-5 for d in result.diffs.values()), result.row()
    assert result.masks_ok and result.outputs_unchanged and result.causal_ok is not False, result.row()


@pytest.mark.parametrize("family", ALL)
def test_family(family):
    assert_faithful(run_family(family)[0])


def test_family_table():
    """The whole table, printed (``-s``) and written to test-artifacts/families.txt. Its last column: whether
    softmax of the recorded logit terms (``attnviz.logits``) gives the weights back, every recording of the
    family's run checked (tests/lib/test_logit_terms.py asserts it)."""
    results = [run_family(f)[0] for f in ALL]
    qk = [qk_column(run_family, f) for f in ALL]
    header = f"{HEADER}  q·k reproduces the weights"
    table = "\n".join([header, "-" * len(header)] + [f"{r.row():<{len(HEADER)}}  {c}" for r, c in zip(results, qk)]) + "\n"
    print("\n" + table)
    out = ROOT / "test-artifacts"
    out.mkdir(exist_ok=True)
    (out / "families.txt").write_text(table, encoding="utf-8")
    for r in results:
        assert_faithful(r)


@pytest.mark.parametrize("family", sorted(HF))
def test_a_call_read_after_it_ran_is_the_call_the_module_received(family):
    """``record`` gives a site a pre-hook only where its reader changes the call before it runs
    (``Reader.changes_call``: a look-ahead, asking for weights); every other call is read after it ran, from the
    arguments the module received. That is right only if ``prepare`` leaves those arguments as they are: each
    module's arguments, as received in a recording, are prepared again here and must come out unchanged."""
    model = build_hf(family)
    sites = attnviz.hooks.find_sites(model)
    received: dict[str, dict] = {}

    def keep(site):
        def hook(module, args, kwargs):
            received.setdefault(site.name, dict(site.arguments(args, kwargs)[0]))  # the first call's, a copy
        return hook

    handles = [site.module.register_forward_pre_hook(keep(site), with_kwargs=True) for site in sites]
    try:
        for causal in (False, True):
            received.clear()
            with torch.inference_mode(), attnviz.record(model, causal=causal):
                pre_hooks = {site.name: len(site.module._forward_pre_hooks) for site in sites}
                model(**hf_inputs(family))
            for site in sites:
                changes = site.reader.changes_call(causal and site.kind != "cross")
                assert pre_hooks[site.name] == 1 + changes, f"{site.where}: attnviz's pre-hook only where it changes the call"
                if not changes:
                    arguments = dict(received[site.name])
                    site.reader.prepare(site.module, arguments, False)
                    assert arguments.keys() == received[site.name].keys()
                    assert all(arguments[k] is v for k, v in received[site.name].items()), f"{site.where}: prepare changed the call"
    finally:
        for handle in handles:
            handle.remove()
    if family in ("bert", "gpt2"):
        assert not any(site.reader.changes_call(False) for site in sites), "the common families need no pre-hook"


# ---------------------------------------------------------------- the check catches wrong tensors


def test_the_check_catches_hand_corrupted_weights():
    torch.manual_seed(0)
    w = torch.softmax(torch.randn(2, 4, 5, 5), -1)
    allowed = torch.ones(1, 5, 5, dtype=torch.bool)
    check_weights(w, allowed, "good", heads=4, batch=2, queries=5)  # a faithful tensor passes
    padded = allowed.clone().expand(2, 5, 5).clone()
    padded[1, :, 3:] = False
    cases = {
        "rows sum": (w * 1.1, allowed, {}),
        "keys the mask forbids": (w, padded, {}),
        "heads": (w, allowed, dict(heads=8)),
        "batch rows": (w, allowed, dict(batch=3)),
        "NaN": (w.masked_fill(torch.rand_like(w) < 0.05, float("nan")), allowed, {}),
        "negative": (w - 0.5, allowed, {}),
        "not \\(batch, heads, query, key\\)": (w[0], allowed, {}),
    }
    for problem, (tensor, mask, kw) in cases.items():
        with pytest.raises(AttentionCheckError, match=problem):
            check_weights(tensor, mask, "Corrupt at 'x'", **kw)


def test_the_old_t5_reading_is_refused_not_drawn(monkeypatch):
    """Reading output[1] of T5Attention (the position bias, as attnviz once did) fails the check."""
    t5 = next(r for r in attnviz.sites.READERS if r.name == "t5")
    monkeypatch.setattr(t5, "weights_at", 1)
    model = build_hf("t5")
    with pytest.raises(AttentionCheckError, match=r"T5Attention at 'encoder\.block\.0\.layer\.0\.SelfAttention'"):
        with torch.inference_mode(), attnviz.record(model):
            model(**hf_inputs("t5"))


def test_a_hand_corrupted_recording_is_refused():
    """A module that returns plausible-looking but wrong weights (here: pre-softmax scores scaled) is refused."""
    model = build_hf("bert")
    attention = model.encoder.layer[1].attention.self
    corrupt = attention.register_forward_hook(lambda m, a, out: (out[0], out[1] * 0.5))
    try:
        with pytest.raises(AttentionCheckError, match="BertSelfAttention at 'encoder.layer.1.attention.self'.*rows sum"):
            with torch.inference_mode(), attnviz.record(model):
                model(**hf_inputs("bert"))
    finally:
        corrupt.remove()


@pytest.mark.parametrize("family", ["bart", "t5", "marian"])
def test_cross_attention_without_a_mask_is_decoder_by_encoder(family):
    model = build_hf(family)
    inputs = hf_inputs(family)
    with torch.inference_mode(), attnviz.record(model) as rec:
        model(input_ids=inputs["input_ids"], decoder_input_ids=inputs["decoder_input_ids"])
    assert rec.masks["cross"].shape == (1, 6, 9) and rec.masks["cross"].all()
    assert rec.masks["decoder"].shape[-2:] == (6, 6) and rec.masks["self"].shape[-2:] == (9, 9)
    assert rec.stack("cross").shape == (2, 2, 4, 6, 9)


# ---------------------------------------------------------------- recomputed from hooked queries and keys


def softmax_with(scores, allowed):
    return torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)


def hooked(modules):
    seen, handles = {}, []
    for key, module in modules.items():
        handles.append(module.register_forward_hook(lambda m, a, o, key=key: seen.__setitem__(key, o.detach().clone())))
    return seen, handles


def recorded_with_projections(model, inputs, modules: dict):
    """One forward pass under ``attnviz.record`` with the outputs of ``modules`` (the q/k projections)
    captured by plain hooks of the test's own: (projections by key, the recording)."""
    seen, handles = hooked(modules)
    try:
        with torch.inference_mode(), attnviz.record(model) as rec:
            model(**inputs)
    finally:
        for h in handles:
            h.remove()
    return seen, rec


def test_bert_recomputed_from_queries_and_keys():
    model = build_hf("bert")
    inputs = hf_inputs("bert")
    layers = model.encoder.layer
    seen, rec = recorded_with_projections(
        model, inputs, {(i, t): getattr(l.attention.self, t) for i, l in enumerate(layers) for t in ("query", "key")})
    allowed = inputs["attention_mask"].bool()[:, None, None, :]
    for i in range(len(layers)):
        q, k = (seen[(i, t)].view(2, 9, 4, 4).transpose(1, 2) for t in ("query", "key"))
        manual = softmax_with(q @ k.transpose(-1, -2) / math.sqrt(4), allowed)
        assert (rec.stack()[i] - manual).abs().max() <= 1e-5


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rotary_projections(model) -> dict:
    """A Llama-like decoder's query and key projections by (layer, name), for ``recorded_with_projections``."""
    return {(i, t): getattr(layer.self_attn, t) for i, layer in enumerate(model.layers) for t in ("q_proj", "k_proj")}


def rotated(model, seen: dict, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer ``layer``'s queries (2, heads, 9, d) and keys (2, kv heads, 9, d) after the rotary embedding,
    computed by hand from the projections' outputs in ``seen`` (``recorded_with_projections``)."""
    cfg = model.config
    heads, kv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.hidden_size // cfg.num_attention_heads
    with torch.inference_mode():
        cos, sin = model.rotary_emb(torch.zeros(1, 9, cfg.hidden_size), torch.arange(9)[None])
    cos, sin = cos[:, None], sin[:, None]
    q = seen[(layer, "q_proj")].view(2, 9, heads, d).transpose(1, 2)
    k = seen[(layer, "k_proj")].view(2, 9, kv, d).transpose(1, 2)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_rotary_grouped_query_decoder_recomputed_from_queries_and_keys(family):
    model = build_hf(family)
    inputs = hf_inputs(family)
    cfg = model.config
    heads, kv, d = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.hidden_size // cfg.num_attention_heads
    assert kv < heads  # grouped-query attention
    seen, rec = recorded_with_projections(model, inputs, rotary_projections(model))
    allowed = torch.ones(9, 9, dtype=torch.bool).tril()[None, None] & inputs["attention_mask"].bool()[:, None, None, :]
    for i in range(cfg.num_hidden_layers):
        q, k = rotated(model, seen, i)
        k = k.repeat_interleave(heads // kv, dim=1)
        manual = softmax_with(q @ k.transpose(-1, -2) / math.sqrt(d), allowed)
        assert (rec.stack()[i] - manual).abs().max() <= 1e-5


def test_bart_recomputed_from_queries_and_keys():
    model = build_hf("bart")
    inputs = hf_inputs("bart")
    dec = model.decoder.layers
    targets = {}
    for i, l in enumerate(model.encoder.layers):
        targets.update({("self", i, "q"): l.self_attn.q_proj, ("self", i, "k"): l.self_attn.k_proj})
    for i, l in enumerate(dec):
        targets.update({("decoder", i, "q"): l.self_attn.q_proj, ("decoder", i, "k"): l.self_attn.k_proj,
                        ("cross", i, "q"): l.encoder_attn.q_proj, ("cross", i, "k"): l.encoder_attn.k_proj})
    seen, rec = recorded_with_projections(model, inputs, targets)
    src = inputs["attention_mask"].bool()[:, None, None, :]
    tgt = torch.ones(6, 6, dtype=torch.bool).tril()[None, None] & inputs["decoder_attention_mask"].bool()[:, None, None, :]
    for kind, allowed in (("self", src), ("decoder", tgt), ("cross", src)):
        for i in range(2):
            q, k = seen[(kind, i, "q")], seen[(kind, i, "k")]
            q = q.view(2, q.size(1), 4, 4).transpose(1, 2)
            k = k.view(2, k.size(1), 4, 4).transpose(1, 2)
            manual = softmax_with(q @ k.transpose(-1, -2) * 4 ** -0.5, allowed)
            assert (rec.stack(kind)[i] - manual).abs().max() <= 1e-5, (kind, i)
