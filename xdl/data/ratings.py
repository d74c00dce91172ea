"""ratings: generated MovieLens-like ratings, users x items, from a low-rank model plus noise.

943 users and 1,682 items, MovieLens-100k's counts, so a recommender built for one takes the
other. Each user and item has 4 hidden tastes; a rating is 3.5 + user bias + item bias +
taste . taste + noise, rounded and clipped to 1..5 stars like real ones. 30,000 ratings
(MovieLens-100k: 100,000), split 80/20 at random.

x is (N, 2) int64: column 0 the user id, column 1 the item id (both from 0); y the rating.
"""

import numpy as np

from xdl.spec import datasets

USERS, ITEMS = datasets.RATINGS_USERS, datasets.RATINGS_ITEMS
RANK = 4


def load(data_dir=None, seed=0):
    rng = np.random.default_rng(1000 + seed)
    users = rng.normal(0, 0.6, (USERS, RANK))
    items = rng.normal(0, 0.6, (ITEMS, RANK))
    user_bias, item_bias = rng.normal(0, 0.4, USERS), rng.normal(0, 0.5, ITEMS)
    n = 30_000
    # popular items get rated more often, as in real logs
    popularity = rng.zipf(1.3, ITEMS).astype(np.float64)
    pairs = np.stack([rng.integers(0, USERS, n), rng.choice(ITEMS, n, p=popularity / popularity.sum())], axis=1)
    u, i = pairs[:, 0], pairs[:, 1]
    score = 3.5 + user_bias[u] + item_bias[i] + (users[u] * items[i]).sum(1) + rng.normal(0, 0.3, n)
    y = np.clip(np.round(score), 1, 5).astype(np.float32)
    return split(pairs.astype(np.int64), y, seed) + (f"generated low-rank ratings (seed {seed})",)


def split(x: np.ndarray, y: np.ndarray, seed: int):
    """80/20 random train/test split, the same for both frameworks."""
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(len(x) * 0.8)
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]
