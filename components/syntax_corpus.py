"""Heads vs. syntax over a corpus: the relation x head scores, with the baseline beside every figure.

For the default model the scores on UD English EWT dev ship with attnviz (``attnviz.evidence``), so the
evidence is there with no click and no parser; any model can be scored here on an uploaded CoNLL-U
file, the toy grammar's generated corpus or the built-in sample (parsed by spaCy). The scores made
here are kept in the session (``session_keys.CORPUS_SCORES``) and credit heads on the explorer's first screen too.
"""

from __future__ import annotations

import streamlit as st

from attnviz import figures
from attnviz.errors import ParserUnavailableError
from attnviz.evidence import shipped_scores
from attnviz.head_scores import DIRECTIONS, HeadScores
from attnviz.parsing import load_sample
from attnviz.scoring import score_heads
from attnviz.toygrammar.grammar import EVAL_SEED, held_out_corpus
from components import data, heavy, hosting
from components import session_keys as keys
from components.app_settings import settings
from components.charts import chart
from components.downloads import export_buttons, file_stem
from components.markdown import arrows, literal
from components.measures import file_tag

SHIPPED = "UD English EWT dev (gold trees; scores shipped with attnviz)"
UPLOAD, GENERATED, SAMPLE = ("Upload a CoNLL-U file (gold trees)", "Generated corpus (the toy grammar's own trees, no parser)",
                             "Built-in sample (parsed by spaCy)")
METRICS = {"beyond": "beyond position (hard arcs only)", "accuracy": "accuracy (all arcs)"}
#: The table's columns as shown: the paper's figures first, then what position alone does not explain.
SHOWN_COLUMNS = {"relation": "relation", "arcs": "arcs", "best head": "best head", "accuracy": "accuracy",
                 "baseline offset": "baseline offset", "baseline accuracy": "baseline", "voita": "≥ baseline + 0.10",
                 "hard arcs": "hard arcs", "beyond head": "beyond-position head", "beyond accuracy": "beyond position",
                 "beyond-head accuracy": "its accuracy"}


def _sentences(source: str):
    """(sentences, digest, name) of a chosen source, or None after saying why there are none."""
    if source == GENERATED:
        return held_out_corpus(500), f"toy-{EVAL_SEED}", "the generated corpus"
    if source == UPLOAD:
        return heavy.conllu_upload("dep_upload", "Upload a .conllu file of at most {limit_mb} MB, e.g. a UD treebank's "
                                   "dev split. A larger file is refused by the uploader (a red mark on the file; hover it "
                                   "for the reason).")
    try:
        return load_sample(data.get_parser()), "sample", "built-in sample"
    except ParserUnavailableError as exc:
        st.error(literal(str(exc)))
        return None


def scored(view, source: str, measure: str, named: str) -> HeadScores | None:
    """Scores of the chosen corpus, made on the fair job queue (once per session and key), or None."""
    chosen = _sentences(source)
    if chosen is None:
        return None
    sentences, digest, name = chosen
    s = view.state
    hosted = settings().hosted
    most = min(len(sentences), hosting.HOSTED_MAX_SENTENCES) if hosted else len(sentences)
    limit = st.slider("Sentences", 1, most, min(most, 300), key="dep_limit")
    if most < len(sentences):
        st.caption(f"This shared app scores at most {hosting.HOSTED_MAX_SENTENCES} sentences per request, each cut to "
                   f"{hosting.HOSTED_MAX_TOKENS} tokens ({len(sentences):,} in {literal(name)}).")
    key = (s.model, digest, limit, hosted, measure)
    model, subset = view.model, sentences[:limit]
    max_tokens = hosting.HOSTED_MAX_TOKENS if hosted else None

    def work(progress):
        scores = score_heads(model, subset, batch_size=16, progress=progress, max_tokens=max_tokens, measure=measure)
        scores.meta["corpus"] = name  # for captions: "... of 1,234 arcs in the generated corpus"
        return scores

    # new scores credit heads in the sentence view above too: the page is drawn again with them
    return heavy.kept(keys.CORPUS_SCORES, keys.DEP_JOB, key, f"Scoring {limit} sentences of {name}{named}", work,
                      start=lambda: st.button(f"Score all heads on {limit} sentences of {name}{named}", key="dep_run",
                                              type="primary"),
                      shared=source != UPLOAD, rerun=True)


def scores_table(scores: HeadScores, stem: str) -> None:
    table = scores.table(min_count=5)
    if table.empty:  # a small file: show what there is rather than nothing
        table = scores.table(min_count=1)
        st.warning("Every relation has fewer than 5 arcs in these sentences, so all are shown; "
                   "accuracies over so few arcs say little. Score more sentences for a stable table.")
    shown = table[list(SHOWN_COLUMNS)].rename(columns=SHOWN_COLUMNS)
    st.dataframe(arrows(shown), key="dep_table", hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in shown.select_dtypes("float").columns})
    st.caption("Accuracy, best head and baseline as in Clark et al. 2019 (the best fixed offset in −3..3). The flag: the best "
               "accuracy is at least the baseline's + 0.10 (Voita et al. 2019). Hard arcs: those whose head is not at the "
               "relation's usual offset; the beyond-position head gets most of them right (fewer than 50: too few to credit).")
    # data= a callable: the file is made on click, and no copy waits in the server's media store for the
    # browser to check it (a rerun in between dropped it: the check's 404 showed in the console)
    st.download_button("Table as CSV", lambda: scores.to_csv(min_count=1).encode("utf-8"), file_name=stem + ".csv",
                       mime="text/csv", key="dep_csv", on_click="ignore", icon=":material/table:")


def scores_heatmap(scores: HeadScores, relations: list[str], model_short: str, named: str, stem: str) -> None:
    metric = st.segmented_control("Heatmap", list(METRICS), format_func=METRICS.get, default="beyond", key="dep_metric",
                                  help="Beyond position counts only the arcs whose head is not at the relation's usual "
                                       "offset, so a head that merely looks at the next word earns nothing there.") or "beyond"
    rows = [scores.relations.index(r) for r in relations]
    beyond = metric == "beyond"

    def heat():
        matrix = scores.beyond_matrix() if beyond else scores.matrix()
        counts = scores.hard_counts if beyond else scores.counts
        what = "accuracy beyond position (hard arcs)" if beyond else "accuracy"
        return figures.score_heatmap(matrix[rows], relations, scores.head_labels, counts=counts[rows],
                                     title=f"{model_short}: {what} per relation and head{named} (better direction)",
                                     value_label="beyond position" if beyond else "accuracy")

    event = chart(figures.clickable_cells(heat()), key="dep_heatmap", width="content", on_select="rerun", selection_mode="points")
    cell = next((p["customdata"][0] for p in (event.selection.points if event else []) if p.get("customdata")), None)
    if cell and st.session_state.get(keys.DEP_CELL) != cell:  # a cell shows its head above (once per click)
        st.session_state[keys.DEP_CELL] = cell
        layer, head = (int(x) for x in cell.split("-"))
        st.session_state[keys.PENDING] = {keys.LAYER: layer, keys.HEAD: head, keys.ALL_HEADS: False}
        st.rerun()
    export_buttons(heat, stem + ("_beyond" if beyond else ""), key="dep_heat")
    st.caption("Rows: relations with their number of " + ("hard arcs" if beyond else "arcs") + ". Click a cell to show that "
               f"head in the sentence view above. Directions: {arrows(DIRECTIONS[0])} (the dependent attends most to its head) "
               f"and {arrows(DIRECTIONS[1])}.")


def corpus_section(view, measure: str, named: str) -> None:
    st.header("Over a corpus")
    s = view.state
    shipped = shipped_scores(s.model) if measure == "attention" else None
    sources = ([SHIPPED] if shipped is not None else []) + [UPLOAD, GENERATED, SAMPLE]
    source = st.radio("Trees", sources, key="dep_source", horizontal=True,
                      help="The generated corpus suits the local transformer trained on the toy grammar: "
                           "its trees are known by construction.")
    if source == SHIPPED:
        scores = shipped
        st.caption(literal(scores.meta.get("attribution", "")))
    else:
        scores = scored(view, source or sources[0], measure, named)
        if scores is None:
            return
    st.caption(("Scored on value-weighted attention: a head predicts the word with the largest value-weighted share. "
                if measure == "value" else "")
               + f"{scores.n_sentences:,} sentences, {scores.n_words:,} words, {scores.n_arcs:,} arcs; "
               f"{scores.meta['seconds']:.1f} s ({scores.n_words / max(scores.meta['seconds'], 1e-9):.0f} words/s).")
    model_short = s.model.split("/")[-1]
    stem = file_stem(model_short, "heads-vs-relations", file_tag(measure))
    scores_table(scores, stem)
    shown = [r for r, n in zip(scores.relations, scores.counts.tolist()) if n >= 5] or list(scores.relations)
    scores_heatmap(scores, shown, model_short, named, stem)

