"""Hosted mode (a public link shared by many visitors) and the memory a model may use.

Pure Python, no Streamlit, so the rules are easy to test.

Hosted mode is one switch, read from the environment on every run::

    ATTNVIZ_HOSTED=1
    ATTNVIZ_MODELS="sentence-transformers/all-MiniLM-L6-v2, local-trained, local"   # optional

On Streamlit Community Cloud, root-level secrets become environment variables, so the two
lines above go into the app's secrets (Advanced settings -> Secrets) as TOML
(``ATTNVIZ_HOSTED = "1"``). In hosted mode only the listed models can be chosen, from the
menu or from a link; any other value in a link gets the same one-line notice (``refused_notice``),
so a link can neither load a model nor learn whether a path exists on the server.

The memory check refuses a model before its weights load when the weights plus one run of
512 tokens would not fit in the memory left: the process's cgroup limit (v2 ``memory.max``
or v1 ``memory.limit_in_bytes``, the smallest on the way up the hierarchy) minus what the
group uses now (without its reclaimable page cache), and never more than the machine's
``MemAvailable``. This belongs in ``attnviz.load_model`` (attnviz/memory.py, in progress
elsewhere); until it lands, ``components.data.get_model`` calls ``memory_refusal`` first.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from attnviz.models import DEFAULT_MODEL, LOCAL_MODEL, LOCAL_TRAINED

HOSTED_ENV = "ATTNVIZ_HOSTED"
MODELS_ENV = "ATTNVIZ_MODELS"
DEFAULT_ALLOWED = (DEFAULT_MODEL, LOCAL_TRAINED, LOCAL_MODEL)
_TRUE = {"1", "true", "yes", "on"}

#: The notice for every model value a link may not use in hosted mode: the same words whatever the
#: value was (an unknown id, a 400M-parameter id, a path that exists, one that does not, junk).
REFUSED = "This app offers only the models in its menu, so the model named in the link was not loaded"


def refused_notice(fallback: str) -> str:
    """``REFUSED``, with the model shown instead (the same sentence for every refused value)."""
    return f"{REFUSED}; showing {fallback} instead."

#: Per-request bounds on heavy work in hosted mode (corpus scoring).
HOSTED_MAX_SENTENCES = 500
HOSTED_MAX_TOKENS = 128  # per sentence; longer sentences are cut (their far arcs are skipped)

RUN_TOKENS = 512
_UNLIMITED = 2**60  # cgroup v1 writes "no limit" as a huge number (9223372036854771712)


@dataclass(frozen=True)
class Settings:
    hosted: bool = False
    models: tuple[str, ...] = DEFAULT_ALLOWED

    def allows(self, name: str) -> bool:
        """Whether ``name`` may be loaded: always outside hosted mode; in it, only the listed ids (exactly)."""
        return not self.hosted or name in self.models

    @property
    def fallback(self) -> str:
        """The model shown when a link's is refused: the default model if listed, else the first listed one."""
        return DEFAULT_MODEL if DEFAULT_MODEL in self.models else self.models[0]


def settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Hosted mode and the allowed models, from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    hosted = str(env.get(HOSTED_ENV, "")).strip().lower() in _TRUE
    listed = tuple(dict.fromkeys(m for m in re.split(r"[,\s]+", str(env.get(MODELS_ENV, ""))) if m))
    return Settings(hosted=hosted, models=listed or DEFAULT_ALLOWED)


# ----------------------------------------------------------------------------- memory


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return _UNLIMITED
    try:
        return int(text)
    except ValueError:
        return None


def _stat(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


@dataclass(frozen=True)
class CgroupMemory:
    """The memory limit of the process's cgroup and what the group uses now (bytes)."""

    version: int  # 1 or 2
    path: Path  # the group whose limit is the smallest
    limit: int
    usage: int  # without reclaimable page cache (inactive files)

    @property
    def left(self) -> int:
        return max(self.limit - self.usage, 0)


def cgroup_memory(proc_cgroup: str | Path = "/proc/self/cgroup", root: str | Path = "/sys/fs/cgroup") -> CgroupMemory | None:
    """The enforced memory limit of this process's cgroup (v2 first, then v1), or None when there is none."""
    try:
        lines = Path(proc_cgroup).read_text().splitlines()
    except OSError:
        return None
    root = Path(root)
    candidates: list[tuple[int, Path, Path, str, str, str]] = []  # version, mount, group, limit/usage files, inactive key
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, group = parts
        rel = group.lstrip("/")
        if hierarchy == "0" and controllers == "":
            candidates.append((2, root, root / rel, "memory.max", "memory.current", "inactive_file"))
        elif "memory" in controllers.split(","):
            for mount in (root / "memory", root / controllers):
                if mount.is_dir():
                    candidates.append((1, mount, mount / rel, "memory.limit_in_bytes", "memory.usage_in_bytes",
                                       "total_inactive_file"))
                    break
    best: CgroupMemory | None = None
    for version, mount, group, limit_file, usage_file, inactive in candidates:
        node = group
        while True:  # the group and its ancestors: the smallest room left applies
            limit = _read_int(node / limit_file)
            if limit is not None and limit < _UNLIMITED:
                usage = (_read_int(node / usage_file) or 0) - _stat(node / "memory.stat", inactive)
                found = CgroupMemory(version, node, limit, max(usage, 0))
                if best is None or found.left < best.left:
                    best = found
            if node == mount or mount not in node.parents:
                break
            node = node.parent
    return best


def mem_available(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """The kernel's estimate of memory available to new work (bytes), or None."""
    try:
        match = re.search(r"^MemAvailable:\s+(\d+) kB", Path(meminfo).read_text(), re.M)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def memory_left() -> tuple[int | None, CgroupMemory | None]:
    """Bytes this process may still allocate (the smaller of its cgroup's room and MemAvailable), and the cgroup."""
    group = cgroup_memory()
    values = [v for v in (group.left if group else None, mem_available()) if v is not None]
    return (min(values) if values else None), group


def bytes_needed(n_params: int, n_layers: int, n_heads: int, tokens: int = RUN_TOKENS, bytes_per_param: int = 4) -> int:
    """Weights (float32) plus one run of ``tokens`` tokens: the recorded attention is held twice
    (the hooks' tensors and the Run's array) and the activations add about as much again."""
    attention = n_layers * n_heads * tokens * tokens * 4
    return n_params * bytes_per_param + 3 * attention


def _gb(n: int) -> str:
    return f"{n / 2**30:.2f} GB"


def memory_refusal(name: str, need: int, left: int | None, group: CgroupMemory | None = None) -> str | None:
    """The notice refusing ``name`` when ``need`` bytes do not fit in ``left``, or None when it fits."""
    if left is None or need <= left:
        return None
    where = f" (this server's memory limit is {_gb(group.limit)})" if group else ""
    return (f"Not enough memory for {name!r}: its weights and a {RUN_TOKENS}-token run need about {_gb(need)}, "
            f"and {_gb(left)} is left{where}. It was not loaded; pick a smaller model.")
