"""sentiment: a generated corpus of movie reviews whose labels depend on local word order.

Each review is one or three opinion clauses ("the acting was not very good") among neutral
filler words. A clause's polarity is its adjective's, flipped by a negator; the review is
positive when most of its clauses are. Half the clauses are negated, so counting
words (a bag of words) gets only part of the way: a model must read "not ... good" as a
unit, which is what a convolution over neighbouring words, or a recurrent network, does.

Token ids follow keras.datasets.imdb: 0 pads, 1 starts a review, 2 is an unknown word, real
words from 3; sequences are pre-padded and pre-truncated to the length asked for, as
keras.utils.pad_sequences does by default. Deterministic for a seed; generated in well under
a second, so nothing is downloaded or stored.
"""

import numpy as np

from xdl.spec import datasets

PAD, START, OOV, FIRST_WORD = 0, 1, 2, 3
MAX_LENGTH = datasets.SENTIMENT_MAX_LENGTH
NUM_WORDS = datasets.SENTIMENT_NUM_WORDS
# Reviewers are not always consistent: 5% of labels disagree with the text, as in real data.
# Without it every model reaches AUC 1.0 and the frameworks' results cannot be told apart.
LABEL_NOISE = 0.05

POSITIVE = ("good", "great", "excellent", "wonderful", "brilliant", "moving", "funny", "superb",
            "enjoyable", "clever", "beautiful", "gripping")
NEGATIVE = ("bad", "awful", "boring", "dull", "terrible", "weak", "poor", "clumsy", "tedious",
            "predictable", "ugly", "forgettable")
NEGATORS = ("not", "never", "hardly", "barely")
INTENSIFIERS = ("very", "really", "truly", "quite", "rather", "so")
NOUNS = ("movie", "film", "plot", "acting", "story", "ending", "cast", "music", "script",
          "direction", "dialogue", "pacing", "camera", "lead", "villain", "score")
LINKS = ("was", "is", "felt", "seemed", "looked")
FILLER_WORDS = 1_000  # neutral words w0..w999, Zipf-distributed like real text


def vocabulary() -> list[str]:
    """Word for each id from FIRST_WORD on (ids below are padding, start, unknown)."""
    fixed = ["the", *POSITIVE, *NEGATIVE, *NEGATORS,
             *INTENSIFIERS, *NOUNS, *LINKS]
    return fixed + [f"w{i}" for i in range(FILLER_WORDS)]


_INDEX = {w: i + FIRST_WORD for i, w in enumerate(vocabulary())}


def _ids(words):
    return [_INDEX[w] for w in words]


def generate(n: int, seed: int, max_length: int = MAX_LENGTH) -> tuple[np.ndarray, np.ndarray]:
    """n reviews (int64 token ids, (n, max_length)) and their labels (int64, 1 = positive)."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary()
    filler = np.arange(len(vocab) - FILLER_WORDS, len(vocab)) + FIRST_WORD
    zipf = 1.0 / np.arange(1, FILLER_WORDS + 1)
    zipf /= zipf.sum()
    # All filler drawn at once (drawing per sentence with p= is 50x slower), then consumed.
    pool = iter(rng.choice(filler, size=n * 3 * 25, p=zipf).tolist())
    x = np.zeros((n, max_length), np.int64)
    y = np.zeros(n, np.int64)
    for r in range(n):
        tokens, total = [START], 0
        clauses = 1 + 2 * int(rng.integers(0, 2))  # one or three opinions: never a tie
        for _ in range(clauses):
            # neutral filler before each opinion: where it sits must not matter
            tokens += [next(pool) for _ in range(int(rng.integers(3, 15)))]
            positive = rng.random() < 0.5
            negated = rng.random() < 0.5
            words = ["the", NOUNS[rng.integers(len(NOUNS))], LINKS[rng.integers(len(LINKS))]]
            if negated:
                words.append(NEGATORS[rng.integers(len(NEGATORS))])
            if rng.random() < 0.4:
                words.append(INTENSIFIERS[rng.integers(len(INTENSIFIERS))])
            adjectives = POSITIVE if positive else NEGATIVE
            words.append(adjectives[rng.integers(len(adjectives))])
            tokens += _ids(words)
            total += (1 if positive else -1) * (-1 if negated else 1)
        tokens += [next(pool) for _ in range(int(rng.integers(0, 10)))]
        tokens = tokens[-max_length:]  # pre-truncation: keep the end
        x[r, max_length - len(tokens):] = tokens  # pre-padding
        y[r] = int(total > 0) ^ int(rng.random() < LABEL_NOISE)
    return x, y


def load(data_dir=None, seed=0):
    # Train and test drawn from disjoint seeds: no review appears in both.
    x_train, y_train = generate(10_000, seed=2 * seed + 1)
    x_test, y_test = generate(2_000, seed=2 * seed + 2)
    return x_train, y_train, x_test, y_test, f"generated sentiment reviews (seed {seed}), padded to {MAX_LENGTH}"
