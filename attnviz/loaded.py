"""The loaded-model type: what ``attnviz.capture`` needs to run a model.

``attnviz.models.load_model`` makes these for every model attnviz knows; wrap your own
from-scratch transformer with ``LoadedModel.from_local``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(eq=False)
class LoadedModel:
    """A model ready for ``attnviz.capture``: the module, its tokenizer and its shape.

    kind:          "encoder" (BERT, ...: ``capture``), "decoder" (GPT-2, Llama, ...: ``capture``
                   and ``generate``) or "encoder-decoder" (T5, BART, Marian, attnviz's local
                   transformer: ``capture`` reads the source only, ``capture_pair`` a source and a
                   target, ``generate`` the model's own target)
    can_generate:  the module has a language-model head, so ``attnviz.generate`` can continue a
                   text greedily (decoders loaded with AutoModelForCausalLM, encoder-decoders with
                   AutoModelForSeq2SeqLM)
    model_type:    the config's ``model_type`` ("bert", "llama", "t5", ...; "local" for attnviz's own)
    """

    name: str
    module: nn.Module
    tokenizer: object  # a Hugging Face tokenizer or attnviz's WordTokenizer
    family: str  # "local" | "hf"
    n_layers: int
    n_heads: int
    max_tokens: int
    n_params: int
    architecture: str
    kind: str = "encoder"
    can_generate: bool = False
    model_type: str = ""

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
            architecture="attnviz Transformer (from scratch)", kind="encoder-decoder", can_generate=False,
            model_type="local",
        )
