"""Checkpoints of the from-scratch transformer: a safetensors file of every weight and a JSON
file with its config, tokenizer (vocabulary) and whatever the writer adds (seed, figures).

    module, tokenizer, info = load_checkpoint()          # the committed toy-grammar checkpoint
    write_checkpoint(module, tokenizer, {"seed": 0}, out_dir, "mine")

The committed checkpoint (``checkpoints/toy_grammar.*``) is made by
``python -m attnviz.toygrammar.train``; loading it needs no training code. A missing or
mismatched checkpoint raises ``ModelLoadError`` saying how to restore or remake it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from attnviz.errors import ModelLoadError
from attnviz.local.model import Transformer, TransformerConfig
from attnviz.local.tokenizer import SPECIALS, WordTokenizer

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
CHECKPOINT_NAME = "toy_grammar"
TRAIN_COMMAND = "python -m attnviz.toygrammar.train"


def checkpoint_paths(directory: Path | str = CHECKPOINT_DIR, name: str = CHECKPOINT_NAME) -> tuple[Path, Path]:
    """(weights, metadata) paths of a checkpoint."""
    directory = Path(directory)
    return directory / f"{name}.safetensors", directory / f"{name}.json"


def _missing(what: str, path: Path) -> ModelLoadError:
    return ModelLoadError(
        f"The trained local model's {what} is missing: there is no file at {path}. It is part of the "
        f"repository (attnviz/local/checkpoints/); restore it from git, or make it again with: {TRAIN_COMMAND}"
    )


def read_checkpoint_info(directory: Path | str = CHECKPOINT_DIR, name: str = CHECKPOINT_NAME) -> dict:
    """The checkpoint's JSON: config, tokenizer and vocabulary, seed, settings, training figures."""
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


def write_checkpoint(module: Transformer, tokenizer: WordTokenizer, meta: dict, out_dir: Path | str = CHECKPOINT_DIR,
                     name: str = CHECKPOINT_NAME) -> tuple[Path, Path]:
    """Write ``<name>.safetensors`` (every weight) and ``<name>.json``: the module's config, the
    tokenizer, its vocabulary, the weights' checksum, and the entries of ``meta``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path, meta_path = checkpoint_paths(out_dir, name)
    state = {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}
    save_file(state, str(weights_path),
              metadata={"format": "attnviz.local.Transformer", "config": json.dumps(module.config.to_dict())})
    info = {
        "format": 1,
        "config": module.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "vocabulary": [w for w in tokenizer.vocab if w not in SPECIALS],
        "weights": {"file": weights_path.name, "sha256": hashlib.sha256(weights_path.read_bytes()).hexdigest(),
                    "bytes": weights_path.stat().st_size},
        **meta,
    }
    meta_path.write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    return weights_path, meta_path
