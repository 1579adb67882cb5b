"""The toy grammar's words: each with its part of speech and, for nouns, verbs and determiners, its
grammatical number ("Sing"/"Plur") and its other-number form.

    lexicon.vocabulary()           # every word the grammar (and the trained model) knows, in a fixed order
    lexicon.number_of("dogs")      # "Plur"
    lexicon.OTHER_NUMBER["sees"]   # "see": the form a swapped or wrong agreement would take

Real English words, a small lexicon: determiners, adjectives, singular and plural nouns (and mass
nouns, singular only), verbs that agree in number with their subject (intransitive, transitive and
causative), predicative adjectives, adverbs and prepositions. ``grammar`` builds sentences from them.
"""

from __future__ import annotations

SING, PLUR = "Sing", "Plur"

ANIMATE = (  # (singular, plural): subjects and objects
    ("dog", "dogs"), ("cat", "cats"), ("bird", "birds"), ("horse", "horses"), ("child", "children"),
    ("man", "men"), ("woman", "women"), ("boy", "boys"), ("girl", "girls"), ("teacher", "teachers"),
    ("farmer", "farmers"), ("doctor", "doctors"), ("neighbour", "neighbours"), ("student", "students"),
    ("friend", "friends"), ("king", "kings"),
)
PLACES = (  # (singular, plural): in prepositional phrases and as objects
    ("park", "parks"), ("river", "rivers"), ("hill", "hills"), ("tree", "trees"), ("house", "houses"),
    ("garden", "gardens"), ("road", "roads"), ("field", "fields"), ("city", "cities"), ("bridge", "bridges"),
)
MASS = ("snow", "rain", "music", "driving", "traffic", "noise", "weather")  # singular only
INTRANSITIVE = (  # (3rd person singular, plural)
    ("runs", "run"), ("sleeps", "sleep"), ("sings", "sing"), ("walks", "walk"), ("swims", "swim"),
    ("waits", "wait"), ("plays", "play"), ("laughs", "laugh"), ("jumps", "jump"), ("dances", "dance"),
)
TRANSITIVE = (
    ("sees", "see"), ("likes", "like"), ("chases", "chase"), ("follows", "follow"), ("watches", "watch"),
    ("finds", "find"), ("helps", "help"), ("knows", "know"), ("loves", "love"), ("visits", "visit"),
)
CAUSATIVE = (("makes", "make"), ("keeps", "keep"))  # X makes Y (more) ADJ
ADJECTIVES = (  # attributive; none starts with a vowel, so "a" never needs to be "an"
    "big", "small", "heavy", "happy", "tired", "young", "little", "good", "bad", "lazy",
    "quiet", "noisy", "strong", "busy", "clever", "loud", "cold", "dark", "wet", "tall",
)
PREDICATES = ("happy", "tired", "busy", "quiet", "wet", "cold", "safe", "sad", "warm", "calm")
MORE_PREDICATES = ("difficult", "dangerous", "careful", "beautiful")  # take "more"
ADVERBS = ("fast", "slowly", "quietly", "loudly", "often", "well", "happily", "together")
NMOD_PREPOSITIONS = ("near", "behind", "with", "beside", "under")
OBL_PREPOSITIONS = ("in", "on", "near", "under", "behind", "at")
DETERMINERS = {SING: ("this", "a", "every"), PLUR: ("these", "some", "all")}
NEUTRAL_DETERMINER = "the"
MASS_DETERMINERS = ("the", "this")
RELATIVIZER = "that"
MORE = "more"

NOUN_NUMBER: dict[str, str] = {}
for _sg, _pl in ANIMATE + PLACES:
    NOUN_NUMBER[_sg], NOUN_NUMBER[_pl] = SING, PLUR
for _m in MASS:
    NOUN_NUMBER[_m] = SING
VERB_NUMBER: dict[str, str] = {}
for _sg, _pl in INTRANSITIVE + TRANSITIVE + CAUSATIVE:
    VERB_NUMBER[_sg], VERB_NUMBER[_pl] = SING, PLUR
DET_NUMBER = {d: n for n, ds in DETERMINERS.items() for d in ds}

# the form of the other number: sings <-> sing, this <-> these, a <-> some, every <-> all
OTHER_NUMBER: dict[str, str] = {}
for _sg, _pl in INTRANSITIVE + TRANSITIVE + CAUSATIVE + tuple(zip(DETERMINERS[SING], DETERMINERS[PLUR])):
    OTHER_NUMBER[_sg], OTHER_NUMBER[_pl] = _pl, _sg


def vocabulary() -> list[str]:
    """Every word of the grammar, in a fixed order (the trained model's vocabulary, specials excluded)."""
    words: list[str] = [NEUTRAL_DETERMINER, *DETERMINERS[SING], *DETERMINERS[PLUR], RELATIVIZER, MORE]
    for pairs in (ANIMATE, PLACES):
        for sg, pl in pairs:
            words += [sg, pl]
    words += MASS
    for pairs in (INTRANSITIVE, TRANSITIVE, CAUSATIVE):
        for sg, pl in pairs:
            words += [sg, pl]
    words += [*ADJECTIVES, *PREDICATES, *MORE_PREDICATES, *ADVERBS, *NMOD_PREPOSITIONS, *OBL_PREPOSITIONS]
    return list(dict.fromkeys(words))


def number_of(word: str) -> str | None:
    """"Sing"/"Plur" for a noun, a verb or a number-marked determiner; None otherwise."""
    return NOUN_NUMBER.get(word) or VERB_NUMBER.get(word) or DET_NUMBER.get(word)


def verb_form(pair: tuple[str, str], number: str) -> str:
    return pair[0] if number == SING else pair[1]
