"""Run by ``test_ddp.py`` as its own program: Lightning's ``ddp`` strategy re-launches this file
once per extra rank, which cannot happen inside the pytest process.

Two CPU ranks (gloo) pretrain RSPNet for a few steps on the synthetic dataset. Every rank records
the keys it enqueued itself (before the all-gather) and saves them with its final queue, so the test
can check that the queue on each rank holds the keys of *both* ranks.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytorch_lightning as pl
import torch

from vssl_bench.data.datamodule import VideoDataModule
from vssl_bench.methods import METHODS
from vssl_bench.methods.heads import FeatureQueue

STEPS, BATCH = 3, 2


def main(data_root: str, out_dir: str) -> None:
    own_keys: list[torch.Tensor] = []
    enqueue = FeatureQueue.enqueue

    def recording_enqueue(self, keys, tags=None):
        own_keys.append(keys.detach().clone())
        enqueue(self, keys, tags)

    FeatureQueue.enqueue = recording_enqueue
    pl.seed_everything(0)
    model = METHODS["rspnet"](backbone="r3d10", backbone_width=0.125, clip_len=4, crop_size=32, queue_size=64,
                              proj_dim=16)
    data = VideoDataModule("synthetic", data_root, frame_size=(40, 50), batch_size=BATCH, num_workers=0,
                           sampler=model.sampler)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=STEPS, logger=False,
                         enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(model, data)
    torch.save({"own_keys": torch.cat(own_keys), "queue": model.queue.features.clone(),
                "filled": int(model.queue.filled), "world": trainer.world_size},
               Path(out_dir) / f"rank{trainer.global_rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
