"""spaCy's English parse in Universal Dependencies terms, so it can meet evidence scored on UD trees.

spaCy's English pipelines label arcs in the ClearNLP scheme (``dobj``, ``pobj``, ``prep``, ``acomp``,
...); the evidence attnviz ships was scored on UD English EWT's gold trees (``obj``, ``obl``, ``case``,
...). ``to_ud`` renames the labels whose arcs mean the same thing in both schemes and rebuilds the one
construction that the schemes attach differently, the prepositional phrase:

    ClearNLP:  went ──prep──▶ to ──pobj──▶ school      (the preposition heads the phrase)
    UD:        went ──obl───▶ school ──case──▶ to      (the noun does; the preposition is its case marker)

Arcs with no counterpart are marked ``dep`` (with the spaCy label kept in ``meta["spacy_relations"]``)
rather than guessed, so no head is ever credited for a relation it was not scored on.
"""

from __future__ import annotations

from attnviz.tree import Sentence

#: ClearNLP label -> UD relation, for arcs that link the same two words in both schemes.
SAME_ARC = {
    "nsubj": "nsubj", "nsubjpass": "nsubj:pass", "csubj": "csubj", "csubjpass": "csubj:pass",
    "dobj": "obj", "dative": "iobj", "attr": "obj", "oprd": "xcomp",
    "amod": "amod", "det": "det", "predet": "det:predet", "nummod": "nummod", "quantmod": "advmod",
    "advmod": "advmod", "neg": "advmod", "npadvmod": "obl:npmod",
    "aux": "aux", "auxpass": "aux:pass", "mark": "mark", "cc": "cc", "conj": "conj", "preconj": "cc:preconj",
    "compound": "compound", "prt": "compound:prt", "poss": "nmod:poss", "case": "case",
    "xcomp": "xcomp", "ccomp": "ccomp", "acomp": "xcomp", "advcl": "advcl", "acl": "acl", "relcl": "acl:relcl",
    "appos": "appos", "expl": "expl", "punct": "punct", "intj": "discourse", "parataxis": "parataxis",
    "root": "root",
}
NOMINAL = {"NOUN", "PROPN", "PRON", "NUM"}


def to_ud(sentence: Sentence) -> Sentence:
    """The same words with UD relations and UD's attachment of prepositional phrases (see the module)."""
    spacy = list(sentence.relations)
    pos = sentence.pos or [""] * len(sentence.words)
    heads, relations = _copulas(list(sentence.syntactic_heads), list(sentence.relations), pos)
    for obj, (prep, label) in enumerate(zip(list(heads), spacy)):
        if label != "pobj" or prep < 0 or spacy[prep] != "prep":
            continue
        governor = heads[prep]
        if governor < 0:  # a preposition as the root: nothing to attach the noun to
            continue
        heads[obj], relations[obj] = governor, ("nmod" if pos[governor] in NOMINAL else "obl")
        heads[prep], relations[prep] = obj, "case"
        _move_dependents(heads, prep, obj)
    for i, label in enumerate(spacy):
        if relations[i] == label:  # not rebuilt above: renamed, or "dep" (a stranded prep, a pobj without prep)
            relations[i] = SAME_ARC.get(label, "dep")
    tree = Sentence(words=sentence.words, syntactic_heads=heads, relations=relations, text=sentence.text,
                    offsets=sentence.offsets, pos=sentence.pos, sent_id=sentence.sent_id,
                    meta={**sentence.meta, "spacy_relations": spacy, "scheme": "ud"})
    return tree.validate()


def links_words(sentence: Sentence) -> bool:
    """Whether the parse links two words: an arc that is not punctuation (one word, or only punctuation, has none)."""
    return any(relation != "punct" for _, _, relation in sentence.arcs)


def _move_dependents(heads: list[int], old: int, new: int) -> None:
    """Every other dependent of ``old`` now depends on ``new``."""
    for other, h in enumerate(heads):
        if h == old and other != new:
            heads[other] = new


def _copulas(heads: list[int], relations: list[str], pos: list[str]) -> tuple[list[int], list[str]]:
    """ClearNLP heads a copular clause by "be" (``is ──acomp/attr──▶ blue``); UD by the predicate,
    with "be" as its ``cop``: the predicate takes the verb's place and the verb's other dependents."""
    for predicate, (verb, label) in enumerate(zip(list(heads), list(relations))):
        if label in ("acomp", "attr") and verb >= 0 and pos[verb] == "AUX":
            heads[predicate], relations[predicate] = heads[verb], SAME_ARC.get(relations[verb], "dep")
            heads[verb], relations[verb] = predicate, "cop"
            _move_dependents(heads, verb, predicate)
    return heads, relations
