"""shapes: 32x32 colour images of ten geometric shapes, drawn procedurally from a seed.

The stand-in for CIFAR-10 when there is no internet. Each image has a random background
gradient, a shape of random colour, size and position, and pixel noise. Because the shape can
be anywhere, a network that shares weights across positions (a CNN) learns it far better than
one that must learn every position separately (an MLP), which is the lesson the data set serves.
"""

import numpy as np

CLASSES = (
    "disk", "ring", "square", "frame", "triangle_up",
    "triangle_down", "diamond", "plus", "cross", "half_disk",
)  # fmt: skip
N_TRAIN, N_TEST, SIZE = 6000, 1000, 32


def _masks(label, dx, dy, r):
    """Boolean masks of shape `label` for offsets dx, dy from the centre and radius r."""
    d = np.sqrt(dx**2 + dy**2)
    box = np.maximum(np.abs(dx), np.abs(dy))
    bar = r / 4
    return {
        0: d <= r,
        1: (d <= r) & (d >= 0.55 * r),
        2: box <= 0.8 * r,
        3: (box <= 0.85 * r) & (box >= 0.45 * r),
        4: (np.abs(dx) <= (dy + r) / 2) & (dy <= r),  # apex up (image rows grow downwards)
        5: (np.abs(dx) <= (r - dy) / 2) & (dy >= -r),
        6: np.abs(dx) + np.abs(dy) <= r,
        7: ((np.abs(dx) <= bar) | (np.abs(dy) <= bar)) & (box <= r),
        8: ((np.abs(dx - dy) <= 1.4 * bar) | (np.abs(dx + dy) <= 1.4 * bar)) & (box <= 0.8 * r),
        9: (d <= r) & (dy <= 0),
    }[label]


def generate(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws n images (N, 32, 32, 3) float32 in [0, 1] and their labels, balanced by class."""
    rng = np.random.default_rng(seed)
    y = np.arange(n, dtype=np.int64) % len(CLASSES)
    rng.shuffle(y)
    r = rng.uniform(5.0, 11.0, n)
    cx = rng.uniform(r, SIZE - 1 - r)
    cy = rng.uniform(r, SIZE - 1 - r)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    dx = cols[None] - cx[:, None, None]
    dy = rows[None] - cy[:, None, None]
    radius = r[:, None, None]

    mask = np.zeros((n, SIZE, SIZE), bool)
    for label in range(len(CLASSES)):
        idx = y == label
        mask[idx] = _masks(label, dx[idx], dy[idx], radius[idx])

    # Background: a random colour with a random linear gradient; foreground: a colour at least
    # 0.35 away from the background on average, so the shape is always visible.
    bg = rng.uniform(0.0, 1.0, (n, 1, 1, 3))
    fg = rng.uniform(0.0, 1.0, (n, 1, 1, 3))
    close = np.abs(fg - bg).mean(axis=-1, keepdims=True) < 0.35
    fg = np.where(close, 1.0 - bg, fg)
    slope = rng.uniform(-0.3, 0.3, (n, 2, 1, 1, 1))
    gradient = (slope[:, 0] * rows[None, :, :, None] + slope[:, 1] * cols[None, :, :, None]) / SIZE
    x = np.where(mask[..., None], fg, bg + gradient)
    x = x + rng.normal(0.0, 0.06, x.shape)
    return np.clip(x, 0.0, 1.0).astype(np.float32), y


def load(data_dir=None, seed=0):
    x_train, y_train = generate(N_TRAIN, seed)
    x_test, y_test = generate(N_TEST, seed + 1_000_003)  # a disjoint stream for the test set
    return x_train, y_train, x_test, y_test, f"generated shapes, seed {seed}"


def _half(first: int, seed: int):
    """Five of the ten classes, relabelled 0..4: the two tasks of a transfer-learning lesson."""
    x_train, y_train, x_test, y_test, source = load(seed=seed)
    classes = CLASSES[first : first + 5]
    keep_train = (y_train >= first) & (y_train < first + 5)
    keep_test = (y_test >= first) & (y_test < first + 5)
    return (x_train[keep_train], y_train[keep_train] - first, x_test[keep_test], y_test[keep_test] - first,
            f"{source}, classes {', '.join(classes)} relabelled 0-4")


def load_first_half(data_dir=None, seed=0):
    return _half(0, seed)


def load_second_half(data_dir=None, seed=0):
    return _half(5, seed)
