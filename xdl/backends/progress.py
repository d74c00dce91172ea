"""What the explicit training loops share, so that their runs read and decide the same: a progress
display, and the per-epoch history with the best-epoch and early-stopping rule (Keras's
ModelCheckpoint(save_best_only) + EarlyStopping, written once for PyTorch's loop and the
distributed ones)."""

from __future__ import annotations

import sys


class TrainingProgress:
    """A per-epoch progress bar (rich) and one summary line per finished epoch.

    Used as a context manager: `step()` after each batch, `epoch_end()` after each epoch.
    """

    def __init__(self, title: str, epochs: int, steps_per_epoch: int, enabled: bool = True):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.title, self.epochs, self.steps = title, epochs, steps_per_epoch
        self.console = Console(file=sys.stderr, quiet=not enabled, soft_wrap=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,  # the bar disappears; the epoch line stays
            disable=not enabled or not self.console.is_terminal,
        )
        self._task = None

    def __enter__(self):
        self._progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self._progress.__exit__(*exc)

    def epoch_begin(self, epoch: int) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(
            f"{self.title} epoch {epoch + 1}/{self.epochs}", total=self.steps, loss=float("nan")
        )

    def step(self, loss: float) -> None:
        self._progress.update(self._task, advance=1, loss=loss)

    def epoch_end(self, epoch: int, logs: dict) -> None:
        order = ("loss", "accuracy", "val_loss", "val_accuracy")  # Keras and PyTorch alike
        metrics = "  ".join(f"{k} {float(logs[k]):.4f}" for k in order if k in logs)
        self.console.print(f"{self.title} epoch {epoch + 1}/{self.epochs}  {metrics}")


class EpochHistory:
    """Per-epoch lists of loss, accuracy (where the task reports one) and their val_ twins; the best
    epoch by val_loss checkpointed, and a stop after `patience` epochs without improvement."""

    def __init__(self, accuracy: bool, validation: bool, patience: int | None):
        keys = ("loss", "accuracy") if accuracy else ("loss",)
        self.epochs = {k: [] for k in (*keys, *(("val_" + k for k in keys) if validation else ()))}
        self.validation, self.patience = validation, patience
        self._best, self._stale = float("inf"), 0

    def end_epoch(self, epoch: int, logs: dict, progress: TrainingProgress, save_best) -> bool:
        """Records the epoch's `logs`, shows them, calls `save_best()` when val_loss improved;
        returns whether training should stop early."""
        logs = {k: v for k, v in logs.items() if k in self.epochs}
        for k, v in logs.items():
            self.epochs[k].append(v)
        progress.epoch_end(epoch, logs)
        if not self.validation:
            return False
        if logs["val_loss"] < self._best:
            self._best, self._stale = logs["val_loss"], 0
            save_best()
            return False
        self._stale += 1
        return bool(self.patience) and self._stale >= self.patience
