"""gan's twins (keras.py, torch.py) and port table (port.py), and the adversarial loop they
share (train_loop); its spec is xdl/spec/zoo/gan.py."""

import numpy as np

from xdl.backends.progress import TrainingProgress


def train_loop(spec, data, update, *, framework: str, epochs: int, show_progress: bool = True) -> dict:
    """The adversarial training both twins run, written once (as dqn's is in xdl.data.cartpole):
    per epoch, the real images (`data`'s y; xdl.data.for_model) in a shuffled order, full batches
    only (a batch of 5 would be a noisy step), each with a batch of noise from a numpy generator
    seeded by the recipe, so both twins draw the same noise. `update(real, noise)` is the twin's
    step of each network (channels-last images in), returning the two losses before their steps.

    Returns the history: per epoch, the discriminator's mean loss ("loss") and the generator's."""
    cfg = spec.recipe
    rng = np.random.default_rng(cfg.seed)
    real = data.y_train
    history = {"loss": [], "generator_loss": []}
    steps = len(real) // cfg.batch_size
    with TrainingProgress(f"{spec.name}/{framework}", epochs, steps, show_progress) as progress:
        for epoch in range(epochs):
            progress.epoch_begin(epoch)
            order, d_losses, g_losses = rng.permutation(len(real)), [], []
            for i in range(steps):
                noise = rng.standard_normal((cfg.batch_size, spec.contract.inputs[0].shape[1])).astype(np.float32)
                d, g = update(real[order[i * cfg.batch_size : (i + 1) * cfg.batch_size]], noise)
                d_losses.append(d)
                g_losses.append(g)
                progress.step(d)
            history["loss"].append(float(np.mean(d_losses)))
            history["generator_loss"].append(float(np.mean(g_losses)))
            progress.epoch_end(epoch, {"loss": history["loss"][-1]})
    return history
