"""The local transformer trained on the toy grammar, from the committed checkpoint.

    model = load_trained()        # LoadedModel "local (trained on the toy grammar)", once per process
    vocabulary()                  # the words it knows; any other word is read as [UNK]
    random_model(seed=0)          # the same architecture and tokenizer with random (seeded) weights
    checkpoint_info()             # the checkpoint's JSON: config, vocabulary, seed, training figures

The checkpoint (``checkpoints/toy_grammar.safetensors`` + ``toy_grammar.json``) is made by
``python -m attnviz.local.train``; the app loads it without training. The tokenizer has
a vocabulary, so ``model.tokenizer.encode(text).unknown`` lists the typed words it does
not know (they become [UNK]). A missing or mismatched checkpoint raises
``attnviz.ModelLoadError`` saying how to restore or remake it (``attnviz.models`` is
imported lazily, so that it may import this module).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from attnviz.local.model import Transformer, TransformerConfig
from attnviz.local.tokenizer import SPECIALS, WordTokenizer

if TYPE_CHECKING:
    from attnviz.models import LoadedModel

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
CHECKPOINT_NAME = "toy_grammar"
TRAINED_NAME = "local (trained on the toy grammar)"
TRAIN_COMMAND = "python -m attnviz.local.train"


def checkpoint_paths(directory: Path | str = CHECKPOINT_DIR, name: str = CHECKPOINT_NAME) -> tuple[Path, Path]:
    """(weights, metadata) paths of a checkpoint."""
    directory = Path(directory)
    return directory / f"{name}.safetensors", directory / f"{name}.json"


def _missing(what: str, path: Path):
    # imported here, not at the top: attnviz.models may import this module
    from attnviz.models import ModelLoadError

    return ModelLoadError(
        f"The trained local model's {what} is missing: there is no file at {path}. It is part of the "
        f"repository (attnviz/local/checkpoints/); restore it from git, or make it again with: {TRAIN_COMMAND}"
    )


def read_checkpoint_info(directory: Path | str = CHECKPOINT_DIR, name: str = CHECKPOINT_NAME) -> dict:
    """The checkpoint's JSON: config, tokenizer and vocabulary, seed, settings, training figures."""
    from attnviz.models import ModelLoadError

    _, meta_path = checkpoint_paths(directory, name)
    if not meta_path.is_file():
        raise _missing("description (config and vocabulary)", meta_path)
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"The trained local model's description {meta_path} cannot be read: {exc}") from exc


def load_checkpoint(directory: Path | str = CHECKPOINT_DIR, name: str = CHECKPOINT_NAME) -> tuple[Transformer, WordTokenizer, dict]:
    """(module in eval mode, tokenizer, checkpoint info) from a checkpoint folder; not cached.

    Raises ``attnviz.ModelLoadError`` with a plain message when a file is missing or does
    not match (wrong weights for the config, a changed weights file).
    """
    from safetensors.torch import load_file

    from attnviz.models import ModelLoadError

    weights_path, _ = checkpoint_paths(directory, name)
    info = read_checkpoint_info(directory, name)
    if not weights_path.is_file():
        raise _missing("weights file", weights_path)
    expected = info.get("weights", {}).get("sha256")
    if expected and hashlib.sha256(weights_path.read_bytes()).hexdigest() != expected:
        raise ModelLoadError(
            f"The trained local model's weights {weights_path} do not match its description {weights_path.with_suffix('.json')} "
            f"(different checksum): the two files come from different training runs. Restore both from git, "
            f"or train again with: {TRAIN_COMMAND}"
        )
    try:
        config = TransformerConfig(**info["config"])
        tokenizer = WordTokenizer.from_dict(info["tokenizer"])
        with torch.random.fork_rng():  # building the module draws initial weights; keep the caller's RNG as it was
            module = Transformer(config)
        module.load_state_dict(load_file(str(weights_path)), strict=True)
    except (KeyError, TypeError, RuntimeError, OSError) as exc:
        raise ModelLoadError(f"The trained local model's checkpoint in {Path(directory)} cannot be loaded: {exc}") from exc
    if tokenizer.vocab_size != config.vocab_size:
        raise ModelLoadError(
            f"The trained local model's vocabulary has {tokenizer.vocab_size} entries but its config {config.vocab_size}."
        )
    module.eval().requires_grad_(False)
    return module, tokenizer, info


@functools.lru_cache(maxsize=1)
def load_trained() -> LoadedModel:
    """The trained local model, loaded once per process (the same object every call)."""
    from attnviz.models import _wrap_local

    module, tokenizer, _ = load_checkpoint(CHECKPOINT_DIR, CHECKPOINT_NAME)
    return _wrap_local(TRAINED_NAME, module, tokenizer)


@functools.lru_cache(maxsize=1)
def checkpoint_info() -> dict:
    """The committed checkpoint's JSON (see ``read_checkpoint_info``), read once per process."""
    return read_checkpoint_info(CHECKPOINT_DIR, CHECKPOINT_NAME)


def vocabulary() -> list[str]:
    """The words the trained model knows (specials left out), in token-id order."""
    return [w for w in checkpoint_info()["tokenizer"]["vocab"] if w not in SPECIALS]


def random_model(seed: int = 0, init: str = "training") -> LoadedModel:
    """The trained model's architecture and tokenizer with random weights drawn with ``seed``:
    the fair "random weights" comparison for the trained model.

    ``init="training"``: the initialisation training starts from (``train.initial_model``;
    with seed 0, the committed model's own weights before training). ``init="default"``:
    the Transformer's default initialisation, as ``attnviz.local_model`` draws it.
    """
    from attnviz.local.train import initial_model
    from attnviz.models import _wrap_local

    info = checkpoint_info()
    config = TransformerConfig(**info["config"])
    if init == "training":
        module = initial_model(config, seed)
    elif init == "default":
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            module = Transformer(config)
    else:
        raise ValueError(f"init must be 'training' or 'default', not {init!r}")
    label = "" if init == "training" else ", default init"
    return _wrap_local(f"local (random weights, seed {seed}{label}, toy-grammar vocabulary)",
                       module.eval().requires_grad_(False), WordTokenizer.from_dict(info["tokenizer"]))
