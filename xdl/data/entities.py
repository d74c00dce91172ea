"""entities: generated sentences tagged for named-entity recognition, in CoNLL-2003's tag set.

Sentences come from templates ("<PER> flew to <LOC> for <ORG>") filled with names drawn from
small gazetteers. Some words are in two lists on purpose, as in real text: "Jordan" is a
person in "Jordan said" and a place in "flew to Jordan", "Lincoln" a person or a town; only
the neighbouring words tell which, so a tagger must read context, in both directions.

Ids: 0 pads, 1 is an unknown word (10% of words, at random), words from 2. Tags: 0 pads, then O and B-/I- for PER,
LOC, ORG and MISC (CoNLL-2003's). Sentences are post-padded to 32 tokens (tagging keeps a
token's position; the padding tags are class 0 and the metric skips them).
"""

import numpy as np

from xdl.spec import datasets

PAD, OOV, FIRST_WORD = 0, 1, 2
MAX_LENGTH = 32
NUM_WORDS = datasets.ENTITIES_NUM_WORDS
TAGS = datasets.ENTITIES_TAGS

_PER = ("Anna Keller", "John Smith", "Maria Rossi", "Wei Zhang", "Jordan", "Lincoln", "Sara Lind",
        "Ahmed Khan", "Paris Hilton", "Tom Berg", "Olga Petrova", "Luis Garcia", "Georgia Brown")
_LOC = ("Paris", "Jordan", "Berlin", "New York", "Lincoln", "Cairo", "Georgia", "Lake Tahoe",
        "Buenos Aires", "Oslo", "Kyoto", "Cape Town", "Lima")
_ORG = ("Acme Corp", "the United Nations", "Reuters", "Lincoln Motors", "Bank of Oslo", "Siemens",
        "the Red Cross", "Nokia", "Kyoto University", "General Foods")
_MISC = ("German", "French", "Olympic", "Nobel", "Japanese", "Brazilian", "World Cup")
_TEMPLATES = (
    "{PER} said on Monday that {ORG} would open an office in {LOC} .",
    "{PER} flew to {LOC} to meet {PER} .",
    "the {MISC} team beat {LOC} in the final .",
    "{ORG} hired {PER} as chief executive .",
    "shares of {ORG} rose in {LOC} after the {MISC} report .",
    "{PER} won the {MISC} prize for work at {ORG} .",
    "officials in {LOC} and {LOC} signed the deal .",
    "{PER} told reporters that {PER} had left {ORG} .",
    "a {MISC} tourist was seen near {LOC} .",
    "{ORG} reported profits , {PER} said .",
)


def _fill(template: str, rng) -> tuple[list[str], list[str]]:
    words, tags = [], []
    for token in template.split():
        if token.startswith("{"):
            kind = token[1:-1]
            pool = {"PER": _PER, "LOC": _LOC, "ORG": _ORG, "MISC": _MISC}[kind]
            entity = pool[rng.integers(len(pool))].split()
            words += entity
            tags += [f"B-{kind}"] + [f"I-{kind}"] * (len(entity) - 1)
        else:
            words.append(token)
            tags.append("O")
    return words, tags


def vocabulary() -> list[str]:
    """Every word the templates and gazetteers use, in a fixed order (ids from FIRST_WORD)."""
    words = {w for t in _TEMPLATES for w in t.split() if not w.startswith("{")}
    words |= {w for pool in (_PER, _LOC, _ORG, _MISC) for name in pool for w in name.split()}
    return sorted(words)


def encode(sentences: list[list[str]], tags: list[list[str]], index: dict[str, int],
           max_length: int = MAX_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """Words and tag names -> post-padded (and cut) id and tag-index arrays."""
    tag_index = {t: i for i, t in enumerate(TAGS)}
    x = np.zeros((len(sentences), max_length), np.int64)
    y = np.zeros((len(sentences), max_length), np.int64)
    for i, (words, names) in enumerate(zip(sentences, tags)):
        words, names = words[:max_length], names[:max_length]
        x[i, : len(words)] = [index.get(w, OOV) for w in words]
        y[i, : len(names)] = [tag_index[t] for t in names]
    return x, y


UNKNOWN_RATE = 0.1  # words replaced by the unknown id: rare words a tagger must place by context


def generate(n: int, seed: int):
    rng = np.random.default_rng(seed)
    index = {w: i + FIRST_WORD for i, w in enumerate(vocabulary())}
    pairs = [_fill(_TEMPLATES[rng.integers(len(_TEMPLATES))], rng) for _ in range(n)]
    x, y = encode([p[0] for p in pairs], [p[1] for p in pairs], index)
    # Real text is full of words no vocabulary holds ("Blackburn", "Nyquist"): their tag can only
    # come from the words around them.
    unknown = (rng.random(x.shape) < UNKNOWN_RATE) & (x != PAD)
    x[unknown] = OOV
    return x, y


def load(data_dir=None, seed=0):
    x_train, y_train = generate(3000, seed=2 * seed + 1)
    x_test, y_test = generate(600, seed=2 * seed + 2)
    return x_train, y_train, x_test, y_test, f"generated tagged sentences (seed {seed})"
