"""One tiny random Hugging Face model per attention family attnviz claims, built from a config (nothing
downloaded), and a padded batch of inputs for it: tests/lib/test_hooks_families.py checks every family against
the model's own attention weights; other tests reuse the models (the check's failures, value norms).

    model = build_hf("llama"); model(**hf_inputs("llama"))
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from transformers import AutoConfig, AutoModel

V = 120
TINY = dict(vocab_size=V, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32)
GQA = dict(TINY, num_key_value_heads=2)
SEQ2SEQ = dict(vocab_size=V, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
               decoder_attention_heads=4, encoder_ffn_dim=32, decoder_ffn_dim=32, pad_token_id=1,
               decoder_start_token_id=2, eos_token_id=2, bos_token_id=0)

HF = {
    "bert": dict(TINY),
    "roberta": dict(TINY, pad_token_id=1),
    "distilbert": dict(vocab_size=V, dim=16, n_layers=2, n_heads=4, hidden_dim=32),
    "albert": dict(TINY, embedding_size=8),
    "electra": dict(TINY, embedding_size=16),
    "xlm-roberta": dict(TINY, pad_token_id=1),
    "deberta-v2": dict(TINY, relative_attention=True, position_buckets=8, pos_att_type=["p2c", "c2p"]),
    "mpnet": dict(TINY),
    "modernbert": dict(TINY, global_attn_every_n_layers=2, local_attention=4, pad_token_id=0, bos_token_id=1,
                       eos_token_id=2, cls_token_id=1, sep_token_id=2),
    "gpt2": dict(vocab_size=V, n_embd=16, n_layer=2, n_head=4),
    "gpt_neox": dict(TINY),
    "llama": dict(GQA),
    "qwen2": dict(GQA),
    "mistral": dict(GQA, sliding_window=4),
    "gemma": dict(GQA, head_dim=4),
    "gemma2": dict(GQA, head_dim=4, sliding_window=4),
    "phi3": dict(GQA, pad_token_id=0),
    "t5": dict(vocab_size=V, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_heads=4, relative_attention_num_buckets=8),
    "bart": dict(SEQ2SEQ),
    "marian": dict(SEQ2SEQ, decoder_vocab_size=V),
}
ENCODER_DECODER = {"t5", "bart", "marian"}


def build_hf(family: str) -> nn.Module:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = AutoConfig.for_model(family, **HF[family])
        return AutoModel.from_config(config).eval()  # the default implementation (SDPA where there is one)


def hf_inputs(family: str) -> dict:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, V, (2, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # padding in the batch
    inputs = dict(input_ids=ids, attention_mask=mask)
    if family in ENCODER_DECODER:
        dec = torch.randint(3, V, (2, 6), generator=g)
        dec_mask = torch.ones_like(dec)
        dec_mask[1, 4:] = 0
        inputs.update(decoder_input_ids=dec, decoder_attention_mask=dec_mask)
    return inputs
