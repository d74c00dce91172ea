"""paraphrases: generated sentence pairs labelled 1 when both sentences mean the same.

The sentences are the sentiment corpus's opinion clauses, in its vocabulary ("the plot was not
very good"), among neutral filler words. A clause means three things: what it is about (the
noun), which way the adjective points (good or bad), and whether it is negated. A paraphrase
says the same three things in other words: another adjective of the same polarity, another
negator, verb and intensifier, other filler ("the plot was not very good" / "the plot seemed
never great"). Half the pairs are paraphrases; the other half are near misses, never random
pairs: the second sentence changes exactly one of the three ("the acting was not very good",
"the plot was not awful", "the plot was good"). So sharing words tells little, and neither does
one word's presence: a model has to tell what each sentence is about and what it says of it.
("not bad" and "good" count as different claims here: a weaker one, as a reader hears them.)

Ids are sentiment.py's (0 pads, 1 starts a sentence, words from 3); each sentence is pre-padded
to MAX_LENGTH, as keras.utils.pad_sequences does. A pair is stored as x[i] = (2, MAX_LENGTH):
sentence a, then sentence b. 5% of labels are flipped, as sentiment.py does, so that the models
cannot all reach AUC 1.0 and their results can be told apart. Deterministic for a seed.
"""

import numpy as np

from xdl.data import sentiment
from xdl.spec import datasets

MAX_LENGTH = datasets.PARAPHRASES_MAX_LENGTH
FILLER_WORDS = 200  # the most frequent of sentiment.py's filler words
# The embedding's input dim: the ids below FIRST_WORD, the clause words, then the filler words.
NUM_WORDS = datasets.PARAPHRASES_NUM_WORDS
LABEL_NOISE = 0.05

_INDEX = {w: i + sentiment.FIRST_WORD for i, w in enumerate(sentiment.vocabulary())}


def _clause(noun: str, praise: bool, negated: bool, rng) -> list[str]:
    """One way of saying that `noun` was (or, negated, was not) good or bad: the adjective, the
    negator, the verb and an intensifier each drawn afresh."""
    adjectives = sentiment.POSITIVE if praise else sentiment.NEGATIVE
    words = ["the", noun, sentiment.LINKS[rng.integers(len(sentiment.LINKS))]]
    if negated:
        words.append(sentiment.NEGATORS[rng.integers(len(sentiment.NEGATORS))])
    if rng.random() < 0.4:
        words.append(sentiment.INTENSIFIERS[rng.integers(len(sentiment.INTENSIFIERS))])
    return words + [adjectives[rng.integers(len(adjectives))]]


def _sentence(meaning: tuple, rng, filler) -> list[int]:
    """A clause with 0 to 3 filler words on each side, as token ids after the start id."""
    before, after = (int(k) for k in rng.integers(0, 4, size=2))
    words = [_INDEX[w] for w in _clause(*meaning, rng)]
    return [sentiment.START, *filler(before), *words, *filler(after)]


def generate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n pairs (int64 ids, (n, 2, MAX_LENGTH)) and their labels (int64, 1 = same meaning)."""
    rng = np.random.default_rng(seed)
    first_filler = NUM_WORDS - FILLER_WORDS
    zipf = 1.0 / np.arange(1, FILLER_WORDS + 1)
    pool = iter((first_filler + rng.choice(FILLER_WORDS, size=n * 12, p=zipf / zipf.sum())).tolist())

    def filler(k):
        return [next(pool) for _ in range(k)]

    x = np.zeros((n, 2, MAX_LENGTH), np.int64)
    y = np.zeros(n, np.int64)
    nouns = sentiment.NOUNS
    for i in range(n):
        meaning = [nouns[rng.integers(len(nouns))], bool(rng.random() < 0.5), bool(rng.random() < 0.5)]
        other = list(meaning)
        same = rng.random() < 0.5
        if not same:  # a near miss: another subject, the opposite adjective, or the negation toggled
            change = int(rng.integers(3))
            other[change] = (nouns[(nouns.index(meaning[0]) + rng.integers(1, len(nouns))) % len(nouns)]
                             if change == 0 else not meaning[change])
        for j, tokens in enumerate((_sentence(meaning, rng, filler), _sentence(other, rng, filler))):
            x[i, j, MAX_LENGTH - len(tokens):] = tokens  # pre-padding
        y[i] = int(same) ^ int(rng.random() < LABEL_NOISE)
    return x, y


def load(data_dir=None, seed=0):
    # Train and test from disjoint seeds, as sentiment.py draws them.
    x_train, y_train = generate(20_000, seed=2 * seed + 1)
    x_test, y_test = generate(2_000, seed=2 * seed + 2)
    return x_train, y_train, x_test, y_test, f"generated paraphrase pairs (seed {seed}), padded to {MAX_LENGTH}"
