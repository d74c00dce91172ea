"""The zoo's data sets: generated ones are deterministic and teach what they claim; real
loaders read the real file formats (written here, small) and refuse malformed or unsafe ones."""

import numpy as np
import pytest

from xdl import data
from xdl.data import cartpole, entities, paraphrases, sentiment
from xdl.errors import InputError


def test_sentiment_is_deterministic_and_keras_imdb_shaped():
    a, b = sentiment.generate(50, seed=3), sentiment.generate(50, seed=3)
    np.testing.assert_array_equal(a[0], b[0])
    x, y = a
    assert x.shape == (50, sentiment.MAX_LENGTH) and x.dtype == np.int64
    assert x.max() < sentiment.NUM_WORDS and set(np.unique(y)) <= {0, 1}
    first = (x != 0).argmax(axis=1)
    assert (x[np.arange(50), first] == sentiment.START).all()  # pre-padded, then the start id


def test_sentiment_labels_need_word_order():
    """Negation flips a clause: counting words cannot beat chance by much, which is why the
    text CNN and the LSTM are the lessons here."""
    x, y = sentiment.generate(3000, seed=1)
    xt, yt = sentiment.generate(1000, seed=2)
    bags = [np.stack([np.bincount(r[r > 0], minlength=sentiment.NUM_WORDS) for r in s]) for s in (x, xt)]
    # Words no training review uses get weight 0 in lstsq's minimum-norm solution: leaving their
    # columns out gives the same rule, and a system of hundreds of columns, not 10,000 (seconds, not 20)
    used = bags[0].any(axis=0)
    bags = [b[:, used] for b in bags]
    # the best linear bag-of-words rule, fitted by least squares
    w, *_ = np.linalg.lstsq(np.c_[bags[0], np.ones(len(x))], y * 2.0 - 1, rcond=None)
    accuracy = ((np.c_[bags[1], np.ones(len(xt))] @ w > 0) == yt).mean()
    assert accuracy < 0.65, accuracy


def _write_imdb(path, reviews, labels):
    xs = np.empty(len(reviews), object)
    xs[:] = reviews
    np.savez(path, x_train=xs, y_train=np.array(labels), x_test=xs[:2], y_test=np.array(labels[:2]))


def test_imdb_is_read_as_keras_would_prepare_it(tmp_path):
    _write_imdb(tmp_path / "imdb.npz", [[1, 5, 20_000], [7] * 600, [3, 4]], [1, 0, 1])
    d = data.load("imdb", data_dir=tmp_path)
    assert d.x_train.shape == (3, 500) and d.x_test.shape == (2, 500)
    # start id 1, ranks + 3, ranks beyond the top 10,000 become the unknown id 2, pre-padded
    assert d.x_train[0, -4:].tolist() == [1, 4, 8, 2] and d.x_train[0, 0] == 0
    assert (d.x_train[1] == 10).all()  # 601 ids cut to the last 500: the start id is dropped
    assert d.y_train.tolist() == [1, 0, 1]


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_imdb_refuses_a_pickle_that_runs_code(tmp_path):
    xs = np.empty(1, object)
    xs[0] = _Evil()
    np.savez(tmp_path / "imdb.npz", x_train=xs, y_train=np.array([1]), x_test=xs, y_test=np.array([1]))
    with pytest.raises(InputError, match="refusing to load.*system"):
        data.load("imdb", data_dir=tmp_path)


def test_imdb_absent_or_malformed(tmp_path):
    with pytest.raises(InputError, match="not available offline.*imdb.npz"):
        data.load("imdb", data_dir=tmp_path)
    (tmp_path / "imdb.npz").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a Keras imdb.npz"):
        data.load("imdb", data_dir=tmp_path)


def test_mnist1d_is_generated_locally():
    d = data.load("mnist1d")
    assert d.x_train.shape == (4000, 40, 1) and d.x_test.shape == (1000, 40, 1)
    assert d.x_train.dtype == np.float32 and d.num_classes == 10


def test_ratings_and_movielens_share_ids(tmp_path):
    d = data.load("ratings")
    assert d.x_train.shape[1] == 2 and d.x_train.dtype == np.int64
    assert d.x_train[:, 0].max() < 943 and d.x_train[:, 1].max() < 1682
    assert set(np.unique(d.y_train)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    rows = ["1\t1\t5\t874965758", "943\t1682\t1\t875071561", "2\t3\t4\t888551000", "5\t9\t3\t888551001",
            "7\t8\t2\t888551002"]
    (tmp_path / "u.data").write_text("\n".join(rows) + "\n")
    m = data.load("movielens", data_dir=tmp_path)
    both = np.concatenate([m.x_train, m.x_test])
    assert len(both) == 5 and [0, 0] in both.tolist() and [942, 1681] in both.tolist()  # ids from 0


def test_movielens_refuses_ids_beyond_100k(tmp_path):
    (tmp_path / "u.data").write_text("944\t1\t5\t874965758\n")
    with pytest.raises(InputError, match="beyond MovieLens-100k"):
        data.load("movielens", data_dir=tmp_path)


def test_entities_have_ambiguous_words_and_conll_tags():
    x, y = entities.generate(400, seed=0)
    assert x.shape == y.shape == (400, entities.MAX_LENGTH)
    assert ((x == 0) == (y == 0)).all()  # padding tokens, and only they, carry the padding tag
    jordan = entities.vocabulary().index("Jordan") + entities.FIRST_WORD
    tags = {entities.TAGS[t] for t in y[x == jordan]}
    assert {"B-PER", "B-LOC"} <= tags  # the same word, two entity types: context decides


def test_conll_format_is_read(tmp_path):
    folder = tmp_path / "conll2003"
    folder.mkdir()
    text = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
            "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
    (folder / "train.txt").write_text(text)
    (folder / "test.txt").write_text("Peter NNP B-NP B-PER\nin IN B-PP O\n")
    d = data.load("conll", data_dir=tmp_path)
    assert d.x_train.shape == (2, entities.MAX_LENGTH)
    tags = [entities.TAGS[t] for t in d.y_train[0, :3]]
    assert tags == ["B-ORG", "O", "B-MISC"]
    assert d.x_test[0, 1] == entities.OOV  # "in" is not in the training vocabulary


def test_conll_malformed_line(tmp_path):
    folder = tmp_path / "conll2003"
    folder.mkdir()
    (folder / "train.txt").write_text("EU NNP B-NP B-ORGANISATION\n")
    (folder / "test.txt").write_text("EU NNP B-NP B-ORG\n")
    with pytest.raises(InputError, match="train.txt:1: expected"):
        data.load("conll", data_dir=tmp_path)


def test_shapes_halves_split_the_classes():
    a, b = data.load("shapes-a"), data.load("shapes-b")
    assert a.num_classes == b.num_classes == 5
    assert len(a.x_train) + len(b.x_train) == len(data.load("shapes").x_train)


def _meaning(ids):
    """(noun, adjective direction, negated) of a generated paraphrases sentence, read back from its words."""
    words = [(["<pad>", "<start>", "<unknown>", *sentiment.vocabulary()])[i] for i in ids if i > 1]
    noun = next(w for w in words if w in sentiment.NOUNS)
    praise = any(w in sentiment.POSITIVE for w in words)
    return noun, praise, any(w in sentiment.NEGATORS for w in words)


def test_paraphrases_pair_sentences_of_the_same_meaning_or_one_change_apart():
    x, y = paraphrases.generate(2000, seed=5)
    np.testing.assert_array_equal(x, paraphrases.generate(2000, seed=5)[0])
    assert x.shape == (2000, 2, paraphrases.MAX_LENGTH) and x.dtype == np.int64 and x.max() < paraphrases.NUM_WORDS
    a, b = [[_meaning(s) for s in x[:, j]] for j in (0, 1)]
    same = np.array([m == n for m, n in zip(a, b)])
    changes = np.array([sum(p != q for p, q in zip(m, n)) for m, n in zip(a, b)])
    assert set(changes) == {0, 1}  # a near miss changes exactly one of the three
    assert 0.45 < same.mean() < 0.55
    # the labels say "same meaning", up to the stated 5% of flipped labels
    assert abs((same != y.astype(bool)).mean() - paraphrases.LABEL_NOISE) < 0.015
    # a paraphrase is not a copy: the two sentences differ in words
    assert (x[same, 0] != x[same, 1]).any(axis=1).mean() > 0.95


def test_paraphrases_vocabulary_is_the_ids_it_uses():
    """xdl/spec/datasets.py states the size as a number (the similarity spec is read without the
    corpus): the ids below sentiment's first word, its clause words, then paraphrases' filler."""
    clause_words = len(sentiment.vocabulary()) - sentiment.FILLER_WORDS
    assert paraphrases.NUM_WORDS == sentiment.FIRST_WORD + clause_words + paraphrases.FILLER_WORDS


def test_paraphrases_need_more_than_shared_words():
    """The share of words two sentences have in common separates paraphrases from near misses
    far worse than the trained model does (AUC about 0.95)."""
    from xdl.spec.tasks import roc_auc

    x, y = paraphrases.generate(3000, seed=6)
    overlap = [len(set(a[a > 1]) & set(b[b > 1])) / len(set(a[a > 1]) | set(b[b > 1])) for a, b in x]
    assert roc_auc(np.array(overlap), y) < 0.7


def test_cartpole_states_transitions_and_replay():
    x_train, y_train, x_test, y_test, _ = cartpole.load()
    np.testing.assert_array_equal(x_test, cartpole.load()[2])  # seeded episodes
    assert x_train.shape == (2000, 4) and x_test.shape == (512, 4) and x_train.dtype == np.float32
    assert set(np.unique(y_train)) == {0, 1}
    states, actions, rewards, next_states, terminal = cartpole.transitions(300, seed=0)
    assert (rewards == 1).all() and terminal.sum() >= 5  # random episodes last about 20 steps
    # a transition's next state is the following state within an episode
    within = terminal[:-1] == 0
    np.testing.assert_array_equal(next_states[:-1][within], states[1:][within])
    replay = cartpole.Replay(4)
    for i in range(6):  # a ring: the two oldest are overwritten
        replay.add(np.full(4, i), i % 2, 1.0, np.full(4, i + 1), 0.0)
    assert sorted(replay.states[:, 0]) == [2, 3, 4, 5]
    assert set(replay.sample(np.random.default_rng(0), 50)[0][:, 0]) == {2, 3, 4, 5}
    schedule = cartpole.Schedule(rounds=1)
    assert schedule.epsilon(0) == 1.0 and schedule.epsilon(schedule.epsilon_steps * 3) == pytest.approx(schedule.epsilon_end)


def test_greedy_episodes_score_a_policy_by_playing():
    """Always pushing right drops the pole in about 9 steps; the records hold -1 after the end."""
    returns, actions = cartpole.greedy_episodes(lambda s: np.tile([0.0, 1.0], (len(s), 1)), seeds=[0, 1, 2])
    assert (returns < 15).all() and (actions[:, 0] == 1).all()
    assert ((actions >= 0).sum(axis=1) == returns).all()
