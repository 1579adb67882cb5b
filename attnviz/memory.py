"""Will a model fit? An estimate of the memory a model needs, and what this process may still use.

    need = estimate_bytes(n_params, dtype_bytes=4, n_layers=12, n_heads=12, hidden=768)
    check_fits("bert-base-uncased", need, available=available_bytes())   # ModelLoadError if not

``available_bytes`` reads the process's cgroup (v1 ``memory.limit_in_bytes`` minus
``memory.usage_in_bytes``, v2 ``memory.max`` minus ``memory.current``) and ``MemAvailable``
from ``/proc/meminfo``, and returns the smaller; the paths are arguments, so a test can
point them at a folder of its own.
"""

from __future__ import annotations

from pathlib import Path

from attnviz.errors import ModelLoadError

RUN_TOKENS = 512  # the estimate covers one run of this many tokens
_UNLIMITED = 1 << 60  # cgroup v1 writes a huge number (about 2**63) for "no limit"


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # cgroup v2 writes "max" for no limit


def _cgroup_dirs(root: Path, proc_cgroup: Path) -> list[tuple[str, Path]]:
    """(version, folder) candidates for this process's memory cgroup: its own path, then the root."""
    out: list[tuple[str, Path]] = []
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if "memory" in controllers.split(","):
            out.append(("v1", root / "memory" / rel))
        elif controllers == "":
            out.append(("v2", root / rel))
    return out + [("v1", root / "memory"), ("v2", root)]


def cgroup_available(root: Path | str = "/sys/fs/cgroup", proc_cgroup: Path | str = "/proc/self/cgroup") -> int | None:
    """The cgroup memory limit minus current usage, in bytes; None when there is no limit."""
    for version, folder in _cgroup_dirs(Path(root), Path(proc_cgroup)):
        if version == "v1":
            limit, usage = _read_int(folder / "memory.limit_in_bytes"), _read_int(folder / "memory.usage_in_bytes")
        else:
            limit, usage = _read_int(folder / "memory.max"), _read_int(folder / "memory.current")
        if limit is not None and usage is not None and limit < _UNLIMITED:
            return max(0, limit - usage)
    return None


def meminfo_available(meminfo: Path | str = "/proc/meminfo") -> int | None:
    """``MemAvailable`` from /proc/meminfo, in bytes; None if it cannot be read."""
    try:
        for line in Path(meminfo).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def available_bytes(root: Path | str = "/sys/fs/cgroup", proc_cgroup: Path | str = "/proc/self/cgroup",
                    meminfo: Path | str = "/proc/meminfo") -> int | None:
    """The memory this process may still use: the smaller of the cgroup's room and MemAvailable
    (None when neither can be read, e.g. not on Linux)."""
    known = [v for v in (cgroup_available(root, proc_cgroup), meminfo_available(meminfo)) if v is not None]
    return min(known) if known else None


def estimate_bytes(n_params: int, dtype_bytes: int = 4, n_layers: int = 12, n_heads: int = 12, hidden: int = 768,
                   tokens: int = RUN_TOKENS, stacks: int = 1) -> int:
    """Weights (parameters x bytes per parameter) plus one run of ``tokens`` tokens.

    The run: every layer's attention weights (heads x tokens x tokens, in the model's dtype and
    again as attnviz's float32 copy), for each attention ``stacks`` (3 for an encoder-decoder:
    encoder, decoder, cross), and the activations (about 16 hidden-sized vectors per token and
    layer). A rough upper estimate, meant to refuse what cannot fit, not to budget exactly.
    """
    attention = stacks * n_layers * n_heads * tokens * tokens * (dtype_bytes + 4)
    activations = 16 * n_layers * tokens * hidden * dtype_bytes
    return int(n_params * dtype_bytes + attention + activations)


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def check_fits(name: str, need: int, available: int | None) -> None:
    """Raise ModelLoadError when ``need`` bytes exceed ``available`` (None: unknown, let it try)."""
    if available is not None and need > available:
        raise ModelLoadError(
            f"{name!r} needs about {_gb(need)} of memory (its weights and a {RUN_TOKENS}-token run), "
            f"but this server has only {_gb(available)} free; pick a smaller model."
        )
