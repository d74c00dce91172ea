"""movielens: the real MovieLens-100k ratings, read from its u.data file.

u.data is tab-separated: user id, item id, rating (1..5), timestamp; ids start at 1. It is read
from --data-dir (or ~/.keras/datasets/ml-100k/), ids shifted to start at 0, and split 80/20
at random exactly as the generated `ratings` set is.
"""

import numpy as np

from xdl.data import find_file
from xdl.data.ratings import ITEMS, USERS, split
from xdl.errors import InputError

_HOW = "download https://files.grouplens.org/datasets/movielens/ml-100k.zip and extract it there"


def load(data_dir=None, seed=0):
    path = find_file("movielens", data_dir, ["u.data", "ml-100k/u.data"], _HOW)
    try:
        table = np.loadtxt(path, dtype=np.int64, delimiter="\t", ndmin=2)
    except ValueError as exc:
        raise InputError(f"{path} is not a MovieLens u.data file ({exc}); extract it again") from None
    if table.shape[1] != 4 or len(table) == 0:
        raise InputError(f"{path} has {table.shape[1]} columns, u.data has 4 (user, item, rating, time)")
    users, items, ratings = table[:, 0] - 1, table[:, 1] - 1, table[:, 2]
    if users.min() < 0 or users.max() >= USERS or items.min() < 0 or items.max() >= ITEMS:
        raise InputError(f"{path}: ids beyond MovieLens-100k's {USERS} users and {ITEMS} items")
    if ratings.min() < 1 or ratings.max() > 5:
        raise InputError(f"{path}: ratings outside 1..5")
    x = np.stack([users, items], axis=1)
    return split(x, ratings.astype(np.float32), seed) + (f"MovieLens-100k from {path}",)
