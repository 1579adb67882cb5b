"""Tiny random Hugging Face models saved to folders, loaded by path as a person would load any model.

They use the offline default model's (BERT WordPiece) tokenizer, so nothing is downloaded.

    folders = save_models(tmp_path, seq2seq_configs())   # {"bart": Path, "gpt2": Path}
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

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
