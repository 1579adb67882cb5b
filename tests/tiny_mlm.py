"""Small models for the ablation and erasure tests, built from configs (nothing downloaded)."""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig, BertForMaskedLM

import attnviz
from attnviz.local.tokenizer import PAD, WordTokenizer


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
        return self.encoder(self.embed(ids), src_key_padding_mask=ids == PAD)

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
