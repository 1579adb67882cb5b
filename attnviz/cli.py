"""The command line: ``attnviz heads`` scores every attention head against every relation.

    attnviz heads --conllu FILE [--model NAME] [--limit N] [--csv OUT] [--min-hard 50]
    attnviz heads --sample
    attnviz heads --generated 1000 --model local-trained

(``python -m attnviz.cli heads ...`` does the same.)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import pandas as pd

from attnviz.conllu_io import read_conllu
from attnviz.errors import CoNLLUError, ModelLoadError, ParserUnavailableError, UnsupportedModelError
from attnviz.head_scores import MIN_HARD, TOO_FEW, HeadScores
from attnviz.models import DEFAULT_MODEL, load_model
from attnviz.parsing import load_parser, load_sample
from attnviz.scoring import score_heads
from attnviz.toygrammar.grammar import EVAL_SEED, held_out_corpus
from attnviz.tree import Sentence


def _print_progress(done: int, total: int) -> None:
    print(f"\r{done}/{total} sentences", end="" if done < total else "\n", file=sys.stderr, flush=True)


def _heads_parser(prog: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="Score every attention head against every dependency relation (Clark et al. 2019).",
    )
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--conllu", metavar="FILE", help="a CoNLL-U file with gold trees")
    src.add_argument("--sample", action="store_true", help="the built-in sample sentences, parsed by spaCy")
    src.add_argument("--generated", type=int, metavar="N",
                     help="N held-out sentences of the toy grammar, with their trees known by construction (no parser)")
    ap.add_argument("--model", default=None,
                    help="model name or folder (default: the offline MiniLM; 'local' = local transformer with random "
                         "weights, 'local-trained' = trained on the toy grammar)")
    ap.add_argument("--limit", type=int, default=None, metavar="N", help="use only the first N sentences")
    ap.add_argument("--csv", metavar="OUT", help="also write the table as CSV to OUT")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--min-count", type=int, default=1, metavar="N", help="show relations with at least N arcs")
    ap.add_argument("--min-hard", type=int, default=MIN_HARD, metavar="N",
                    help=f"credit a head beyond position only for relations with at least N hard arcs (default {MIN_HARD})")
    ap.add_argument("--subtypes", action="store_true", help="keep relation subtypes (nmod:poss) apart")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr (shown only on a terminal anyway)")
    return ap


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _bad_number(args: argparse.Namespace) -> str | None:
    """What is wrong with the numbers given, if anything."""
    if args.limit is not None and args.limit < 1:
        return "--limit must be at least 1"
    if args.batch_size < 1:
        return "--batch-size must be at least 1"
    if args.min_hard < 1:
        return "--min-hard must be at least 1"
    if args.generated is not None and args.generated < 1:
        return "--generated must be at least 1"
    return None


def _sentences(args: argparse.Namespace) -> tuple[list[Sentence], str]:
    """The sentences asked for, and where they come from in words."""
    if args.conllu:
        return read_conllu(args.conllu, limit=args.limit), args.conllu
    if args.generated:
        return (held_out_corpus(args.generated)[: args.limit],
                f"toy grammar, held-out split, seed {EVAL_SEED} (gold trees by construction)")
    parser = load_parser()
    return load_sample(parser)[: args.limit], f"built-in sample, parsed by {parser.label}"


def _print_scores(scores: HeadScores, source: str, min_count: int, min_hard: int) -> None:
    """What was scored, how fast, the table, and what its columns mean."""
    seconds = scores.meta["seconds"]
    print(f"model:  {scores.model_name} ({scores.n_layers} layers x {scores.n_heads} heads)")
    print(f"input:  {source}: {scores.n_sentences} sentences, {scores.n_words} words, {scores.n_arcs} arcs scored"
          + (f" ({scores.n_skipped_arcs} skipped)" if scores.n_skipped_arcs else ""))
    print(f"time:   {seconds:.1f} s ({scores.n_words / max(seconds, 1e-9):.0f} words/s)")
    table = scores.table(min_count, min_hard)
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_columns", None):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"hard arcs: the relation's arcs whose head is not at its baseline offset; beyond: the best head on those "
          f"(\"{TOO_FEW}\" under {min_hard}); voita: accuracy >= baseline accuracy + 0.10 (Voita et al. 2019)")


def heads_main(argv: Sequence[str] | None = None, prog: str = "attnviz heads") -> int:
    """``attnviz heads``: score every attention head against every dependency relation."""
    args = _heads_parser(prog).parse_args(argv)
    problem = _bad_number(args)
    if problem:
        return _fail(problem)
    try:
        sentences, source = _sentences(args)
        model = load_model(args.model or DEFAULT_MODEL)
        scores = score_heads(
            model, sentences, batch_size=args.batch_size, subtypes=args.subtypes,
            progress=None if args.quiet or not sys.stderr.isatty() else _print_progress,
        )
    except (CoNLLUError, ParserUnavailableError, ModelLoadError, UnsupportedModelError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    _print_scores(scores, source, args.min_count, args.min_hard)
    if args.csv:
        try:
            scores.to_csv(args.csv, min_count=args.min_count, min_hard=args.min_hard)
        except OSError as exc:
            return _fail(f"could not write {args.csv}: {exc.strerror or exc}")
        print(f"wrote {args.csv}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``attnviz COMMAND ...``; today one command, ``heads``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"heads": heads_main}
    if not argv or argv[0] not in commands:
        asked = bool(argv) and argv[0] in ("-h", "--help")
        print("usage: attnviz heads [--conllu FILE | --sample | --generated N] [options]\n\n"
              "commands:\n  heads   score every attention head against every dependency relation "
              "(attnviz heads --help)", file=sys.stdout if asked else sys.stderr)
        return 0 if asked else 2
    return run(commands[argv[0]], argv[1:])


def run(command, argv: Sequence[str], **kwargs) -> int:
    """Run a command; when the reader goes away (``| head``), stop quietly."""
    try:
        return command(argv, **kwargs)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
