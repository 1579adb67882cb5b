"""Shared fixtures. Tests never touch the network: the Hub is switched to offline mode."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
from tiny_mlm import tiny_bert_mlm  # noqa: E402

import attnviz  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

SHARED_UD = ROOT.parent / "shared" / "ud" / "en_ewt-ud-dev.conllu"


@pytest.fixture(scope="session")
def minilm() -> "attnviz.LoadedModel":
    """The offline default model, loaded once for the whole test session."""
    return attnviz.load_model(attnviz.DEFAULT_MODEL)


@pytest.fixture(scope="session")
def ud_dev() -> Path:
    """../shared/ud/en_ewt-ud-dev.conllu (gold UD trees); skips when the shared folder is absent."""
    if not SHARED_UD.is_file():
        pytest.skip(f"needs the shared UD dev file at {SHARED_UD} (not part of the repository)")
    return SHARED_UD


@pytest.fixture(scope="session")
def trained() -> "attnviz.LoadedModel":
    """The local transformer trained on the toy grammar (the committed checkpoint)."""
    return attnviz.load_trained()


@pytest.fixture(scope="session")
def tiny(minilm) -> "attnviz.LoadedModel":
    """A tiny random BertForMaskedLM with the default model's tokenizer (tests/tiny_mlm.py)."""
    return tiny_bert_mlm(minilm.tokenizer)
