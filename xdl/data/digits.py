"""digits: scikit-learn's bundled handwritten digits (real data, no download), made MNIST-like.

The 8x8 images (values 0..16) are enlarged to 20x20 and centred in a 28x28 frame, the way
MNIST centres its 20x20 digits, so a model for MNIST's input shape trains on them unchanged.
"""

import numpy as np

from xdl.errors import require


def load(data_dir=None, seed=0):
    datasets = require("sklearn.datasets", "data")
    model_selection = require("sklearn.model_selection", "data")
    ndimage = require("scipy.ndimage", "data")

    digits = datasets.load_digits()
    images = digits.images.astype(np.float32) / 16.0  # the bundled pixels run 0..16
    enlarged = ndimage.zoom(images, (1, 2.5, 2.5), order=1)  # bilinear, 8x8 -> 20x20
    x = np.zeros((len(images), 28, 28, 1), np.float32)
    x[:, 4:24, 4:24, 0] = np.clip(enlarged, 0.0, 1.0)
    y = digits.target.astype(np.int64)
    # Stratified so every class has its share of the 360 test images.
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        x, y, test_size=0.2, stratify=y, random_state=seed
    )
    return x_train, y_train, x_test, y_test, "scikit-learn load_digits, 8x8 -> 28x28"
