"""Shared fixtures. Tests never touch the network: the Hub is switched to offline mode.

Helpers are not here: they are in tests/helpers/ (``from tests.helpers.<module> import ...``)."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

# a failing assert inside a helper (apptest.assert_clean, the reference scorer) is explained like a test's own
pytest.register_assert_rewrite("tests.helpers")

import attnviz  # noqa: E402
from tests.helpers.paths import SHARED_UD  # noqa: E402


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
    """A tiny random BertForMaskedLM with the default model's tokenizer (tests/helpers/tiny_models.py)."""
    from tests.helpers.tiny_models import tiny_bert_mlm

    return tiny_bert_mlm(minilm.tokenizer)
