"""What lets a training stage be stopped and resumed as if it never was.

- :class:`EpochCheckpoint` writes ``checkpoints/last.ckpt`` at the end of every training epoch,
  whatever the stage's selection rule (best loss, best accuracy, last), whole (a temporary file and a
  rename): a killed, preempted or requeued job, or a full disk, never leaves half a checkpoint.
- :func:`resume_point` finds that file when a stage starts again and says in the log which
  checkpoint the stage resumes from, at which epoch.
- :class:`EpochDraws` reseeds every random draw of training at each epoch's start from the run's
  seed, the rank and the epoch: the clip order and clip draws of the loader, the augmentation on the
  device, dropout, RSPNet's shuffling-BN permutation. Ranks draw differently (an 8-GPU batch holds 8
  ranks' distinct augmentations), the same seed and device count draw the same, and a run resumed
  from the checkpoint of epoch e draws in epoch e + 1 what the uninterrupted run drew.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from vssl_bench.evaluation.checkpoints import checked_lightning_checkpoint, read_checkpoint
from vssl_bench.records import unwritable

log = logging.getLogger(__name__)

LAST = "last.ckpt"


class EpochCheckpoint(ModelCheckpoint):
    """``<dirpath>/last.ckpt`` after every training epoch (after its validation, where the stage
    validates), written by rank 0 through a temporary file and a rename."""

    def __init__(self, dirpath: Path) -> None:
        super().__init__(dirpath=dirpath, filename=LAST.removesuffix(".ckpt"), monitor=None, save_top_k=1,
                         every_n_epochs=1, save_on_train_epoch_end=True, enable_version_counter=False)

    def _save_checkpoint(self, trainer: pl.Trainer, filepath: str) -> None:
        path = Path(filepath)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        tmp = Path(trainer.strategy.broadcast(str(tmp)))  # one name: rank 0's draw
        try:
            trainer.save_checkpoint(tmp, self.save_weights_only)
            if trainer.is_global_zero:
                os.replace(tmp, path)
        except OSError as exc:
            if trainer.is_global_zero and tmp.exists():
                tmp.unlink()
            raise unwritable(path, exc, _checkpoint_bytes(trainer)) from None
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        trainer.strategy.barrier("EpochCheckpoint")


def _checkpoint_bytes(trainer: pl.Trainer) -> int:
    """About what a checkpoint of this trainer takes: the weights and the optimiser's state."""
    tensors = list(trainer.lightning_module.state_dict().values())
    for optimizer in trainer.optimizers:
        tensors += [v for state in optimizer.state.values() for v in state.values() if torch.is_tensor(v)]
    return sum(t.numel() * t.element_size() for t in tensors)


def resume_point(checkpoints: Path, stage: str) -> str | None:
    """``checkpoints/last.ckpt`` for Lightning's ``ckpt_path`` where an earlier run of the stage left
    one (checked first: Lightning's own load fails deep inside on a bad file), with a log line naming
    it and the epochs it holds; ``None`` (and a line saying so) for a fresh start."""
    last = Path(checkpoints) / LAST
    if not last.is_file():
        log.debug("%s: starting at epoch 0 (no %s yet)", stage, last)
        return None
    blob = read_checkpoint(last)
    epoch, step = int(blob.get("epoch", -1)) + 1, int(blob.get("global_step", 0))
    log.info("%s: resuming from %s (%d epoch%s done, step %d)", stage, last, epoch, "" if epoch == 1 else "s", step)
    return checked_lightning_checkpoint(last)


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from integers (the run's seed, a rank, an epoch), well mixed."""
    low, high = np.random.SeedSequence([int(p) for p in parts]).generate_state(2)
    return (int(high) << 32 | int(low)) & (2**63 - 1)


class EpochDraws(pl.Callback):
    """Reseeds the training draws at each epoch's start from ``(seed, rank, epoch)`` (see the module
    text). Runs before the epoch's loader iterator is made, so the sampler's order and the workers'
    clip draws follow it too."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        rank, epoch = trainer.global_rank, trainer.current_epoch
        own = derived_seed(self.seed, rank, epoch)
        random.seed(own)
        np.random.seed(own % 2**32)
        torch.manual_seed(own)  # every device's generator too
        from vssl_bench.methods.heads import seed_shared_generator

        seed_shared_generator(derived_seed(self.seed, 2**31 - 1, epoch))  # one stream every rank shares
        datamodule: Any = getattr(trainer, "datamodule", None)
        if hasattr(datamodule, "draw_epoch"):
            datamodule.draw_epoch(rank, epoch)
