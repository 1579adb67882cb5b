"""Tiny random models built from configs (nothing downloaded), for tests that need a model but not a trained one.

    tiny_bert_mlm(tokenizer)    a BertForMaskedLM (2 x 4 heads, eager attention) over a tokenizer's vocabulary
    torch_mha_model()           a masked-word model on PyTorch's own nn.TransformerEncoder
    save_models(tmp_path, seq2seq_configs())   # {"bart": Path, "gpt2": Path}: BART and GPT-2 saved to folders,
                                # loaded by path as a person would load any model

The saved ones use the offline default model's (BERT WordPiece) tokenizer, ``TOKENIZER``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer, BertConfig, BertForMaskedLM

import attnviz
from attnviz.local.tokenizer import PAD as LOCAL_PAD
from attnviz.local.tokenizer import WordTokenizer
from attnviz.models import default_model_path

TOKENIZER = AutoTokenizer.from_pretrained(default_model_path())
V = TOKENIZER.vocab_size
CLS, SEP, PAD = TOKENIZER.cls_token_id, TOKENIZER.sep_token_id, TOKENIZER.pad_token_id
IDS = dict(bos_token_id=CLS, eos_token_id=SEP, pad_token_id=PAD)
BART = dict(vocab_size=V, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=32, decoder_ffn_dim=32, decoder_start_token_id=SEP, **IDS)
GPT2 = dict(vocab_size=V, n_embd=16, n_layer=2, n_head=4, **IDS)


def seq2seq_configs() -> dict[str, dict]:
    """A tiny BART (encoder-decoder) and GPT-2 (decoder-only)."""
    return {"bart": dict(BART), "gpt2": dict(GPT2)}


def save_models(root: Path, configs: dict[str, dict]) -> dict[str, Path]:
    """Each family's random model (seed 0, with its generation head) and the tokenizer in ``root / family``."""
    out = {}
    for family, kw in configs.items():
        folder = Path(root) / family
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = AutoConfig.for_model(family, **kw)
            auto = AutoModelForSeq2SeqLM if config.is_encoder_decoder else AutoModelForCausalLM
            auto.from_config(config).save_pretrained(folder)
        TOKENIZER.save_pretrained(folder)
        out[family] = folder
    return out


# ----------------------------------------------------------------------------- models in memory


def tiny_bert_mlm(tokenizer) -> attnviz.LoadedModel:
    """A random BertForMaskedLM (2 layers x 4 heads, hidden 16) over ``tokenizer``'s vocabulary, eager
    attention (so a plain forward computes exactly what a recorded one does), wrapped as a LoadedModel."""
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=32, pad_token_id=tokenizer.pad_token_id, attn_implementation="eager",
                        initializer_range=1.0)  # large weights: peaked predictions, so erasure moves them visibly
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = BertForMaskedLM(config).eval()
    return attnviz.LoadedModel(
        name="tiny BertForMaskedLM", module=module, tokenizer=tokenizer, family="hf", n_layers=2, n_heads=4,
        max_tokens=64, n_params=sum(p.numel() for p in module.parameters()), architecture="BertForMaskedLM",
        kind="encoder", model_type="bert",
    )


class TorchEncoderLM(nn.Module):
    """A masked-word model on PyTorch's own nn.TransformerEncoder (nn.MultiheadAttention inside)."""

    def __init__(self, vocab: int = 64, d: int = 8, heads: int = 2, layers: int = 2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d_model=d, nhead=heads, dim_feedforward=16, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.lm_head = nn.Linear(d, vocab)

    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.embed(ids), src_key_padding_mask=ids == LOCAL_PAD)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor | None = None) -> torch.Tensor:
        return self.lm_head(self.encode(src))  # attnviz.capture calls module(ids, ids)


def torch_mha_model() -> attnviz.LoadedModel:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        module = TorchEncoderLM().eval()
    return attnviz.LoadedModel(
        name="nn.TransformerEncoder LM", module=module, tokenizer=WordTokenizer(vocab_size=64), family="local",
        n_layers=2, n_heads=2, max_tokens=32, n_params=sum(p.numel() for p in module.parameters()),
        architecture="TorchEncoderLM",
    )
