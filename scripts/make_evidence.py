"""Write attnviz/data/evidence/minilm_ud_ewt_dev.json: the default model's heads scored on the gold
trees of UD English EWT dev, the corpus evidence the app shows with no click and no parser.

    HF_HUB_OFFLINE=1 python scripts/make_evidence.py [--conllu ../shared/ud/en_ewt-ud-dev.conllu]

The file holds counts only (``HeadScores.to_json``: arcs, hits, baseline and hard-arc counts per
relation, layer, head and direction) and no text of the corpus beyond relation names; its meta
names the corpus, its licence and attribution (CC BY-SA 4.0), the model, the counts, the attnviz
version, the date and this command. Read it with ``attnviz.evidence.shipped_scores``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import attnviz  # noqa: E402
from attnviz.conllu_io import read_conllu  # noqa: E402
from attnviz.errors import CoNLLUError  # noqa: E402
from attnviz.evidence import ATTRIBUTION, CORPUS_LABEL, CORPUS_LICENSE, CORPUS_NAME, SHIPPED, evidence_path  # noqa: E402
from attnviz.scoring import score_heads  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UD_DEV = ROOT.parent / "shared" / "ud" / "en_ewt-ud-dev.conllu"


def attnviz_version() -> str:
    try:
        return version("attnviz")
    except PackageNotFoundError:
        return "unknown"


def evidence_meta(scores, conllu: Path, seconds: float) -> dict:
    """What the shipped file says about itself (no corpus text)."""
    return {
        "corpus": CORPUS_NAME, "corpus_label": CORPUS_LABEL, "corpus_file": conllu.name, "license": CORPUS_LICENSE,
        "attribution": ATTRIBUTION, "model": scores.model_name, "sentences": scores.n_sentences, "words": scores.n_words,
        "arcs": scores.n_arcs, "skipped_arcs": scores.n_skipped_arcs, "attnviz_version": attnviz_version(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "seconds": round(seconds, 1), "subtypes": False,
        "measure": "attention", "command": "HF_HUB_OFFLINE=1 python scripts/make_evidence.py"
        + (f" --conllu {shlex.quote(str(conllu))}" if conllu != UD_DEV else ""),
        "method": "Clark et al. 2019 word-level attention and prediction rule; baseline offset k* = the most frequent "
                  "offset in -3..3 except 0; hard arcs = head not at k*; Voita's flag = accuracy >= baseline + 0.10",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--conllu", type=Path, default=UD_DEV, help=f"the UD English EWT dev file (default {UD_DEV})")
    ap.add_argument("--out", type=Path, default=evidence_path(attnviz.DEFAULT_MODEL))
    args = ap.parse_args(argv)
    if attnviz.DEFAULT_MODEL not in SHIPPED:
        print("error: attnviz.evidence.SHIPPED names no file for the default model", file=sys.stderr)
        return 2
    try:
        sentences = read_conllu(args.conllu)
    except CoNLLUError as exc:
        print(f"error: {exc} (pass --conllu PATH to en_ewt-ud-dev.conllu)", file=sys.stderr)
        return 2
    model = attnviz.load_model(attnviz.DEFAULT_MODEL)
    scores = score_heads(model, sentences)
    scores.meta = evidence_meta(scores, args.conllu, scores.meta["seconds"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    scores.to_json(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {scores.n_sentences} sentences, {scores.n_arcs} arcs, "
          f"{len(scores.relations)} relations, {scores.meta['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
