"""conll: a real named-entity corpus in CoNLL-2003's file format.

One token per line, "word POS chunk NER" separated by spaces, a blank line between sentences,
"-DOCSTART-" lines between documents. Read from --data-dir (or ~/.keras/datasets/conll2003/):
train.txt and test.txt (eng.train and eng.testb are accepted too). The vocabulary is the
training file's most frequent words (ids from 2; the rest are unknown), so no word of the test
file leaks into it.
"""

from collections import Counter

from xdl.data import find_file
from xdl.data.entities import FIRST_WORD, NUM_WORDS, TAGS, encode
from xdl.errors import InputError

_HOW = "put CoNLL-2003's train.txt and test.txt (or eng.train and eng.testb) in a conll2003/ folder there"


def read(path) -> tuple[list[list[str]], list[list[str]]]:
    """Sentences (lists of words) and their tags from one CoNLL file."""
    sentences, tags, words, names = [], [], [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if words:
                    sentences.append(words)
                    tags.append(names)
                    words, names = [], []
                continue
            if len(fields) < 2 or fields[-1] not in TAGS[1:]:
                raise InputError(f"{path}:{number}: expected 'word ... TAG' with a CoNLL-2003 tag, got {line.strip()!r}")
            words.append(fields[0])
            names.append(fields[-1])
    if words:
        sentences.append(words)
        tags.append(names)
    if not sentences:
        raise InputError(f"{path} holds no sentences; is it a CoNLL-2003 file?")
    return sentences, tags


def load(data_dir=None, seed=0, rows=None, test=True):
    """The four arrays; with `rows` (xdl.data.Rows) only those training sentences are encoded (the
    vocabulary still counts the whole training file, so every worker numbers words alike), and
    with test=False the test file is not read."""
    train = find_file("conll", data_dir, ["conll2003/train.txt", "conll2003/eng.train"], _HOW)
    test_path = find_file("conll", data_dir, ["conll2003/test.txt", "conll2003/eng.testb"], _HOW)
    train_words, train_tags = read(train)
    test_words, test_tags = read(test_path) if test else ([], [])
    counts = Counter(w for s in train_words for w in s)
    if rows is not None:
        keep = rows(len(train_words))
        train_words, train_tags = [train_words[i] for i in keep], [train_tags[i] for i in keep]
    index = {w: i + FIRST_WORD for i, (w, _) in enumerate(counts.most_common(NUM_WORDS - FIRST_WORD))}
    x_train, y_train = encode(train_words, train_tags, index)
    x_test, y_test = encode(test_words, test_tags, index)
    return x_train, y_train, x_test, y_test, f"CoNLL-2003 format from {train.parent}"
