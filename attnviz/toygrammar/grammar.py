"""A toy English grammar whose sentences carry their dependency trees.

    grammar.generate_corpus(200, seed=1)   # 200 Sentences: words, 0-based heads, UD relations, UPOS
    grammar.examples()                     # a few sentences to offer in the app

Its words are ``lexicon``'s. Verbs agree in number with their subject, across adverbs, objects,
prepositional phrases (on nouns, on verbs, and fronted) and object relative clauses, so that the
agreement of a verb can cross other nouns:

    the heavy snow makes the driving more difficult
    the dogs that the cat sees run fast          (run agrees with dogs, not with cat)
    the teacher near the children sings loudly   (sings agrees with teacher)
    in the park the dogs that the girl near the trees often sees run

Every noun's number is drawn on its own (singular or plural, even odds), so nouns between
a verb and its subject have the other number half of the time, and no noun's number
tells anything about another's: agreement can only be learnt by finding the subject.

Trees follow Universal Dependencies (basic, as in UD English EWT): ``det``, ``amod``,
``nsubj``, ``obj``, ``advmod``, ``case``, ``nmod`` (a prepositional phrase on a noun),
``obl`` (on a verb), ``acl:relcl`` (relative clause -> the noun it modifies), ``xcomp``
(the adjective of "make X difficult") and ``root``. The relativizer "that" of an object
relative clause is, as in UD, the ``obj`` of the clause's verb ("the dogs that the cat
sees": sees -obj-> that, sees -nsubj-> cat, dogs -acl:relcl-> sees).

Each Sentence's ``meta`` says what depends on what for number agreement:
``meta["agreement"]`` lists ``(target, controller, kind)`` word indexes, kind "verb" (a
verb and its subject) or "det" (a number-marked determiner and its noun); and
``meta["attractor"]`` says, per item, whether a noun of the other number stands between
the two. ``meta["number"]`` holds "Sing"/"Plur" for nouns, verbs and marked determiners.

The grammar is a sampler over small specifications (``Clause``, ``NP``, ``RC``):
``build(spec)`` turns one into a Sentence, ``sample_clause(rng)`` draws one at random.
Held-out data: ``split="test"`` keeps only sentences whose text hashes (crc32) into one
bucket of ten, ``split="train"`` only the others, so no test sentence is ever trained on.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from attnviz.toygrammar.lexicon import (
    ADJECTIVES,
    ADVERBS,
    ANIMATE,
    CAUSATIVE,
    DET_NUMBER,
    DETERMINERS,
    INTRANSITIVE,
    MASS,
    MASS_DETERMINERS,
    MORE,
    MORE_PREDICATES,
    NEUTRAL_DETERMINER,
    NMOD_PREPOSITIONS,
    NOUN_NUMBER,
    OBL_PREPOSITIONS,
    PLACES,
    PLUR,
    PREDICATES,
    RELATIVIZER,
    SING,
    TRANSITIVE,
    number_of,
    verb_form,
)
from attnviz.tree import Sentence

RELATIONS = ("det", "amod", "nsubj", "obj", "advmod", "case", "nmod", "obl", "acl:relcl", "xcomp", "root")


# ---------------------------------------------------------------- specifications


@dataclass(frozen=True)
class NP:
    """A noun phrase: (det) adjectives noun, then at most one of a PP (nmod) or a relative clause."""

    noun: str  # the form as written: "dog" or "dogs"
    det: str | None = NEUTRAL_DETERMINER
    adjectives: tuple[str, ...] = ()
    pp: tuple[str, NP] | None = None  # (preposition, noun phrase)
    rc: RC | None = None

    @property
    def number(self) -> str:
        return NOUN_NUMBER[self.noun]


@dataclass(frozen=True)
class RC:
    """An object relative clause: "that" subject ("often") verb; the modified noun is the verb's object."""

    subject: NP
    verb: str
    adverb: str | None = None  # before the verb: "the dogs that the cat often sees"


@dataclass(frozen=True)
class Clause:
    """(fronted PP) subject (pre_adverb) verb (object) (more predicate) (adverb) (preposition noun phrase)."""

    subject: NP
    verb: str
    obj: NP | None = None
    predicate: str | None = None  # with a causative verb: "makes the driving (more) difficult"
    more: bool = False
    adverb: str | None = None
    pre_adverb: bool = False  # "the dogs often run": the adverb before the verb
    obl: tuple[str, NP] | None = None
    fronted: tuple[str, NP] | None = None  # "in the park the dogs run": an obl before the subject


@dataclass
class _Tree:
    words: list[str] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)
    pos: list[str] = field(default_factory=list)
    agreement: list[tuple[int, int, str]] = field(default_factory=list)

    def add(self, word: str, pos: str) -> int:
        self.words.append(word)
        self.heads.append(-2)  # filled in by attach
        self.relations.append("")
        self.pos.append(pos)
        return len(self.words) - 1

    def attach(self, dependent: int, head: int, relation: str) -> None:
        self.heads[dependent], self.relations[dependent] = head, relation


def _noun_phrase(t: _Tree, np_: NP) -> int:
    """Add the words of ``np_``; return the index of its noun (the phrase's head)."""
    det = t.add(np_.det, "DET") if np_.det else None
    adjectives = [t.add(a, "ADJ") for a in np_.adjectives]
    noun = t.add(np_.noun, "NOUN")
    if det is not None:
        t.attach(det, noun, "det")
        if np_.det in DET_NUMBER:
            t.agreement.append((det, noun, "det"))
    for a in adjectives:
        t.attach(a, noun, "amod")
    if np_.pp is not None:
        t.attach(_prepositional(t, np_.pp), noun, "nmod")
    if np_.rc is not None:
        rel = t.add(RELATIVIZER, "PRON")
        subject = _noun_phrase(t, np_.rc.subject)
        adverb = t.add(np_.rc.adverb, "ADV") if np_.rc.adverb else None
        verb = t.add(np_.rc.verb, "VERB")
        if adverb is not None:
            t.attach(adverb, verb, "advmod")
        t.attach(rel, verb, "obj")
        t.attach(subject, verb, "nsubj")
        t.attach(verb, noun, "acl:relcl")
        t.agreement.append((verb, subject, "verb"))
    return noun


def _prepositional(t: _Tree, pp: tuple[str, NP]) -> int:
    """Add a preposition and its noun phrase ("with the dog": case -> dog); return the noun's index."""
    prep, inner = pp
    p = t.add(prep, "ADP")
    noun = _noun_phrase(t, inner)
    t.attach(p, noun, "case")
    return noun


def build(clause: Clause) -> Sentence:
    """The Sentence (words, heads, relations, UPOS, agreement meta) of a specification."""
    t = _Tree()
    fronted = None
    if clause.fronted is not None:
        fronted = _prepositional(t, clause.fronted)
    subject = _noun_phrase(t, clause.subject)
    pre = t.add(clause.adverb, "ADV") if clause.adverb and clause.pre_adverb else None
    verb = t.add(clause.verb, "VERB")
    t.attach(verb, -1, "root")
    t.attach(subject, verb, "nsubj")
    t.agreement.append((verb, subject, "verb"))
    if fronted is not None:
        t.attach(fronted, verb, "obl")
    if pre is not None:
        t.attach(pre, verb, "advmod")
    if clause.obj is not None:
        t.attach(_noun_phrase(t, clause.obj), verb, "obj")
    if clause.predicate is not None:
        more = t.add(MORE, "ADV") if clause.more else None
        pred = t.add(clause.predicate, "ADJ")
        t.attach(pred, verb, "xcomp")
        if more is not None:
            t.attach(more, pred, "advmod")
    if clause.adverb and not clause.pre_adverb:
        t.attach(t.add(clause.adverb, "ADV"), verb, "advmod")
    if clause.obl is not None:
        t.attach(_prepositional(t, clause.obl), verb, "obl")
    assert all(h != -2 for h in t.heads), t.words
    number = [number_of(w) if pos in ("NOUN", "VERB", "DET") else None for w, pos in zip(t.words, t.pos)]
    agreement = sorted(t.agreement)
    attractor = []
    for target, controller, _ in agreement:
        lo, hi = sorted((target, controller))
        attractor.append(any(
            t.pos[i] == "NOUN" and number[i] != number[controller] for i in range(lo + 1, hi)
        ))
    return Sentence(
        list(t.words), list(t.heads), list(t.relations), pos=list(t.pos),
        meta={"agreement": agreement, "attractor": attractor, "number": number, "source": "toy grammar"},
    )


# ---------------------------------------------------------------- sampling


def _number(rng: random.Random) -> str:
    """A grammatical number, singular or plural with equal chance and independently of every
    other noun: nouns between a verb and its subject then have the other number half of the
    time (attractors), and no noun's number says anything about another's, so that a model
    can only get agreement right by finding the subject (or the noun) itself."""
    return SING if rng.random() < 0.5 else PLUR


def _sample_np(
    rng: random.Random, kind: str, number: str, modifiers: bool = False, avoid_det: bool = False, p_pp: float = 0.0,
) -> NP:
    """A noun phrase of ``kind`` ("animate", "place", "mass"); with ``modifiers``, maybe a PP or an RC;
    else a PP with probability ``p_pp``."""
    if kind == "mass":
        noun, number = rng.choice(MASS), SING
    else:
        pair = rng.choice(ANIMATE if kind == "animate" else PLACES)
        noun = pair[0] if number == SING else pair[1]
    if kind == "mass":
        det = rng.choice((*MASS_DETERMINERS, NEUTRAL_DETERMINER, None))
    elif number == PLUR and rng.random() < 0.15 and not avoid_det:
        det = None  # bare plural: "dogs run"
    else:
        det = NEUTRAL_DETERMINER if rng.random() < 0.4 else rng.choice(DETERMINERS[number])
    n_adj = rng.choices((0, 1, 2), weights=(0.45, 0.4, 0.15))[0]
    adjectives = tuple(rng.sample(ADJECTIVES, n_adj))
    pp = rc = None
    r = rng.random()
    if (modifiers and r < 0.3) or (not modifiers and r < p_pp):
        inner = _sample_np(rng, rng.choice(("animate", "place")), _number(rng))
        pp = (rng.choice(NMOD_PREPOSITIONS), inner)
    elif modifiers and r < 0.6:
        # the clause's own subject, maybe with a PP of its own, maybe "often" before its verb:
        # its verb cannot simply agree with the word before it
        inner = _sample_np(rng, "animate", _number(rng), p_pp=0.25)
        adverb = "often" if rng.random() < 0.2 else None
        rc = RC(inner, verb_form(rng.choice(TRANSITIVE), inner.number), adverb)
    return NP(noun, det, adjectives, pp, rc)


def sample_clause(rng: random.Random) -> Clause:
    """One random specification of the grammar."""
    r = rng.random()
    verb_class = "intransitive" if r < 0.4 else "transitive" if r < 0.85 else "causative"
    subject_kind = "animate" if verb_class != "causative" or rng.random() < 0.5 else "mass"
    subject = _sample_np(rng, subject_kind, _number(rng), modifiers=True)
    # what stands between subject and verb decides whether the verb must look past a noun
    obj = predicate = obl = None
    more = False
    if verb_class == "intransitive":
        verb = verb_form(rng.choice(INTRANSITIVE), subject.number)
    elif verb_class == "transitive":
        verb = verb_form(rng.choice(TRANSITIVE), subject.number)
        kind = rng.choices(("animate", "place", "mass"), weights=(0.7, 0.2, 0.1))[0]
        nested = subject.rc is None and subject.pp is None and rng.random() < 0.3
        obj = _sample_np(rng, kind if not nested else "animate", _number(rng), modifiers=nested)
    else:
        verb = verb_form(rng.choice(CAUSATIVE), subject.number)
        kind = "mass" if rng.random() < 0.4 else "animate"
        obj = _sample_np(rng, kind, _number(rng))
        if rng.random() < 0.5:
            predicate, more = rng.choice(MORE_PREDICATES), rng.random() < 0.6
        else:
            predicate = rng.choice(PREDICATES)
    adverb, pre_adverb = None, False
    if rng.random() < 0.45:
        adverb = rng.choice(ADVERBS)
        pre_adverb = adverb == "often" and rng.random() < 0.5
    fronted = None
    if rng.random() < 0.12:  # "in the park the dogs run": the first noun is not the subject
        fronted = (rng.choice(OBL_PREPOSITIONS), _sample_np(rng, "place", _number(rng)))
    elif rng.random() < (0.35 if verb_class == "intransitive" else 0.15):
        obl = (rng.choice(OBL_PREPOSITIONS), _sample_np(rng, "place", _number(rng)))
    return Clause(subject, verb, obj, predicate, more, adverb, pre_adverb, obl, fronted)


def in_split(words: Sequence[str], split: str | None) -> bool:
    """Whether a sentence belongs to ``split``: "test" (1 crc32 bucket in 10), "train" (the other 9), None (any)."""
    if split is None:
        return True
    bucket = zlib.crc32(" ".join(words).encode("utf-8")) % 10
    if split == "test":
        return bucket == 0
    if split == "train":
        return bucket != 0
    raise ValueError(f"split must be 'train', 'test' or None, not {split!r}")


def generate(rng: random.Random, split: str | None = None) -> Sentence:
    """One random sentence of ``split`` (see ``in_split``), drawn with ``rng``."""
    while True:
        sentence = build(sample_clause(rng))
        if in_split(sentence.words, split):
            return sentence


#: Seed of the held-out corpus: the training figures, tests, benchmark, the app's "Generated
#: corpus" and ``attnviz heads --generated`` all read its first sentences.
EVAL_SEED = 20240611


def held_out_corpus(n: int = 1000) -> list[Sentence]:
    """``n`` sentences of the test split (never trained on), seed ``EVAL_SEED``: the same everywhere."""
    return generate_corpus(n, seed=EVAL_SEED, split="test")


def generate_corpus(n: int, seed: int = 0, split: str | None = None) -> list[Sentence]:
    """``n`` generated sentences with their gold trees; the same ``seed`` gives the same corpus.

    ``split="test"``: only held-out sentences (never seen in training); ``"train"``: never
    held-out ones; None: any. Sentence ids are ``toy-<seed>-<i>``.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    out = []
    for i in range(n):
        sentence = generate(rng, split)
        sentence.sent_id = f"toy-{seed}-{i + 1}"
        out.append(sentence)
    return out


# ---------------------------------------------------------------- examples for the app

_EXAMPLES = (
    Clause(NP("snow", "the", ("heavy",)), "makes", obj=NP("driving"), predicate="difficult", more=True),
    Clause(NP("dogs", rc=RC(NP("cat"), "sees")), "run", adverb="fast"),
    Clause(NP("teacher", pp=("near", NP("children"))), "sings", adverb="loudly"),
    Clause(NP("cat", rc=RC(NP("dogs"), "chase")), "sleeps", obl=("under", NP("tree"))),
    Clause(NP("girls", "these", ("little",)), "like", obj=NP("horse", "this", ("big",))),
    Clause(NP("farmer", "a"), "watches", obj=NP("birds", "some"), adverb="often", pre_adverb=True),
    Clause(NP("music", "the", ("loud",)), "keeps", obj=NP("children", "the"), predicate="happy"),
    Clause(NP("kings", "the", pp=("with", NP("dog", "a", ("small",))), ), "walk", adverb="slowly",
           obl=("in", NP("park"))),
    Clause(NP("dogs", rc=RC(NP("girl", pp=("near", NP("trees"))), "sees", "often")), "run",
           fronted=("in", NP("park"))),
)


def example_sentences() -> list[Sentence]:
    """The examples with their trees."""
    return [build(c) for c in _EXAMPLES]


def examples() -> list[str]:
    """A few sentences of the grammar to offer in the app (the first two are the issue's)."""
    return [s.text for s in example_sentences()]


# ---------------------------------------------------------------- analysis

NSUBJ_KINDS = ("plain", "across-pp", "across-relcl", "in-relcl")


def nsubj_kind(sentence: Sentence, subject: int) -> str:
    """What a subject's verb has to look past to find it: "in-relcl" (the verb of a relative
    clause), "across-relcl" / "across-pp" (a main verb whose subject carries a relative clause
    / a prepositional phrase), or "plain"."""
    verb = sentence.syntactic_heads[subject]
    if sentence.relations[verb] == "acl:relcl":
        return "in-relcl"
    between = sentence.relations[min(subject, verb) + 1 : max(subject, verb)]
    if "acl:relcl" in between:
        return "across-relcl"
    if "nmod" in between:
        return "across-pp"
    return "plain"


def with_nsubj_kinds(sentences: Sequence[Sentence]) -> list[Sentence]:
    """Copies whose ``nsubj`` labels carry their kind as a subtype (``nsubj:across-relcl``, see
    ``nsubj_kind``): ``score_heads(model, with_nsubj_kinds(corpus), subtypes=True)`` then
    scores each kind apart."""
    out = []
    for s in sentences:
        relations = [
            f"nsubj:{nsubj_kind(s, i)}" if r == "nsubj" else r for i, r in enumerate(s.relations)
        ]
        out.append(Sentence(list(s.words), list(s.syntactic_heads), relations, pos=s.pos and list(s.pos),
                            sent_id=s.sent_id, meta=dict(s.meta)))
    return out
