"""The loaded-model type: what ``attnviz.capture`` needs to run a model.

``attnviz.models.load_model`` makes these for every model attnviz knows; wrap your own
from-scratch transformer with ``LoadedModel.from_local``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(eq=False)
class LoadedModel:
    """A model ready for ``attnviz.capture``: the module, its tokenizer and its shape."""

    name: str
    module: nn.Module
    tokenizer: object  # a Hugging Face tokenizer or attnviz's WordTokenizer
    family: str  # "local" | "hf"
    n_layers: int
    n_heads: int
    max_tokens: int
    n_params: int
    architecture: str

    @property
    def is_local(self) -> bool:
        return self.family == "local"

    @classmethod
    def from_local(cls, name: str, module: nn.Module, tokenizer: object) -> LoadedModel:
        """Wrap attnviz's from-scratch ``Transformer`` (``module.config`` gives its shape) and a
        ``WordTokenizer`` under a display ``name``."""
        c = module.config
        return cls(
            name=name, module=module, tokenizer=tokenizer, family="local", n_layers=c.num_layers,
            n_heads=c.num_heads, max_tokens=c.max_len, n_params=sum(p.numel() for p in module.parameters()),
            architecture="attnviz Transformer (from scratch)",
        )
